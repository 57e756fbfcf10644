// Whole-spec validation before anything starts. Every problem is reported with the path of the bad field,
// e.g. `root.children[2].shutdown`, so a user can act on it. Nothing is forked for a bad spec.
import { existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { inspect } from 'node:util';
import type { ResourceLimits } from 'node:worker_threads';
import type {
  AutoShutdown,
  BackoffSpec,
  HeartbeatOptions,
  HostedTaskSpec,
  ListenerMode,
  ListenerSpec,
  RestartType,
  Strategy,
  SupervisorSpec,
  TaskSpec,
  WorkerKind,
  WorkerSpec,
} from '../types.js';
import { isSystemdFd } from '../listener/activation.js';
import { validateHosts, validateTaskHost } from './validate-hosts.js';

/** One thing wrong with a spec. */
export interface SpecProblem {
  /** The path of the bad field: `root.children[2].shutdown`. */
  path: string;
  /** What is wrong, and what would be right. */
  message: string;
}

/** A spec that cannot run: thrown by `createTree`, `start` and `validateSpec` before anything starts. */
export class SpecError extends Error {
  /** @param problems Every problem found, each with its path. */
  constructor(readonly problems: SpecProblem[]) {
    super(`invalid supervision spec:\n${problems.map((p) => `  ${p.path}: ${p.message}`).join('\n')}`);
    this.name = 'SpecError';
  }
}

/**
 * `values`, checked against the union `U` when compiling: each value is one of `U`, and a member of `U` that is not
 * listed fails the build and names it. So a field or option added to a type in ../types.ts cannot be forgotten here,
 * and each one is declared once.
 */
function exactly<U extends string>() {
  return <const L extends readonly U[]>(
    values: L & ([Exclude<U, L[number]>] extends [never] ? unknown : { missing: Exclude<U, L[number]> }),
  ): readonly string[] => values;
}
/** The string keys of a spec type. */
type FieldOf<S> = Extract<keyof S, string>;

/** The fields every child's spec holds. */
const COMMON_FIELDS = ['type', 'id', 'restart', 'shutdown', 'significant', 'backoff'] as const;
/** Every field a spec may hold, per child type: anything else is a typo or a field of another version. */
export const KNOWN_FIELDS: Record<'worker' | 'listener' | 'supervisor' | 'task', readonly string[]> = {
  worker: exactly<FieldOf<WorkerSpec>>()([
    ...COMMON_FIELDS,
    'module',
    'kind',
    'args',
    'env',
    'execArgv',
    'cwd',
    'listen',
    'startTimeout',
    'heartbeat',
    'maxMemory',
    'standby',
    'maxMessageBytes',
    'maxMessageRate',
    'resourceLimits',
  ]),
  task: exactly<FieldOf<TaskSpec> | FieldOf<HostedTaskSpec>>()([
    ...COMMON_FIELDS,
    'run',
    'args',
    'host',
    'module',
    'export',
  ]),
  listener: exactly<FieldOf<ListenerSpec>>()([...COMMON_FIELDS, 'host', 'port', 'backlog', 'mode', 'fd']),
  supervisor: exactly<FieldOf<SupervisorSpec>>()([
    ...COMMON_FIELDS,
    'strategy',
    'intensity',
    'period',
    'autoShutdown',
    'children',
    'template',
    'drainDelay',
    'hosts',
  ]),
};
const BACKOFF_FIELDS = exactly<FieldOf<BackoffSpec>>()(['min', 'max', 'factor', 'jitter', 'resetAfter']);
const HEARTBEAT_FIELDS = exactly<FieldOf<HeartbeatOptions>>()(['interval', 'timeout']);
/** Deeper than this is a generated spec gone wrong (a real tree is a few levels deep), not a design. */
export const MAX_SPEC_DEPTH = 100;

const STRATEGIES = exactly<Strategy>()(['one_for_one', 'rest_for_one', 'one_for_all', 'simple_one_for_one']);
const RESTARTS = exactly<RestartType>()(['permanent', 'transient', 'temporary']);
const AUTO_SHUTDOWNS = exactly<AutoShutdown>()(['never', 'any_significant', 'all_significant']);
const MODES = exactly<ListenerMode>()(['shared', 'round_robin']);
const KINDS = exactly<WorkerKind>()(['process', 'thread']);
const RESOURCE_LIMITS = exactly<FieldOf<ResourceLimits>>()([
  'maxOldGenerationSizeMb',
  'maxYoungGenerationSizeMb',
  'codeRangeSizeMb',
  'stackSizeMb',
]);
const CHILD_TYPES = "'worker', 'task', 'listener' or 'supervisor'";

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);
const isNonNegInt = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;
const isPosInt = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) > 0;

/** A value as the user wrote it: `Infinity` and `NaN` as such (JSON would say `null`), cycles marked; short; never throws. */
export function show(v: unknown): string {
  if (typeof v === 'string') return `'${clip(v, 80)}'`;
  if (typeof v === 'number' || typeof v === 'boolean' || v === undefined || v === null) return String(v);
  if (typeof v === 'bigint') return `${v}n`;
  if (typeof v === 'function') return 'a function';
  if (typeof v === 'symbol') return String(v);
  try {
    return clip(inspect(v, { depth: 2, breakLength: Infinity, maxArrayLength: 10, maxStringLength: 80 }), 80);
  } catch {
    return Array.isArray(v) ? 'an array' : 'an object'; // a throwing getter or inspect hook
  }
}
const clip = (text: string, max: number): string => (text.length > max ? `${text.slice(0, max)}…` : text);

/** The known field closest to `name` (a typo, a missing letter, another case), if any is close enough. */
export function closestField(name: string, known: readonly string[]): string | undefined {
  let best: { field: string; distance: number } | undefined;
  for (const field of known) {
    const distance = field.toLowerCase() === name.toLowerCase() ? 0 : editDistance(name, field);
    if (distance <= Math.max(1, Math.floor(field.length / 3)) && (!best || distance < best.distance))
      best = { field, distance };
  }
  return best?.field;
}

/** Edit distance counting a swap of two neighbours as one edit (`prot` → `port`), on the short strings field names are. */
function editDistance(a: string, b: string): number {
  if (a.length > 64 || b.length > 64) return Math.max(a.length, b.length);
  let before: number[] = [];
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        current[j] = Math.min(current[j]!, before[j - 2]! + 1);
    }
    before = previous;
    previous = current;
  }
  return previous[b.length]!;
}

function checkFields(spec: Obj, known: readonly string[], path: string, report: Report): void {
  for (const key of Object.keys(spec)) {
    if (known.includes(key)) continue;
    const guess = closestField(key, known);
    report(
      `${path}.${clip(key, 64)}`,
      `unknown field${guess ? `; did you mean '${guess}'?` : ` (known: ${known.filter((k) => k !== 'type').join(', ')})`}`,
    );
  }
}

/** A path of a deep spec, shortened: its first and last steps. */
function shortPath(path: string): string {
  const steps = path.split('.');
  return steps.length <= 8 ? path : `${steps.slice(0, 4).join('.')}.….${steps.slice(-3).join('.')}`;
}

/** Listener ids visible from a supervisor's children: its own listener children and its ancestors'. */
interface Scope {
  listeners: Map<string, { index: number; depth: number }>;
  depth: number;
  /** The supervisor specs from the root down to this one, to catch a spec that contains itself. */
  ancestors: Obj[];
  /** `branch[d - 1]`: the index, among the children at depth d, of the ancestor that holds these children. */
  branch: number[];
  /** The host pools declared in the root's `hosts`. */
  hosts: ReadonlySet<string>;
}

/**
 * Returns every problem in the spec; an empty list means it can start. `outerListeners`: ids of listeners that run
 * above this spec's root (a child started into a running supervisor may listen on its ancestors' listeners).
 */
export function validateSpec(
  spec: unknown,
  options: {
    outerListeners?: readonly string[];
    /** Host pools of the running tree, for a child started into it (its spec has no `hosts` of its own). */
    hosts?: readonly string[];
  } = {},
): SpecProblem[] {
  const problems: SpecProblem[] = [];
  const report = (path: string, message: string) => problems.push({ path, message });
  if (!isObj(spec) || spec.type !== 'supervisor') {
    report('root', 'the root must be a supervisor spec (use supervisor({...}))');
    return problems;
  }
  const outer = new Map((options.outerListeners ?? []).map((id) => [id, { index: -Infinity, depth: 0 }]));
  const hosts = validateHosts(spec.hosts, 'root.hosts', report);
  for (const name of options.hosts ?? []) hosts.add(name);
  validateSupervisor(spec, 'root', { listeners: outer, depth: 0, branch: [], ancestors: [], hosts }, report);
  if (spec.backoff !== undefined)
    report('root.backoff', 'the root supervisor is never restarted; put backoff on the children it restarts');
  if (spec.drainDelay !== undefined && !isNonNegInt(spec.drainDelay)) {
    report('root.drainDelay', `must be an integer >= 0 (ms), got ${show(spec.drainDelay)}`);
  }
  return problems;
}

export function assertValidSpec(spec: unknown): asserts spec is SupervisorSpec {
  const problems = validateSpec(spec);
  if (problems.length > 0) throw new SpecError(problems);
}

type Report = (path: string, message: string) => void;

function validateCommon(child: Obj, path: string, report: Report): void {
  if (typeof child.id !== 'string' || child.id === '' || child.id.includes('/')) {
    report(`${path}.id`, `must be a non-empty string without '/', got ${show(child.id)}`);
  }
  if (!RESTARTS.includes(child.restart as string)) {
    report(`${path}.restart`, `must be one of ${RESTARTS.join(', ')}, got ${show(child.restart)}`);
  }
  const shutdown = child.shutdown;
  if (!(shutdown === 'brutal_kill' || shutdown === 'infinity' || isNonNegInt(shutdown))) {
    report(
      `${path}.shutdown`,
      `must be 'brutal_kill', 'infinity' or a timeout in ms (integer >= 0), got ${show(shutdown)}`,
    );
  }
  if (child.backoff !== undefined) validateBackoff(child.backoff, `${path}.backoff`, report);
  if (typeof child.significant !== 'boolean') {
    report(`${path}.significant`, `must be a boolean, got ${show(child.significant)}`);
  } else if (child.significant && child.restart === 'permanent') {
    report(
      `${path}.significant`,
      'a permanent child cannot be significant (it is always restarted); use transient or temporary',
    );
  }
}

function validateSupervisor(spec: Obj, path: string, outer: Scope, report: Report): void {
  const cycle = outer.ancestors.indexOf(spec);
  if (cycle >= 0) {
    report(
      shortPath(path),
      `the spec contains itself: this is the same object as its ancestor ${cycle === 0 ? 'root' : `at depth ${cycle}`}`,
    );
    return;
  }
  if (outer.depth >= MAX_SPEC_DEPTH) {
    report(shortPath(path), `supervisors nested deeper than ${MAX_SPEC_DEPTH} levels`);
    return;
  }
  checkFields(spec, KNOWN_FIELDS.supervisor, path, report);
  validateCommon(spec, path, report);
  if (!STRATEGIES.includes(spec.strategy as string)) {
    report(`${path}.strategy`, `unknown strategy ${show(spec.strategy)}; expected one of ${STRATEGIES.join(', ')}`);
  }
  if (!isNonNegInt(spec.intensity)) report(`${path}.intensity`, `must be an integer >= 0, got ${show(spec.intensity)}`);
  if (!isPosInt(spec.period)) report(`${path}.period`, `must be an integer > 0 (ms), got ${show(spec.period)}`);
  if (!AUTO_SHUTDOWNS.includes(spec.autoShutdown as string)) {
    report(`${path}.autoShutdown`, `must be one of ${AUTO_SHUTDOWNS.join(', ')}, got ${show(spec.autoShutdown)}`);
  }
  if (path !== 'root' && spec.hosts !== undefined)
    report(`${path}.hosts`, 'only the root supervisor declares host pools (the whole tree shares them)');
  if (path !== 'root' && spec.drainDelay !== undefined) {
    report(`${path}.drainDelay`, 'only the root supervisor takes a drainDelay (it delays the stop of the whole tree)');
  }
  if (!Array.isArray(spec.children)) {
    report(`${path}.children`, 'must be an array of child specs');
    return;
  }
  const children = spec.children as unknown[];
  const scope: Scope = {
    listeners: new Map(outer.listeners),
    depth: outer.depth + 1,
    branch: outer.branch,
    ancestors: [...outer.ancestors, spec],
    hosts: outer.hosts,
  };
  children.forEach((c, index) => {
    if (isObj(c) && c.type === 'listener' && typeof c.id === 'string')
      scope.listeners.set(c.id, { index, depth: scope.depth });
  });

  if (spec.strategy === 'simple_one_for_one') {
    if (children.length > 0)
      report(`${path}.children`, 'a simple_one_for_one supervisor has no static children; give a template');
    const template = spec.template;
    if (!isObj(template))
      report(
        `${path}.template`,
        'a simple_one_for_one supervisor needs a worker template, or a supervisor template (a subtree per child)',
      );
    // A dynamic child starts at run time, once its ancestors' listeners run: its index among siblings is Infinity.
    else if (template.type === 'supervisor')
      validateSupervisor(template, `${path}.template`, { ...scope, branch: [...scope.branch, Infinity] }, report);
    else if (template.type === 'worker') validateWorker(template, `${path}.template`, scope, Infinity, report);
    else if (template.type === 'task') validateTask(template, `${path}.template`, scope.hosts, report);
    else report(`${path}.template.type`, `must be 'worker', 'task' or 'supervisor', got ${show(template.type)}`);
  } else if (spec.template !== undefined) {
    report(`${path}.template`, 'only a simple_one_for_one supervisor takes a template');
  }

  const seen = new Map<string, number>();
  // The dynamic children of a simple_one_for_one are significant when its template is.
  let significant =
    spec.strategy === 'simple_one_for_one' && isObj(spec.template) && spec.template.significant === true;
  children.forEach((child, index) => {
    const childPath = `${path}.children[${index}]`;
    if (!isObj(child)) {
      report(childPath, 'must be a child spec (use worker(), task(), listener() or supervisor())');
      return;
    }
    if (typeof child.id === 'string') {
      const first = seen.get(child.id);
      if (first !== undefined)
        report(`${childPath}.id`, `duplicate id '${child.id}' (also ${path}.children[${first}])`);
      else seen.set(child.id, index);
    }
    if (child.significant === true) significant = true;
    if (child.type === 'worker') validateWorker(child, childPath, scope, index, report);
    else if (child.type === 'task') validateTask(child, childPath, scope.hosts, report);
    else if (child.type === 'listener') validateListener(child, childPath, report);
    else if (child.type === 'supervisor')
      validateSupervisor(child, childPath, { ...scope, branch: [...scope.branch, index] }, report);
    else report(`${childPath}.type`, `must be ${CHILD_TYPES}, got ${show(child.type)}`);
  });
  if (significant && spec.autoShutdown === 'never') {
    report(
      `${path}.autoShutdown`,
      "has significant children but autoShutdown is 'never'; set 'any_significant' or 'all_significant'",
    );
  }
}

function validateTask(spec: Obj, path: string, hosts: ReadonlySet<string>, report: Report): void {
  if (spec.listen !== undefined) {
    report(
      `${path}.listen`,
      "a task cannot listen: it runs in the supervisor's process, which never serves a listener's socket; " +
        'serve connections from a worker, or accept them yourself and start a task per connection',
    );
  }
  checkFields(spec, KNOWN_FIELDS.task.concat(spec.listen !== undefined ? ['listen'] : []), path, report);
  validateCommon(spec, path, report);
  if (!Array.isArray(spec.args) || !spec.args.every((a) => typeof a === 'string'))
    report(`${path}.args`, 'must be an array of strings');
  validateTaskHost(spec, path, hosts, report);
}

/** What a thread cannot do that a process can, and why: each a validation error naming the field. */
const NOT_FOR_THREADS: Record<string, string> = {
  listen:
    'a thread cannot serve a listener: on Node 20 server handles and sockets cannot be transferred to a thread, ' +
    'and a shared descriptor closed by terminate() would refuse connections; use a process worker',
  cwd: "a thread shares its process's working directory; use a process worker for its own cwd",
  standby: 'threads start in milliseconds: standby spares are for process workers',
  maxMemory: "maxMemory measures a whole process; cap a thread's heap with resourceLimits",
};

function validateWorker(spec: Obj, path: string, scope: Scope, index: number, report: Report): void {
  checkFields(spec, KNOWN_FIELDS.worker, path, report);
  validateCommon(spec, path, report);
  if (spec.kind !== undefined && !KINDS.includes(spec.kind as string)) {
    report(`${path}.kind`, `must be 'process' or 'thread', got ${show(spec.kind)}`);
  }
  if (spec.kind === 'thread') {
    for (const [field, why] of Object.entries(NOT_FOR_THREADS))
      if (spec[field] !== undefined) report(`${path}.${field}`, why);
    if (spec.resourceLimits !== undefined)
      validateResourceLimits(spec.resourceLimits, `${path}.resourceLimits`, report);
  } else if (spec.resourceLimits !== undefined) {
    report(
      `${path}.resourceLimits`,
      "only a thread takes resourceLimits (kind: 'thread'); cap a process with maxMemory",
    );
  }
  if (typeof spec.module !== 'string' || spec.module === '') {
    report(`${path}.module`, `must be the path of a JavaScript module, got ${show(spec.module)}`);
  } else {
    const file = resolve(typeof spec.cwd === 'string' ? spec.cwd : process.cwd(), spec.module);
    if (!existsSync(file) || !statSync(file).isFile()) report(`${path}.module`, `module not found: ${file}`);
  }
  if (!Array.isArray(spec.args) || !spec.args.every((a) => typeof a === 'string')) {
    report(`${path}.args`, 'must be an array of strings');
  }
  if (!Array.isArray(spec.execArgv) || !spec.execArgv.every((a) => typeof a === 'string')) {
    report(`${path}.execArgv`, 'must be an array of strings');
  }
  if (!isObj(spec.env) || !Object.values(spec.env).every((v) => typeof v === 'string')) {
    report(`${path}.env`, 'must be an object of string values');
  }
  if (spec.cwd !== undefined && (typeof spec.cwd !== 'string' || !existsSync(spec.cwd))) {
    report(`${path}.cwd`, `must be an existing directory, got ${show(spec.cwd)}`);
  }
  if (!isPosInt(spec.startTimeout))
    report(`${path}.startTimeout`, `must be an integer > 0 (ms), got ${show(spec.startTimeout)}`);
  if (spec.heartbeat !== undefined) {
    const hb = spec.heartbeat;
    if (isObj(hb)) checkFields(hb, HEARTBEAT_FIELDS, `${path}.heartbeat`, report);
    if (!isObj(hb) || !isPosInt(hb.interval) || !isPosInt(hb.timeout)) {
      report(`${path}.heartbeat`, `must be { interval, timeout } in ms (integers > 0), got ${show(hb)}`);
    }
  }
  if (spec.standby !== undefined && !isStandbyOption(spec.standby)) {
    report(
      `${path}.standby`,
      `must be true, false, 'warm', 'hot' or { mode: 'warm' | 'hot', count: integer 1–${MAX_SPARES} }, got ${show(spec.standby)}`,
    );
  }
  if (spec.maxMemory !== undefined && !isPosInt(spec.maxMemory)) {
    report(`${path}.maxMemory`, `must be a number of bytes (integer > 0), got ${show(spec.maxMemory)}`);
  }
  for (const field of ['maxMessageBytes', 'maxMessageRate'] as const) {
    if (spec[field] !== undefined && !isPosInt(spec[field]))
      report(`${path}.${field}`, `must be an integer > 0, got ${show(spec[field])}`);
  }
  if (spec.listen !== undefined && spec.kind !== 'thread') {
    const found = typeof spec.listen === 'string' ? scope.listeners.get(spec.listen) : undefined;
    if (!found) {
      report(
        `${path}.listen`,
        `no listener ${show(spec.listen)} among this worker's siblings or its ancestors' children`,
      );
    } else if (found.depth === scope.depth && found.index > index) {
      report(
        `${path}.listen`,
        `listener '${spec.listen}' must come before this worker among its siblings (children start in order)`,
      );
    } else if (
      found.depth < scope.depth &&
      Number.isFinite(index) &&
      scope.branch.slice(found.depth - 1).every(Number.isFinite) &&
      found.index > scope.branch[found.depth - 1]!
    ) {
      // A static worker starts with its branch: a listener the ancestor starts after that branch is not there yet
      // (unless a dynamic level lies between them: that part starts at run time).
      report(
        `${path}.listen`,
        `listener '${spec.listen}' must come before the supervisor that holds this worker (children start in order)`,
      );
    }
  }
}

function validateResourceLimits(limits: unknown, path: string, report: Report): void {
  if (!isObj(limits)) {
    report(path, `must be { ${RESOURCE_LIMITS.join(', ')} } (MB, integers > 0), got ${show(limits)}`);
    return;
  }
  checkFields(limits, RESOURCE_LIMITS, path, report);
  for (const field of RESOURCE_LIMITS) {
    if (limits[field] !== undefined && !isPosInt(limits[field]))
      report(`${path}.${field}`, `must be an integer > 0 (MB), got ${show(limits[field])}`);
  }
}

function validateListener(spec: Obj, path: string, report: Report): void {
  checkFields(spec, KNOWN_FIELDS.listener, path, report);
  validateCommon(spec, path, report);
  if (typeof spec.host !== 'string' || spec.host === '')
    report(`${path}.host`, `must be a host name or IP, got ${show(spec.host)}`);
  if (!Number.isSafeInteger(spec.port) || (spec.port as number) < 0 || (spec.port as number) > 65535) {
    report(`${path}.port`, `must be an integer from 0 to 65535, got ${show(spec.port)}`);
  }
  if (!isPosInt(spec.backlog)) report(`${path}.backlog`, `must be an integer > 0, got ${show(spec.backlog)}`);
  if (!MODES.includes(spec.mode as string))
    report(`${path}.mode`, `must be 'shared' or 'round_robin', got ${show(spec.mode)}`);
  if (spec.fd !== undefined && !isNonNegInt(spec.fd) && !isSystemdFd(spec.fd)) {
    report(
      `${path}.fd`,
      `must be a file descriptor (integer >= 0), 'systemd' or 'systemd:<name>', got ${show(spec.fd)}`,
    );
  }
}

/** More spares than this for one start-up is a typo, not a plan (each is a whole node process). */
const MAX_SPARES = 256;

function isStandbyOption(value: unknown): boolean {
  if (typeof value === 'boolean' || value === 'warm' || value === 'hot') return true;
  if (!isObj(value) || (value.mode !== 'warm' && value.mode !== 'hot')) return false;
  if (Object.keys(value).some((k) => k !== 'mode' && k !== 'count')) return false;
  return value.count === undefined || (isPosInt(value.count) && (value.count as number) <= MAX_SPARES);
}

function validateBackoff(backoff: unknown, path: string, report: Report): void {
  if (!isObj(backoff)) {
    report(path, `must be { min, max, factor?, jitter?, resetAfter? } (ms), got ${show(backoff)}`);
    return;
  }
  checkFields(backoff, BACKOFF_FIELDS, path, report);
  const { min, max, factor, jitter, resetAfter } = backoff;
  if (!isNonNegInt(min)) report(`${path}.min`, `must be an integer >= 0 (ms), got ${show(min)}`);
  if (!isPosInt(max)) report(`${path}.max`, `must be an integer > 0 (ms), got ${show(max)}`);
  else if (isNonNegInt(min) && max < min) report(`${path}.max`, `must be >= min (${min}), got ${max}`);
  if (
    factor !== undefined &&
    !(typeof factor === 'number' && Number.isFinite(factor) && factor >= 1 && factor <= 100)
  ) {
    report(`${path}.factor`, `must be a number from 1 to 100, got ${show(factor)}`);
  }
  if (jitter !== undefined && !(typeof jitter === 'number' && jitter >= 0 && jitter <= 1)) {
    report(`${path}.jitter`, `must be a number from 0 to 1, got ${show(jitter)}`);
  }
  if (resetAfter !== undefined && !isNonNegInt(resetAfter))
    report(`${path}.resetAfter`, `must be an integer >= 0 (ms), got ${show(resetAfter)}`);
}
