// The domain of a supervision tree: these types are the documentation of the spec (DESIGN.md §1, §2).
import type { ResourceLimits } from 'node:worker_threads';
import type { Logger } from 'pino';

/**
 * When a child is restarted after it exits: `permanent` always; `transient` only after an abnormal exit;
 * `temporary` never (it is removed, and its exit neither restarts siblings nor counts toward intensity).
 */
export type RestartType = 'permanent' | 'transient' | 'temporary';
/**
 * Which children restart when one exits: `one_for_one` only that child; `rest_for_one` it and every child after
 * it in the spec; `one_for_all` every child; `simple_one_for_one` as one_for_one, over children started at run
 * time from a `template`.
 */
export type Strategy = 'one_for_one' | 'rest_for_one' | 'one_for_all' | 'simple_one_for_one';
/**
 * Whether a supervisor stops itself when its `significant` children end (OTP 24+): `never`; `any_significant`
 * (when any of them ends); `all_significant` (when the last running one ends).
 */
export type AutoShutdown = 'never' | 'any_significant' | 'all_significant';
/** `brutal_kill` = SIGKILL; a number = ask, then SIGKILL after that many ms; `infinity` = wait. */
export type Shutdown = 'brutal_kill' | 'infinity' | number;
/**
 * The kinds of child: a worker (a forked process, or a thread), a nested supervisor, a listening socket, or a task
 * (an async function run in the supervisor's process).
 */
export type ChildType = 'worker' | 'supervisor' | 'listener' | 'task';
/** Where a worker's module runs: a forked OS process (default), or a thread of the supervisor's process. */
export type WorkerKind = 'process' | 'thread';
/** Where a task's function runs: `inline` = in the supervisor's own process, on its event loop. */
export type TaskHost = 'inline';
/** Where a task host runs its tasks: a forked OS process, or a `node:worker_threads` thread of the supervisor's process. */
export type HostKind = 'process' | 'thread';

/**
 * A pool of hosts that run tasks off the supervisor's event loop (the root's `hosts`): `size` processes or threads,
 * each running many tasks. A host that misses its heartbeat or passes its memory limit is killed, and every task in
 * it exits with `{ host_down }`; the next task placed in that slot starts a fresh host.
 */
export interface HostSpec {
  /** `process` (default): forked OS processes; `thread`: threads of the supervisor's process. */
  kind?: HostKind;
  /** How many hosts the pool keeps (default 1); tasks go to the one running the fewest. */
  size?: number;
  /** Ping each host; one that does not answer within `timeout` ms (a task blocking its loop) is killed. */
  heartbeat?: HeartbeatOptions;
  /** Process hosts: bytes of RSS above which the host is killed (checked every heartbeat interval, or each second). */
  maxMemory?: number;
  /** Thread hosts: the V8 heap limits of each host thread; over them the host ends. */
  resourceLimits?: ResourceLimits;
  /** ms a host may take to boot before the task waiting for it fails to start (default 10000). */
  startTimeout?: number;
  /** Options for node itself in process hosts (`--max-old-space-size=512`). */
  execArgv?: string[];
}
/**
 * How a listener's connections reach its workers: `shared`, every worker accepts on the same socket (the kernel
 * spreads them); `round_robin`, the listener accepts and hands each connection to the next ready worker.
 */
export type ListenerMode = 'shared' | 'round_robin';
/** `warm`: a spare has booted node only; `hot`: it has also run the worker's module up to `serve()` / `ready()`. */
export type StandbyMode = 'warm' | 'hot';
/** A worker's `standby`: `true` (= `'warm'`), a mode, or a mode with the number of spares to keep. */
export type StandbyOption =
  | boolean
  | StandbyMode
  | {
      /** What the spares have run before they take over. */
      mode: StandbyMode;
      /** Spares kept for this start-up (default 1, at most 256). */
      count?: number;
    };

/** Why a child stopped. `normal`, `shutdown` and `{ shutdown }` are the normal ones; all others are abnormal. */
export type ExitReason =
  | 'normal'
  | 'shutdown'
  | {
      /** The worker called `shutdown(detail)`: the detail (a normal exit). */
      shutdown: unknown;
    }
  | {
      /** The process exited by itself with this non-zero code. */
      code: number;
    }
  | {
      /** The process was killed by this signal (`'SIGKILL'`). */
      signal: string;
    }
  /** Uncaught: a worker's exception, a task's rejection; `escaped` when it escaped a task (a callback, a floating promise). */
  | {
      /** An uncaught exception or unhandled rejection: its message (at most 4 KiB). */
      error: string;
      /** Its stack (at most 16 KiB). */
      stack?: string;
      /** It escaped a task: thrown in a callback the task set up, or a promise it left floating. */
      escaped?: true;
    }
  | {
      /** The child never became ready: `'timeout'`, or why (the module threw, the port was taken). */
      startFailed: string;
      /** The last lines the worker wrote to stderr before it died (bounded), when it wrote any. */
      stderr?: string[];
    }
  | {
      /** No heartbeat answer for this many ms: the worker was killed. */
      hung: number;
    }
  | {
      /** Its RSS, in bytes, passed `maxMemory`: the worker was killed. */
      memory: number;
    }
  | {
      /** Bytes buffered when the worker was killed for an over-long IPC line. */
      ipcOverflow: number;
    }
  | {
      /** A task given up on (brutal_kill, a shutdown timeout): why. Its code may still run; its resources are not reclaimed. */
      abandoned: string;
    }
  | {
      /** A thread ended by `terminate()` (brutal_kill, a shutdown timeout): why. */
      killed: string;
    }
  | {
      /** The host the child ran in went down with it (a thread that could not be terminated, a host process killed): why. */
      host_down: string;
    }
  | {
      /** A supervisor failed because of a defect in arbor itself (never a child's doing): the error. */
      internalError: string;
      /** Its stack. */
      stack?: string;
    };

/** A worker's `heartbeat`: how often it is pinged, and how long it may go without answering. */
export interface HeartbeatOptions {
  /** How often the supervisor pings the worker over IPC, in ms. */
  interval: number;
  /** A worker that has not answered a ping for this long is hung and gets SIGKILLed (`{ hung: ms }`). */
  timeout: number;
}

/**
 * The messages one kind of worker speaks, declared once and checked at both ends: `worker<M>()` /
 * `supervisor<M>()` type the tree's `call`/`cast`, and `onMessage<M>()` / `send<M>()` the worker's side.
 * `call` is what `tree.call` sends and `reply` what it resolves with; `cast` is what `tree.cast` sends; `send` is
 * what the worker sends the tree (`worker_message` events). Use `never` for a kind the worker does not speak.
 */
export interface Messages {
  /** What `tree.call` sends the worker. */
  call: unknown;
  /** What the worker's handler returns, and `tree.call` resolves with. */
  reply: unknown;
  /** What `tree.cast` sends the worker. */
  cast: unknown;
  /** What the worker's `send()` sends the tree (`worker_message` events). */
  send: unknown;
}

/** Type-only: carries a spec's message types to `createTree`; never present at run time. */
declare const messageTypes: unique symbol;

/** Restart backoff of one child, as written in a spec (docs/guides/supervision.md, "Restart backoff"). */
export interface BackoffSpec {
  /** ms before the first restart of a run of crashes. */
  min: number;
  /** ms: the delay grows up to this (before jitter). */
  max: number;
  /** Each restart in a row multiplies the delay by this (default 2). */
  factor?: number;
  /** The delay is stretched by a random fraction up to this (default 0.1): delay in [d, d × (1 + jitter)]. */
  jitter?: number;
  /** ms: a child that stayed up this long is healthy again, its next restart waits `min` (default `max`). */
  resetAfter?: number;
}
/** A backoff with every default filled in, as the supervisor uses it. */
export type BackoffOptions = Required<BackoffSpec>;

interface CommonChildSpec {
  /** Unique among its siblings; a child's path is the ids from the root joined by `/` (`root/pool/web-1`). */
  id: string;
  /**
   * When the child is restarted after it exits: `permanent` (default) always; `transient` only after an abnormal
   * exit; `temporary` never.
   */
  restart: RestartType;
  /**
   * How the child is stopped: a timeout in ms (default 5000 for workers, tasks and listeners: ask, then kill when it
   * passes), `brutal_kill` (at once), or `infinity` (wait; the default for supervisors).
   */
  shutdown: Shutdown;
  /**
   * With the parent's `autoShutdown`, this child's end (not followed by a restart) may stop the parent
   * (default false; only for transient and temporary children; OTP 24+).
   */
  significant: boolean;
  /**
   * Restart this child after growing delays while it keeps crashing: `min`, `min × factor`, … up to `max` ms,
   * each stretched by up to `jitter`; a child that stayed up `resetAfter` ms starts again from `min`. Off by
   * default (restarted at once, as OTP). Not on the root.
   */
  backoff?: BackoffSpec;
}

/** A worker child, defaults filled in (made by `worker({...})`). */
export interface WorkerSpec<M extends Messages = Messages> extends CommonChildSpec {
  /** The kind of child. */
  type: 'worker';
  /** @internal Type-only: the messages this worker speaks. */
  readonly [messageTypes]?: M;
  /**
   * The JavaScript file to run: absolute, or relative to `cwd` when given, else to the spec file's directory
   * (`arbor run spec.js`) or to the process's cwd (`createTree`/`start` from code).
   */
  module: string;
  /**
   * `process` (default): a forked OS process. `thread`: a `node:worker_threads` thread of the supervisor's process —
   * starts in milliseconds and costs a few MB; a crash, `process.exit`, heap OOM or a missed heartbeat ends only the
   * thread. A thread cannot `listen` (server handles are not transferable to threads on Node 20).
   */
  kind?: WorkerKind;
  /** Threads only: the V8 heap limits of the thread; over them the thread ends (its exit reason names the limit). */
  resourceLimits?: ResourceLimits;
  /** Arguments for the module (`process.argv.slice(2)`; default none); `startChild`'s args are appended. */
  args: string[];
  /** Environment added to the supervisor's own for this worker (default none). */
  env: Record<string, string>;
  /** Options for node itself (`--max-old-space-size=512`), as `child_process.fork`'s `execArgv` (default none). */
  execArgv: string[];
  /** The worker's working directory (default: the supervisor's). */
  cwd?: string;
  /** The id of a listener child (a sibling or a child of an ancestor) whose socket this worker serves. */
  listen?: string;
  /** ms from fork to the worker's `ready` before the start fails with `{ startFailed: 'timeout' }` (default 10000). */
  startTimeout: number;
  /**
   * `{ interval, timeout }` in ms: the supervisor pings the worker every `interval`; one that has not answered for
   * `timeout` is killed with `{ hung: ms }`. Off by default.
   */
  heartbeat?: HeartbeatOptions;
  /** Bytes of RSS above which the worker is killed with `{ memory: bytes }` (checked with heartbeats). Off by default. */
  maxMemory?: number;
  /**
   * Spare processes forked ahead of need, so that a restart takes one over instead of starting node:
   * `'warm'` (or `true`): node booted, the module not loaded yet; `'hot'`: the module loaded and run up to
   * `serve()` / `ready()`; `{ mode, count }`: keep `count` spares. Spares are kept per distinct start-up
   * (module, args, env, execArgv, cwd): identical workers of a pool share them.
   */
  standby?: StandbyOption;
  /** Largest message, in bytes of JSON, either way between the tree and this worker (`too_large` beyond); default 1 MiB. */
  maxMessageBytes?: number;
  /** Messages per second the worker may `send()` the tree (bursts up to this many; default 1000); the excess is dropped. */
  maxMessageRate?: number;
}

/** A listener child, defaults filled in (made by `listener({...})`). */
export interface ListenerSpec extends CommonChildSpec {
  /** The kind of child. */
  type: 'listener';
  /** The address to bind (default `127.0.0.1`). */
  host: string;
  /** The port to bind (default 0: any free port, logged in `listener_bound`). */
  port: number;
  /** The kernel's accept queue (default 2048; node's own default is 511; capped by `net.core.somaxconn`). */
  backlog: number;
  /**
   * `shared` (default): every worker accepts on the socket, the kernel spreads connections; `round_robin`: the
   * listener accepts and hands each connection to the next ready worker.
   */
  mode: ListenerMode;
  /**
   * Adopt an inherited, already listening descriptor instead of binding: a number, or a socket passed by systemd
   * socket activation — `'systemd'` (the only one passed) or `'systemd:<name>'` (its `FileDescriptorName=`).
   */
  fd?: number | 'systemd' | `systemd:${string}`;
}

/** A supervisor, defaults filled in (made by `supervisor({...})`); the root of a tree is one. */
export interface SupervisorSpec<M extends Messages = Messages> extends CommonChildSpec {
  /** The kind of child. */
  type: 'supervisor';
  /** @internal Type-only: the messages the workers of this tree speak. */
  readonly [messageTypes]?: M;
  /**
   * Which children restart when one exits (default `one_for_one`): `rest_for_one` restarts it and the children
   * after it, `one_for_all` all of them, `simple_one_for_one` runs children started at run time from `template`.
   */
  strategy: Strategy;
  /** Give up (terminate every child and exit `shutdown`) after more than this many restarts within `period` (default 1). */
  intensity: number;
  /** The window of `intensity`, in ms (default 5000). */
  period: number;
  /** Stop this supervisor when `any_significant` or `all_significant` children have ended (default `never`). */
  autoShutdown: AutoShutdown;
  /** The children, started in this order and stopped in reverse (default none). */
  children: ChildSpec[];
  /**
   * simple_one_for_one only: every dynamic child is started from this template plus `startChild`'s args. A worker,
   * or a supervisor: then each dynamic child is a whole subtree, and the args reach every worker in it.
   */
  template?: WorkerSpec | SupervisorSpec | TaskSpec | HostedTaskSpec;
  /**
   * Root only: pools of task hosts by name, `{ jobs: { kind: 'process', size: 4, heartbeat } }`; a task names one in
   * `host` (with the `module` the host imports) and runs there instead of on the supervisor's event loop.
   */
  hosts?: Record<string, HostSpec>;
  /**
   * Root only: when the tree is asked to stop (stop(), SIGTERM), everything keeps serving this many ms before the
   * workers drain, so a load balancer has time to take the instance out.
   */
  drainDelay?: number;
}

/** A message to a task's `onMessage` handler: `call` when `tree.call` waits for the returned value, else `cast`. */
export type TaskMessageHandler<M extends Messages = Messages> = (
  message: M['call'] | M['cast'],
  context: { kind: 'call' | 'cast' },
) => M['reply'] | Promise<M['reply']> | void | Promise<void>;

/** What a task's `run` receives. */
export interface TaskContext<M extends Messages = Messages> {
  /** Aborted when the supervisor stops the task (its shutdown), or when the task is given up on. */
  readonly signal: AbortSignal;
  /** The task's id among its siblings (`session-12` for a dynamic child). */
  readonly id: string;
  /** The task's path in the tree (`root/sessions/session-12`). */
  readonly path: string;
  /** The spec's args, then `startChild`'s extra args for a dynamic child. */
  readonly args: readonly string[];
  /** Emits a `worker_message` event on the tree with this task's path; false once the task has ended. */
  send(message: M['send']): boolean;
  /** Handles `tree.call`/`tree.cast` to this task; `undefined` removes the handler. One handler: a new one replaces it. */
  onMessage(handler: TaskMessageHandler<M> | undefined): void;
  /** The tree's logger, bound to this task (`{ supervisor, child }`). */
  readonly log: Logger;
  /**
   * `fn`, made part of this task: what it starts belongs to the task, and a throw from it is the task's escape.
   * For callbacks on objects the task did not create (a socket the host's server accepted, the host's emitters),
   * which otherwise run in their creator's context and would fail the host.
   */
  bind<A extends unknown[], R>(fn: (...args: A) => R): (...args: A) => R | undefined;
}

/**
 * A task child: an async function supervised like a process. Resolving is exit `normal`; rejecting or throwing is
 * `{ error }`; an error escaping it (a throw in a callback it set up, a floating rejected promise) is
 * `{ error, escaped: true }`. Asked to stop, it sees `signal` abort and has `shutdown` ms to settle.
 */
export interface TaskSpec<M extends Messages = Messages> extends CommonChildSpec {
  /** The kind of child. */
  type: 'task';
  /** @internal Type-only: the messages this task speaks. */
  readonly [messageTypes]?: M;
  /**
   * The function: resolving is exit `normal`, rejecting or throwing `{ error }`. Asked to stop, it sees
   * `context.signal` abort and has `shutdown` ms to settle.
   */
  run(context: TaskContext<M>): unknown;
  /** Args for the task (`context.args`; default none); `startChild`'s args are appended. */
  args: string[];
  /** Where it runs: `inline` (default), in the supervisor's own process. */
  host: TaskHost;
}

/** A supervisor's fields other than its identity and children: those a running supervisor may take anew (a reload). */
export type SupervisorFlags = Partial<Omit<SupervisorSpec, 'id' | 'type' | 'children'>>;

/**
 * A task run in a host (a pool named in the root's `hosts`) instead of the supervisor's own process: a function no
 * closure can carry across a process or thread boundary, so it names the module the host imports and its export.
 * It gets the same context and ends with the same reasons as an inline task, and `{ host_down }` when its host dies.
 */
export interface HostedTaskSpec<M extends Messages = Messages> extends CommonChildSpec {
  /** The kind of child. */
  type: 'task';
  /** @internal Type-only: the messages this task speaks. */
  readonly [messageTypes]?: M;
  /** The module the host imports: absolute, or relative as a worker's `module` (the spec file's directory). */
  module: string;
  /** The export of `module` that is the task's function, called with the task's context (default `default`). */
  export?: string;
  /** The task's args (`context.args`); a dynamic child's `startChild` args are appended. */
  args: string[];
  /** The name of a host pool declared in the root's `hosts`. */
  host: string;
}

/** Any child of a supervisor. */
export type ChildSpec = WorkerSpec | ListenerSpec | SupervisorSpec | TaskSpec | HostedTaskSpec;

/** Whether a child ended normally (`normal`, `shutdown`, `{ shutdown }`): a transient child is then not restarted. */
export function isNormalExit(reason: ExitReason): boolean {
  return reason === 'normal' || reason === 'shutdown' || (typeof reason === 'object' && 'shutdown' in reason);
}

/** An exit reason as one line: a string as it is, an object as JSON. */
export function formatReason(reason: ExitReason): string {
  return typeof reason === 'string' ? reason : JSON.stringify(reason);
}

/** An exit reason in words, for messages a person reads (logs and `--json` keep the reason itself). */
export function describeReason(reason: ExitReason): string {
  if (typeof reason === 'string') return reason;
  if ('startFailed' in reason) {
    const stderr = Array.isArray(reason.stderr) ? reason.stderr : [];
    return stderr.length === 0
      ? String(reason.startFailed)
      : `${String(reason.startFailed)}; its last stderr lines:\n${stderr.map((l) => `    ${l}`).join('\n')}`;
  }
  if ('error' in reason) return `${reason.escaped ? 'escaped' : 'uncaught'} ${String(reason.error)}`;
  if ('code' in reason) return `exited with code ${reason.code}`;
  if ('signal' in reason) return `killed by ${reason.signal}`;
  if ('hung' in reason) return `hung (no heartbeat answer for ${reason.hung} ms)`;
  if ('memory' in reason) return `over its memory limit (${reason.memory} bytes)`;
  if ('shutdown' in reason) return 'shut itself down';
  if ('abandoned' in reason) return `abandoned (${reason.abandoned})`;
  if ('killed' in reason) return `killed (${reason.killed})`;
  if ('host_down' in reason) return `its host went down: ${reason.host_down}`;
  if ('internalError' in reason) return `internal error: ${reason.internalError}`;
  return formatReason(reason);
}
