// What a standby spare is kept for: the start-up it was forked with (its key), and how many spares a spec asks for.
import type { StandbyMode, StandbyOption } from '../types.js';

/** Everything that shapes a worker's start-up: two workers with equal keys can use each other's spares. */
export interface StandbyKey {
  mode: StandbyMode;
  /** Absolute path of the worker's module. */
  module: string;
  args: string[];
  /** The worker's own env (on top of the supervisor's, which is the same for every spare). */
  env: Record<string, string>;
  execArgv: string[];
  cwd?: string;
  /** The listener the worker serves: a hot spare holds its handle before it takes over. */
  listen?: string;
}

export interface StandbyPlan {
  mode: StandbyMode;
  count: number;
}

/** The spec's `standby` value as a plan: `true` is one warm spare; undefined/false is none. */
export function standbyPlan(option: StandbyOption | undefined): StandbyPlan | undefined {
  if (option === undefined || option === false) return undefined;
  if (option === true) return { mode: 'warm', count: 1 };
  if (typeof option === 'string') return { mode: option, count: 1 };
  return { mode: option.mode, count: option.count ?? 1 };
}

/** Key order inside env must not matter: two specs with the same variables share spares. */
export const keyOf = (key: StandbyKey) =>
  JSON.stringify([
    key.mode,
    key.module,
    key.args,
    Object.entries(key.env).sort(([a], [b]) => (a < b ? -1 : 1)),
    key.execArgv,
    key.cwd ?? null,
    key.listen ?? null,
  ]);
