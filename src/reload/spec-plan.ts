// What a new spec changes in a running tree, as ordered steps: a pure function of the old spec and the new one.
// The order is OTP's: the supervisors' flags and the changed children's specs are updated first (as a
// supervisor's code_change does), then the removed children are stopped in reverse start order, then the added
// ones started in spec order, after their older siblings; a nested supervisor's own record takes its new spec
// last, once its subtree matches it. The workers that remain are then replaced by the rolling reload; a task whose
// spec changed is restarted, to run its new function (it has no process to replace beside it).
import type { ChildSpec, ListenerSpec, SupervisorFlags, SupervisorSpec } from '../types.js';
import { describePoolStep, planPoolChanges, poolsAfter, type PoolStep } from './pool-plan.js';

export type { SupervisorFlags } from '../types.js';

export type SpecStep =
  /** The running supervisor at `supervisor` takes new flags (`fields`: which, with their old → new values). */
  | { op: 'set_flags'; supervisor: string; flags: SupervisorFlags; fields: string[] }
  /**
   * The child's record takes its new spec, used from its next start on: a worker's by the rolling reload that
   * follows, a supervisor's if it ever restarts (its running subtree was changed by the steps before).
   */
  | { op: 'replace_spec'; supervisor: string; id: string; spec: ChildSpec; fields: string[] }
  /** Terminate the child, then delete its spec. */
  | { op: 'stop'; supervisor: string; id: string }
  /** Start a new child from `spec`: it goes after its siblings, as OTP's start_child. */
  | { op: 'start'; supervisor: string; spec: ChildSpec }
  /** Terminate the child and start it again (its record holds its new spec by then): a task, to run its new code. */
  | { op: 'restart'; supervisor: string; id: string }
  /** A task host pool of the root's `hosts` added, changed or removed (./pool-plan.ts). */
  | PoolStep;

/** A change that cannot be made to a running tree; `path` names the field as validation does (`root.children[0].port`). */
export interface Refusal {
  path: string;
  message: string;
}

export interface SpecPlan {
  steps: SpecStep[];
  refused: Refusal[];
  /** What the running tree will differ in from the new spec, in words (e.g. the order of its children). */
  notes: string[];
}

/** A listener owns a bound socket: these fields cannot change while it runs. */
export const LISTENER_FIXED_FIELDS = ['host', 'port', 'backlog', 'mode', 'fd'] as const satisfies ReadonlyArray<
  keyof ListenerSpec
>;

/** The steps that turn a tree running `old` into one running `next` (or what refuses it). Pure. */
export function planSpecChange(old: SupervisorSpec, next: SupervisorSpec): SpecPlan {
  const plan: Phases = { updates: [], stops: [], starts: [], restarts: [], commits: [], refused: [], notes: [] };
  if (old.id !== next.id) {
    plan.refused.push({
      path: 'root.id',
      message: `the root's id cannot change while the tree runs ('${old.id}' → '${next.id}'): every path in the tree starts with it; stop the tree and start it again`,
    });
    return { steps: [], refused: plan.refused, notes: [] };
  }
  diffSupervisor(old, next, old.id, 'root', plan);
  const pools = planPoolChanges(old.id, old.hosts, next.hosts);
  return {
    steps: [
      ...pools.early,
      ...plan.updates,
      ...plan.stops,
      ...plan.starts,
      ...plan.restarts,
      ...plan.commits,
      ...pools.late,
    ],
    refused: plan.refused,
    notes: plan.notes,
  };
}

interface Phases {
  updates: SpecStep[];
  stops: SpecStep[];
  starts: SpecStep[];
  restarts: SpecStep[];
  /** Nested supervisors' own records, deepest first: done once their subtree is. */
  commits: SpecStep[];
  refused: Refusal[];
  notes: string[];
}

function diffSupervisor(old: SupervisorSpec, next: SupervisorSpec, path: string, specPath: string, plan: Phases): void {
  // The root's `hosts` are the tree's task host pools, not a flag of its supervisor: ./pool-plan.ts.
  const flagFields = changedFields(old, next, ['id', 'type', 'children', 'hosts']);
  const dynamic = (s: SupervisorSpec) => s.strategy === 'simple_one_for_one';
  if (dynamic(old) !== dynamic(next)) {
    plan.refused.push({
      path: `${specPath}.strategy`,
      message: `'${path}' cannot change from ${old.strategy} to ${next.strategy} while it runs (its children are of another kind); stop the tree and start it again`,
    });
    return;
  }
  if (flagFields.length > 0) {
    const flags = Object.fromEntries(
      flagFields.map((f) => [f, (next as unknown as Record<string, unknown>)[f]]),
    ) as SupervisorFlags;
    plan.updates.push({
      op: 'set_flags',
      supervisor: path,
      flags,
      fields: flagFields.map((f) => describeChange(f, old, next)),
    });
    if (flagFields.includes('template')) {
      plan.notes.push(
        `${path}: the dynamic children running keep their spec (and get the new code); those started from now on use the new template`,
      );
    }
  }
  const before = new Map(old.children.map((c) => [c.id, c]));
  const after = new Map(next.children.map((c) => [c.id, c]));
  const kept = (id: string) => {
    const a = before.get(id);
    const b = after.get(id);
    return a !== undefined && b !== undefined && a.type === b.type;
  };
  // Removed (or of another type now): stopped in reverse start order.
  for (const child of [...old.children].reverse()) {
    if (!kept(child.id)) plan.stops.push({ op: 'stop', supervisor: path, id: child.id });
  }
  next.children.forEach((child, index) => {
    const childSpecPath = `${specPath}.children[${index}]`;
    if (!kept(child.id)) {
      plan.starts.push({ op: 'start', supervisor: path, spec: child });
      return;
    }
    const previous = before.get(child.id)!;
    if (sameValue(previous, child)) return;
    if (child.type === 'listener') {
      const fixed = LISTENER_FIXED_FIELDS.filter((f) => !sameValue(previous[f as keyof ChildSpec], child[f]));
      for (const field of fixed) {
        plan.refused.push({
          path: `${childSpecPath}.${field}`,
          message: `the ${field} of listener '${path}/${child.id}' cannot change while it runs (${describeChange(field, previous, child)}): its socket is bound; stop the tree and start it again`,
        });
      }
      if (fixed.length > 0) return;
    }
    const fields = changedFields(previous, child, ['id', 'type', 'children']);
    if (child.type === 'supervisor') {
      diffSupervisor(previous as SupervisorSpec, child, `${path}/${child.id}`, childSpecPath, plan);
      plan.commits.push({
        op: 'replace_spec',
        supervisor: path,
        id: child.id,
        spec: child,
        fields: changedFields(previous, child, ['id', 'type']),
      });
      return;
    }
    plan.updates.push({
      op: 'replace_spec',
      supervisor: path,
      id: child.id,
      spec: child,
      fields: fields.map((f) => describeChange(f, previous, child)),
    });
    if (child.type === 'task') {
      // A temporary task's spec goes with its stop: it runs its old function to its end instead.
      if (child.restart === 'temporary')
        plan.notes.push(`${path}/${child.id}: a temporary task runs its old function until it ends`);
      else plan.restarts.push({ op: 'restart', supervisor: path, id: child.id });
    }
  });
  const keptOrder = (list: readonly ChildSpec[]) => list.filter((c) => kept(c.id)).map((c) => c.id);
  if (!sameValue(keptOrder(old.children), keptOrder(next.children))) {
    plan.notes.push(
      `${path}: its children keep their running order (${keptOrder(old.children).join(', ')}) until it restarts`,
    );
  }
}

/** The top-level fields that differ, in a stable order, `except` those. */
function changedFields(a: object, b: object, except: readonly string[]): string[] {
  const ra = a as Record<string, unknown>;
  const rb = b as Record<string, unknown>;
  const keys = [...new Set([...Object.keys(ra), ...Object.keys(rb)])].filter((k) => !except.includes(k));
  return keys.filter((k) => !sameValue(ra[k], rb[k])).sort();
}

/**
 * Deep equality of spec values, as read from two imports of one module: functions (a task's `run`) are equal when
 * their source text is (each import makes new ones), and a field set to undefined is as good as absent.
 */
export function sameValue(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a === 'function' && typeof b === 'function') return String(a) === String(b);
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null)
    return Number.isNaN(a) && Number.isNaN(b);
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const ra = a as Record<string, unknown>;
  const rb = b as Record<string, unknown>;
  const keys = new Set([...Object.keys(ra), ...Object.keys(rb)]);
  for (const key of keys) if (!sameValue(ra[key], rb[key])) return false;
  return true;
}

function describeChange(field: string, a: object, b: object): string {
  const from = (a as Record<string, unknown>)[field];
  const to = (b as Record<string, unknown>)[field];
  const short = (v: unknown) => (v === undefined ? 'unset' : typeof v === 'object' ? '…' : JSON.stringify(v));
  const scalar = (v: unknown) => v === undefined || (typeof v !== 'object' && typeof v !== 'function');
  return scalar(from) && scalar(to) ? `${field} ${short(from)} → ${short(to)}` : field;
}

/**
 * A pool the plan removes must run no task by then: every task in it (`tasksIn`, read from the running tree) must be
 * stopped by the plan (itself or a supervisor above it) or restarted by it (moved to another pool). Pure.
 */
export function refuseRemovedPools(steps: readonly SpecStep[], tasksIn: (pool: string) => string[]): Refusal[] {
  const stopped = steps.flatMap((s) => (s.op === 'stop' ? [`${s.supervisor}/${s.id}`] : []));
  const restarted = new Set(steps.flatMap((s) => (s.op === 'restart' ? [`${s.supervisor}/${s.id}`] : [])));
  const refused: Refusal[] = [];
  for (const step of steps) {
    if (step.op !== 'remove_pool') continue;
    const left = tasksIn(step.name).filter(
      (path) => !restarted.has(path) && !stopped.some((p) => path === p || path.startsWith(`${p}/`)),
    );
    if (left.length === 0) continue;
    const shown = left.slice(0, 5).join(', ') + (left.length > 5 ? ` and ${left.length - 5} more` : '');
    refused.push({
      path: `root.hosts.${step.name}`,
      message: `host pool '${step.name}' cannot be removed while tasks run in it (${shown}): remove or stop them, or move them to another pool (a temporary or dynamic task runs on until it ends), then reload again`,
    });
  }
  return refused;
}

/** One step in words, as `arbor reload` prints it. */
export function describeStep(step: SpecStep): string {
  switch (step.op) {
    case 'set_flags':
      return `set ${step.supervisor}: ${step.fields.join(', ')}`;
    case 'replace_spec':
      return step.spec.type === 'supervisor'
        ? `update ${step.supervisor}/${step.id}: ${step.fields.join(', ')} (the spec it restarts with)`
        : `update ${step.supervisor}/${step.id}: ${step.fields.join(', ')}`;
    case 'stop':
      return `stop ${step.supervisor}/${step.id}`;
    case 'start':
      return `start ${step.supervisor}/${step.spec.id} (${step.spec.type})`;
    case 'restart':
      return `restart ${step.supervisor}/${step.id} (a task: its new function)`;
    default:
      return describePoolStep(step);
  }
}

/** The spec the tree runs once `steps` (a prefix of a plan) are done: kept as the base of the next reload. Pure. */
export function specAfter(spec: SupervisorSpec, steps: readonly SpecStep[]): SupervisorSpec {
  return steps.reduce(applyStep, spec);
}

function applyStep(root: SupervisorSpec, step: SpecStep): SupervisorSpec {
  return updateSupervisor(root, root.id, step.supervisor, (sup) => {
    switch (step.op) {
      case 'set_flags':
        return { ...sup, ...step.flags };
      case 'replace_spec':
        return { ...sup, children: sup.children.map((c) => (c.id === step.id ? step.spec : c)) };
      case 'stop':
        return { ...sup, children: sup.children.filter((c) => c.id !== step.id) };
      case 'start':
        return { ...sup, children: [...sup.children.filter((c) => c.id !== step.spec.id), step.spec] };
      case 'restart':
        return sup;
      default: {
        const hosts = poolsAfter(sup.hosts, step);
        const { hosts: _old, ...rest } = sup;
        return hosts === undefined ? rest : { ...rest, hosts };
      }
    }
  });
}

function updateSupervisor(
  sup: SupervisorSpec,
  path: string,
  target: string,
  change: (s: SupervisorSpec) => SupervisorSpec,
): SupervisorSpec {
  if (path === target) return change(sup);
  if (!target.startsWith(`${path}/`)) return sup;
  return {
    ...sup,
    children: sup.children.map((c) =>
      c.type === 'supervisor' ? updateSupervisor(c, `${path}/${c.id}`, target, change) : c,
    ),
  };
}

/**
 * The steps that stay within the subtree at `path` (a supervisor or a worker of the running tree), and those
 * outside it, left for a reload of a path that holds them.
 */
export function splitByPath(steps: readonly SpecStep[], path: string): { inside: SpecStep[]; outside: SpecStep[] } {
  const within = (step: SpecStep) => {
    // A new pool touches nothing that runs, and a task anywhere may start in it.
    if (step.op === 'add_pool') return true;
    const child = step.op === 'start' ? step.spec.id : step.op === 'set_flags' || 'name' in step ? undefined : step.id;
    const full = child === undefined ? step.supervisor : `${step.supervisor}/${child}`;
    return full === path || full.startsWith(`${path}/`);
  };
  return { inside: steps.filter(within), outside: steps.filter((s) => !within(s)) };
}
