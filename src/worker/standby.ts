// Standby workers: spare node processes, forked ahead of need, that take over a restart so it does not wait for
// node to boot (warm) or even for the worker's module to load (hot). A spare is forked exactly as the worker it
// will become — same module, args, env (NODE_OPTIONS included), execArgv and cwd, with ARBOR_WORKER=1 — so spares
// are kept per distinct start-up (one key per child spec, shared by identical workers), `ps` shows the worker's
// own command line, and the orphan checks see it as a worker. standby-entry.ts, preloaded, holds a warm spare
// before any user code runs; a hot spare runs its module up to `serve()` / `ready()` and waits there (runtime.ts).
import { fork, type ChildProcess } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Logger } from 'pino';
import type { StandbyMode, StandbyOption } from '../types.js';
import { guardEnv, guardedExecArgv, processGroups } from './groups.js';
import { CAPTURED_STDIO, captureOutput, outputOf } from './output.js';
import { loaderExecArgv } from './typescript.js';

// The entry is compiled JavaScript beside this file; when this module itself runs from TypeScript sources
// (the test suite), the built copy in dist/ is used.
const here = fileURLToPath(import.meta.url);
export const STANDBY_ENTRY = here.endsWith('.ts')
  ? join(dirname(here), '../../dist/runtime/standby-entry.js')
  : join(dirname(here), '../runtime/standby-entry.js');

/** Spares of a key nobody runs any more (a deleted child, a dynamic child gone) are killed after this long. */
const LINGER_MS = 5000;

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
}

/** What status shows of one shelf: the spares kept for one start-up. */
/** The spares kept for one start-up (module, args, env, execArgv, cwd), as `status().spares` lists them. */
export interface SpareShelfInfo {
  /** `warm` or `hot`. */
  mode: StandbyMode;
  /** Absolute path of the module the spares will run. */
  module: string;
  /** The args the spares are forked with. */
  args: string[];
  /** How many spares are kept for it. */
  count: number;
  /** Spares ready to take over. */
  parked: number[];
  /** Spares still booting (or loading the module, hot). */
  booting: number[];
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

interface Spare {
  child: ChildProcess;
  parked: boolean;
  forget: () => void;
}

interface Shelf {
  key: StandbyKey;
  spares: Spare[];
  /** How many spares to keep (the largest count asked for this key). */
  count: number;
  /** Workers of this key currently running: when none are left for LINGER_MS, the spares go. */
  holders: number;
  sweep?: NodeJS.Timeout;
}

export class StandbyPool {
  private readonly shelves = new Map<string, Shelf>();
  private closed = false;

  constructor(private readonly logger: Logger) {}

  /** A parked spare ready to become a worker with this key, or undefined (the caller forks as usual). */
  take(key: StandbyKey): ChildProcess | undefined {
    const shelf = this.shelves.get(keyOf(key));
    const spare = shelf?.spares.find((s) => s.parked && s.child.connected);
    if (!shelf || !spare) return undefined;
    shelf.spares.splice(shelf.spares.indexOf(spare), 1);
    spare.forget();
    spare.child.ref();
    spare.child.channel?.ref();
    return spare.child;
  }

  /**
   * A worker with this key is running: keep `count` spares for it. Spares are forked one at a time (the next
   * once the previous is parked), so filling the shelf never competes much with the workers' own starts.
   * Returns the function to call when that worker is gone.
   */
  hold(key: StandbyKey, count: number): () => void {
    const id = keyOf(key);
    let shelf = this.shelves.get(id);
    if (!shelf) this.shelves.set(id, (shelf = { key, spares: [], count, holders: 0 }));
    shelf.count = Math.max(shelf.count, count);
    shelf.holders += 1;
    clearTimeout(shelf.sweep);
    this.fill(id);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.release(id);
    };
  }

  /** Pids of the spares parked and ready to take over (for status, benches and tests). */
  parkedPids(): number[] {
    return [...this.shelves.values()]
      .flatMap((s) => s.spares)
      .filter((s) => s.parked && s.child.pid !== undefined)
      .map((s) => s.child.pid!);
  }

  /** Every shelf with spares or workers to keep them for, for status. */
  describe(): SpareShelfInfo[] {
    return [...this.shelves.values()].map(({ key, count, spares }) => {
      const pids = (parked: boolean) =>
        spares.filter((s) => s.parked === parked && s.child.pid !== undefined).map((s) => s.child.pid!);
      return { mode: key.mode, module: key.module, args: key.args, count, parked: pids(true), booting: pids(false) };
    });
  }

  /** Pids of every spare, parked or still booting. */
  sparePids(): number[] {
    return [...this.shelves.values()]
      .flatMap((s) => s.spares)
      .flatMap((s) => (s.child.pid === undefined ? [] : [s.child.pid]));
  }

  /**
   * Kills the spares of this mode, parked or booting (a reload: hot spares hold the code of before). Shelves are
   * refilled, with what is on disk now, as their workers start again.
   */
  discard(mode: StandbyMode): void {
    for (const shelf of this.shelves.values()) {
      if (shelf.key.mode !== mode) continue;
      for (const spare of shelf.spares.splice(0)) {
        spare.forget();
        spare.child.kill('SIGKILL');
      }
    }
  }

  /** Kills every spare (when the tree stops). */
  close(): void {
    this.closed = true;
    for (const shelf of this.shelves.values()) {
      clearTimeout(shelf.sweep);
      for (const spare of shelf.spares) spare.child.kill('SIGKILL');
    }
    this.shelves.clear();
  }

  private release(id: string): void {
    const shelf = this.shelves.get(id);
    if (!shelf) return;
    shelf.holders -= 1;
    if (shelf.holders > 0) return;
    // Not at once: a restart releases the old worker before its replacement holds the key again.
    shelf.sweep = setTimeout(() => {
      if (shelf.holders > 0 || this.shelves.get(id) !== shelf) return;
      this.shelves.delete(id);
      for (const spare of shelf.spares) spare.child.kill('SIGKILL');
    }, LINGER_MS);
    shelf.sweep.unref();
  }

  private fill(id: string): void {
    const shelf = this.shelves.get(id);
    if (this.closed || !shelf || shelf.holders === 0) return;
    if (shelf.spares.length >= shelf.count || shelf.spares.some((s) => !s.parked)) return;
    const spare = this.forkSpare(shelf.key);
    if (!spare) return;
    shelf.spares.push(spare);
    const onMessage = (raw: unknown) => {
      if ((raw as { type?: unknown } | null)?.type !== 'arbor:parked' || spare.parked) return;
      spare.parked = true;
      this.logger.info({ event: 'standby_parked', mode: shelf.key.mode, pid: spare.child.pid });
      this.fill(id);
    };
    const onGone = () => {
      const at = shelf.spares.indexOf(spare);
      if (at >= 0) shelf.spares.splice(at, 1);
      // Not refilled here: a spare whose module fails to load would be forked again and again. The next worker
      // that starts refills the shelf.
      if (!spare.parked) {
        const { pid, exitCode: code, signalCode: signal } = spare.child;
        const output = outputOf(spare.child);
        // Its last stderr lines say why (a module that does not load): read to the end first.
        void (output?.done() ?? Promise.resolve()).then(() => {
          const stderr = output?.stderrTail() ?? [];
          this.logger.warn({ event: 'standby_exited', pid, code, signal, ...(stderr.length > 0 ? { stderr } : {}) });
        });
      }
    };
    spare.child.on('message', onMessage);
    spare.child.once('exit', onGone);
    spare.child.on('error', onGone);
    spare.forget = () => {
      spare.child.off('message', onMessage);
      spare.child.off('exit', onGone);
      spare.child.off('error', onGone);
    };
  }

  private forkSpare(key: StandbyKey): Spare | undefined {
    processGroups.prepare(this.logger);
    let child: ChildProcess;
    try {
      child = fork(key.module, key.args, {
        env: { ...process.env, ...key.env, ARBOR_WORKER: '1', ARBOR_STANDBY: key.mode, ...guardEnv() },
        // The guard, then the entry: a warm spare runs nothing of the worker's (its own preloads included) before
        // takeover, and never outlives the supervisor either.
        // TypeScript's loader before the entry: a warm spare's takeover then costs no loader start.
        execArgv: guardedExecArgv([...loaderExecArgv(key.module), '--import', STANDBY_ENTRY, ...key.execArgv]),
        cwd: key.cwd,
        // Read line by line like a worker's; what it prints before its takeover is held for the worker it becomes.
        stdio: CAPTURED_STDIO,
        detached: true,
      });
    } catch (error) {
      this.logger.warn({ event: 'standby_fork_failed', error: String(error) });
      return undefined;
    }
    processGroups.adopt(child, this.logger);
    // A spare must not keep the supervisor alive on its own.
    child.unref();
    child.channel?.unref();
    captureOutput(child).setRef(false);
    return { child, parked: false, forget: () => undefined };
  }
}

/** Key order inside env must not matter: two specs with the same variables share spares. */
const keyOf = (key: StandbyKey) =>
  JSON.stringify([
    key.mode,
    key.module,
    key.args,
    Object.entries(key.env).sort(([a], [b]) => (a < b ? -1 : 1)),
    key.execArgv,
    key.cwd ?? null,
  ]);
