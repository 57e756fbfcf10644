// Typed builders for a supervision spec, with OTP's defaults (DESIGN.md §2). Builders only fill defaults;
// `validateSpec` checks the whole tree before anything starts, so bad input is reported with its path.
import type {
  AutoShutdown, BackoffSpec, ChildSpec, HeartbeatOptions, ListenerMode, ListenerSpec, Messages, RestartType, Shutdown, Strategy,
  StandbyOption, SupervisorSpec, TaskContext, TaskHost, TaskSpec, WorkerKind, WorkerSpec,
} from '../types.js';
import type { ResourceLimits } from 'node:worker_threads';
import { isAbsolute, resolve } from 'node:path';
import { DEFAULT_BACKLOG } from '../listener/index.js';

export const DEFAULT_WORKER_SHUTDOWN = 5000;
export const DEFAULT_START_TIMEOUT = 10_000;

interface CommonOptions {
  id: string;
  backoff?: BackoffSpec;
  restart?: RestartType;
  shutdown?: Shutdown;
  significant?: boolean;
}

export interface WorkerOptions extends CommonOptions {
  module: string;
  kind?: WorkerKind;
  resourceLimits?: ResourceLimits;
  args?: string[];
  env?: Record<string, string>;
  execArgv?: string[];
  cwd?: string;
  listen?: string;
  startTimeout?: number;
  heartbeat?: HeartbeatOptions;
  maxMemory?: number;
  standby?: StandbyOption;
  maxMessageBytes?: number;
  maxMessageRate?: number;
}

export interface ListenerOptions extends CommonOptions {
  host?: string;
  port?: number;
  backlog?: number;
  mode?: ListenerMode;
  fd?: ListenerSpec['fd'];
}

export interface TaskOptions<M extends Messages = Messages> extends CommonOptions {
  run(context: TaskContext<M>): unknown;
  args?: string[];
  host?: TaskHost;
}

/** A child spec whose messages (if it has any) are `M`: how a supervisor's message types are inferred. */
export type TypedChildSpec<M extends Messages> = WorkerSpec<M> | ListenerSpec | SupervisorSpec<M> | TaskSpec<M>;

export interface SupervisorOptions<M extends Messages = never> extends Partial<CommonOptions> {
  strategy?: Strategy;
  intensity?: number;
  period?: number;
  autoShutdown?: AutoShutdown;
  children?: Array<TypedChildSpec<M> | ChildSpec>;
  /** A worker (its spec or options), a task spec, or a supervisor spec for a subtree per dynamic child. */
  template?: WorkerSpec<M> | WorkerOptions | SupervisorSpec<M> | TaskSpec<M>;
  drainDelay?: number;
}

/** `worker<M>()`: M declares the messages this worker speaks (see `Messages`); untyped by default. */
export function worker<M extends Messages = never>(options: WorkerOptions): WorkerSpec<M> {
  return {
    restart: 'permanent',
    shutdown: DEFAULT_WORKER_SHUTDOWN,
    significant: false,
    args: [],
    env: {},
    execArgv: [],
    startTimeout: DEFAULT_START_TIMEOUT,
    ...options,
    type: 'worker',
  };
}

/**
 * `task<M>()`: an async function supervised like a process (restart types, strategies, intensity, shutdown), run in
 * the supervisor's own process. Shutdown defaults to 5000 ms, as a worker's.
 */
export function task<M extends Messages = never>(options: TaskOptions<M>): TaskSpec<M> {
  return {
    restart: 'permanent',
    shutdown: DEFAULT_WORKER_SHUTDOWN,
    significant: false,
    args: [],
    host: 'inline',
    ...options,
    type: 'task',
  };
}

export function listener(options: ListenerOptions): ListenerSpec {
  return {
    restart: 'permanent',
    shutdown: DEFAULT_WORKER_SHUTDOWN,
    significant: false,
    host: '127.0.0.1',
    port: 0,
    backlog: DEFAULT_BACKLOG,
    mode: 'shared',
    ...options,
    type: 'listener',
  };
}

/** `supervisor<M>()`: M types `tree.call`/`tree.cast`; inferred from typed children when they agree. */
export function supervisor<M extends Messages = never>(options: SupervisorOptions<M> = {}): SupervisorSpec<M> {
  const { template, ...rest } = options;
  return {
    id: 'root',
    restart: 'permanent',
    shutdown: 'infinity',
    significant: false,
    strategy: 'one_for_one',
    intensity: 1,
    period: 5000,
    autoShutdown: 'never',
    children: [],
    ...rest,
    ...(template ? { template: 'type' in template ? template : worker(template) } : {}),
    type: 'supervisor',
  };
}

/**
 * The spec with every worker's relative `module` resolved against `baseDir`, for specs loaded from a file
 * (`arbor run spec.js`): `module: './server.js'` then means the file beside the spec, wherever arbor is started
 * from. A worker that gives its own `cwd` keeps its module relative to that cwd. Anything that is not a
 * well-formed spec is left as it is, for validation to report (nested too deep, or containing itself, included).
 */
export function withModulesResolvedFrom<T>(spec: T, baseDir: string): T {
  const seen = new Set<object>();
  const visit = (node: unknown, depth: number): unknown => {
    if (node === null || typeof node !== 'object' || Array.isArray(node) || seen.has(node) || depth > 200) return node;
    seen.add(node);
    const child = node as Record<string, unknown>;
    if (child.type === 'worker') {
      const relative = typeof child.module === 'string' && child.module !== '' && !isAbsolute(child.module) && child.cwd === undefined;
      return relative ? { ...child, module: resolve(baseDir, child.module as string) } : child;
    }
    if (child.type !== 'supervisor') return child;
    return {
      ...child,
      ...(Array.isArray(child.children) ? { children: child.children.map((c) => visit(c, depth + 1)) } : {}),
      ...(child.template !== undefined ? { template: visit(child.template, depth + 1) } : {}),
    };
  };
  return visit(spec, 0) as T;
}
