// What a new spec changes in the task host pools of a running tree (the root's `hosts`): a pure function of the old
// pools and the new ones. A pool's size, heartbeat, memory limit and start timeout are applied to its running hosts
// (a shrink retires the idlest hosts, which end with their last task); its kind, execArgv and resourceLimits are
// fixed when a host starts, so a change of those gives the pool new hosts, and its tasks move to them. Pools are
// added before anything else of a reload (a task may start in one), and removed after everything else (once the
// tasks that used them are stopped or moved).
import type { HostSpec } from '../types.js';

/** Taken by the running hosts of a pool. */
export const POOL_LIVE_FIELDS = ['size', 'heartbeat', 'maxMemory', 'startTimeout'] as const;
/** Fixed when a host starts: a change gives the pool new hosts. */
export const POOL_HOST_FIELDS = ['kind', 'execArgv', 'resourceLimits'] as const;

export type PoolStep =
  /** A new pool: its hosts start with its first task. */
  | { op: 'add_pool'; supervisor: string; name: string; spec: HostSpec }
  /** The running hosts take the pool's new size, heartbeat, memory limit or start timeout. */
  | { op: 'update_pool'; supervisor: string; name: string; spec: HostSpec; fields: string[] }
  /** New hosts for the pool: the running ones are retired, and the tasks in them move to the new ones. */
  | { op: 'replace_pool'; supervisor: string; name: string; spec: HostSpec; fields: string[] }
  /** The pool is gone: its hosts (which run no task by then) end. */
  | { op: 'remove_pool'; supervisor: string; name: string };

type Pools = Readonly<Record<string, HostSpec>> | undefined;

/** Defaults written out, so that `kind: 'process'` and no kind are the same pool. */
function normalized(spec: HostSpec): Record<string, unknown> {
  return { ...spec, kind: spec.kind ?? 'process', size: spec.size ?? 1 };
}

/** Deep equality of JSON-like spec values; a field set to undefined is as good as absent. */
function equal(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const ra = a as Record<string, unknown>;
  const rb = b as Record<string, unknown>;
  for (const key of new Set([...Object.keys(ra), ...Object.keys(rb)])) if (!equal(ra[key], rb[key])) return false;
  return true;
}

function describeField(field: string, from: unknown, to: unknown): string {
  const scalar = (v: unknown) => v === undefined || typeof v !== 'object';
  const show = (v: unknown) => (v === undefined ? 'unset' : JSON.stringify(v));
  return scalar(from) && scalar(to) ? `${field} ${show(from)} → ${show(to)}` : field;
}

/**
 * The steps that turn the pools `old` into `next`, for the root at `root`: `early` (added, updated, replaced; in
 * name order) go before the rest of a reload, `late` (removed) after it. Pure.
 */
export function planPoolChanges(root: string, old: Pools, next: Pools): { early: PoolStep[]; late: PoolStep[] } {
  const before = old ?? {};
  const after = next ?? {};
  const early: PoolStep[] = [];
  const late: PoolStep[] = [];
  for (const name of Object.keys(after).sort()) {
    const spec = after[name]!;
    const previous = before[name];
    if (previous === undefined) {
      early.push({ op: 'add_pool', supervisor: root, name, spec });
      continue;
    }
    const a = normalized(previous);
    const b = normalized(spec);
    const changed = [...POOL_HOST_FIELDS, ...POOL_LIVE_FIELDS].filter((f) => !equal(a[f], b[f]));
    if (changed.length === 0) continue;
    const fields = changed.map((f) => describeField(f, a[f], b[f]));
    const replace = changed.some((f) => (POOL_HOST_FIELDS as readonly string[]).includes(f));
    early.push({ op: replace ? 'replace_pool' : 'update_pool', supervisor: root, name, spec, fields });
  }
  for (const name of Object.keys(before).sort())
    if (after[name] === undefined) late.push({ op: 'remove_pool', supervisor: root, name });
  return { early, late };
}

/** One pool step in words, as `arbor reload` prints it. */
export function describePoolStep(step: PoolStep): string {
  switch (step.op) {
    case 'add_pool':
      return `add host pool '${step.name}' (${step.spec.kind ?? 'process'} × ${step.spec.size ?? 1})`;
    case 'update_pool':
      return `update host pool '${step.name}': ${step.fields.join(', ')} (applied to its running hosts)`;
    case 'replace_pool':
      return `replace the hosts of pool '${step.name}': ${step.fields.join(', ')} (its tasks move to new hosts)`;
    case 'remove_pool':
      return `remove host pool '${step.name}'`;
  }
}

/** The root's pools once `step` is done. Pure. */
export function poolsAfter(pools: Pools, step: PoolStep): Record<string, HostSpec> | undefined {
  if (step.op === 'remove_pool') {
    const { [step.name]: _removed, ...rest } = pools ?? {};
    return Object.keys(rest).length > 0 ? rest : undefined;
  }
  return { ...pools, [step.name]: step.spec };
}
