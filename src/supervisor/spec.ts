// Typed builders for a supervision spec, with OTP's defaults (DESIGN.md §2). Builders only fill defaults;
// `validateSpec` checks the whole tree before anything starts, so bad input is reported with its path.
import type {
  AutoShutdown,
  BackoffSpec,
  ChildSpec,
  HeartbeatOptions,
  ListenerMode,
  ListenerSpec,
  Messages,
  RestartType,
  Shutdown,
  Strategy,
  StandbyOption,
  SupervisorSpec,
  TaskContext,
  TaskHost,
  TaskSpec,
  WorkerKind,
  WorkerSpec,
} from '../types.js';
import type { ResourceLimits } from 'node:worker_threads';
import { isAbsolute, resolve } from 'node:path';
import { DEFAULT_BACKLOG } from '../listener/index.js';

/** @internal A worker's or listener's `shutdown` when the spec gives none: 5000 ms. */
export const DEFAULT_WORKER_SHUTDOWN = 5000;
/** @internal A worker's `startTimeout` when the spec gives none: 10 s. */
export const DEFAULT_START_TIMEOUT = 10_000;

/** Fields every child takes. */
interface CommonOptions {
  /** Unique among its siblings; a child's path is the ids from the root joined by `/` (`root/pool/web-1`). */
  id: string;
  /**
   * Restart this child after growing delays while it keeps crashing: `min`, `min × factor`, … up to `max` ms,
   * each stretched by up to `jitter`; a child that stayed up `resetAfter` ms starts again from `min`. Off by
   * default (restarted at once, as OTP). Not on the root.
   */
  backoff?: BackoffSpec;
  /**
   * When the child is restarted after it exits: `permanent` (default) always; `transient` only after an abnormal
   * exit; `temporary` never.
   */
  restart?: RestartType;
  /**
   * How the child is stopped: a timeout in ms (default 5000 for workers and listeners: ask, then SIGKILL when it
   * passes), `brutal_kill` (SIGKILL at once), or `infinity` (wait; the default for supervisors).
   */
  shutdown?: Shutdown;
  /**
   * With the parent's `autoShutdown`, this child's end (not followed by a restart) may stop the parent
   * (default false; only for transient and temporary children).
   */
  significant?: boolean;
}

/** What `worker({...})` takes: a forked node process. Only `id` and `module` are required. */
export interface WorkerOptions extends CommonOptions {
  /**
   * The JavaScript file to fork: absolute, or relative to `cwd` when given, else to the spec file's directory
   * (`arbor run spec.js`) or to the process's cwd (`createTree`/`start` from code).
   */
  module: string;
  /**
   * `process` (default): a forked OS process. `thread`: a `node:worker_threads` thread of the supervisor's process,
   * which starts in milliseconds; a thread cannot `listen`.
   */
  kind?: WorkerKind;
  /** Threads only: the V8 heap limits of the thread; over them the thread ends (its exit reason names the limit). */
  resourceLimits?: ResourceLimits;
  /** Arguments for the module (`process.argv.slice(2)`; default none); `startChild`'s args are appended. */
  args?: string[];
  /** Environment added to the supervisor's own for this worker (default none). */
  env?: Record<string, string>;
  /** Options for node itself, as `child_process.fork`'s `execArgv` (default none). */
  execArgv?: string[];
  /** The worker's working directory (default: the supervisor's). */
  cwd?: string;
  /** The id of a listener among its siblings or its ancestors' children: the socket this worker serves. */
  listen?: string;
  /** ms from fork to the worker's `ready` before the start fails with `{ startFailed: 'timeout' }` (default 10000). */
  startTimeout?: number;
  /**
   * `{ interval, timeout }` in ms: the supervisor pings the worker every `interval`; one that has not answered for
   * `timeout` is killed with `{ hung: ms }`. Off by default.
   */
  heartbeat?: HeartbeatOptions;
  /** Bytes of RSS above which the worker is killed with `{ memory: bytes }` (checked with heartbeats). Off by default. */
  maxMemory?: number;
  /**
   * Spare processes forked ahead of need, so a restart takes one over instead of starting node: `'warm'` (or
   * `true`), `'hot'`, or `{ mode, count }`. Off by default. See docs/guides/workers.md, "Standby spares".
   */
  standby?: StandbyOption;
  /** Largest message, in bytes of JSON, either way between the tree and this worker (default 1048576). */
  maxMessageBytes?: number;
  /** `send()`s per second the tree accepts from this worker, in bursts of as many (default 1000); the rest are dropped. */
  maxMessageRate?: number;
}

/** What `listener({...})` takes: one listening TCP socket, held by the supervisor and served by its workers. */
export interface ListenerOptions extends CommonOptions {
  /** The address to bind (default `127.0.0.1`). */
  host?: string;
  /** The port to bind (default 0: a free port, logged in `listener_bound`). */
  port?: number;
  /** The kernel's accept queue (default 2048; capped by `net.core.somaxconn`). */
  backlog?: number;
  /**
   * `shared` (default): every worker accepts on the socket, the kernel spreads connections; `round_robin`: the
   * listener accepts and hands each connection to the next ready worker.
   */
  mode?: ListenerMode;
  /**
   * Adopt an inherited listening socket instead of binding: a descriptor number, `'systemd'` (the one socket
   * systemd passed) or `'systemd:<name>'` (by its `FileDescriptorName=`).
   */
  fd?: ListenerSpec['fd'];
}

/** What `task({...})` takes: an async function supervised like a process. Only `id` and `run` are required. */
export interface TaskOptions<M extends Messages = Messages> extends CommonOptions {
  /**
   * The function: resolving is exit `normal`, rejecting or throwing `{ error }`. Asked to stop, it sees
   * `context.signal` abort and has `shutdown` ms to settle.
   */
  run(context: TaskContext<M>): unknown;
  /** Args for the task (`context.args`; default none); `startChild`'s args are appended. */
  args?: string[];
  /** Where it runs: `inline` (default), in the supervisor's own process. */
  host?: TaskHost;
}

/** A child spec whose messages (if it has any) are `M`: how a supervisor's message types are inferred. */
export type TypedChildSpec<M extends Messages> = WorkerSpec<M> | ListenerSpec | SupervisorSpec<M> | TaskSpec<M>;

/** What `supervisor({...})` takes. Every field is optional; the id defaults to `'root'`. */
export interface SupervisorOptions<M extends Messages = never> extends Partial<CommonOptions> {
  /**
   * Which children restart when one exits (default `one_for_one`): `rest_for_one` restarts it and the children
   * after it, `one_for_all` all of them, `simple_one_for_one` runs children started at run time from `template`.
   */
  strategy?: Strategy;
  /** Give up (terminate every child and exit `shutdown`) after more than this many restarts within `period` (default 1). */
  intensity?: number;
  /** The window of `intensity`, in ms (default 5000). */
  period?: number;
  /** Stop this supervisor when `any_significant` or `all_significant` children have ended (default `never`). */
  autoShutdown?: AutoShutdown;
  /** The children, started in this order and stopped in reverse (default none). */
  children?: Array<TypedChildSpec<M> | ChildSpec>;
  /**
   * `simple_one_for_one` only: what dynamic children are made from — a worker (its spec or options), a task spec,
   * or a supervisor spec for a whole subtree per child.
   */
  template?: WorkerSpec<M> | WorkerOptions | SupervisorSpec<M> | TaskSpec<M>;
  /**
   * Root only: after `stop()` or SIGTERM, keep everything serving this many ms before the workers drain, so a load
   * balancer can take the instance out (default 0).
   */
  drainDelay?: number;
}

/**
 * A worker child: a node module forked as its own process, restarted by its supervisor's rules.
 * `worker<M>()`: M declares the messages this worker speaks (see `Messages`); untyped by default.
 *
 * @example
 * ```js
 * worker({ id: 'web-1', module: './server.js', listen: 'http', heartbeat: { interval: 1000, timeout: 3000 } })
 * ```
 */
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

/**
 * A listener child: binds one TCP socket in the supervisor's process and hands it to every worker that names it
 * in `listen`, each time that worker starts; the socket stays open while workers restart.
 *
 * @example
 * ```js
 * listener({ id: 'http', host: '127.0.0.1', port: 8080 })
 * ```
 */
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

/**
 * A supervisor: starts its children in order, restarts them by its strategy and intensity, stops them in reverse.
 * The root of a tree is one. `supervisor<M>()`: M types `tree.call`/`tree.cast`; inferred from typed children when
 * they agree.
 *
 * @example
 * ```js
 * supervisor({ id: 'pool', strategy: 'one_for_one', intensity: 10, period: 10_000, children: [worker({ id: 'w', module: './w.js' })] })
 * ```
 */
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
 * @internal
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
      const relative =
        typeof child.module === 'string' && child.module !== '' && !isAbsolute(child.module) && child.cwd === undefined;
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
