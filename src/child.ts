// The contract between a supervisor and any child it runs: a forked worker, a listener, a nested supervisor.
// The supervisor only decides; a ChildHandle does the I/O of one incarnation of one child.
import type { ChildProcess } from 'node:child_process';
import type { Logger } from 'pino';
import type { ChaosFault } from './protocol.js';
import { describeReason, type ExitReason } from './types.js';

/** Thrown (rejected) by `ChildHandle.start()`: the child did not start, and nothing of it is left running. */
export class StartFailure extends Error {
  /** @param reason Why it did not start: the child's exit reason. */
  constructor(readonly reason: ExitReason) {
    super(`start failed: ${describeReason(reason)}`);
    this.name = 'StartFailure';
  }
}

/** One incarnation of a child. A restart creates a new handle. */
export interface ChildHandle {
  /** OS pid of a worker; undefined for in-process children or before fork. */
  readonly pid: number | undefined;
  /** Resolves once the child is started (a worker: it sent `ready`); rejects with StartFailure, leaving nothing alive. */
  start(): Promise<void>;
  /**
   * A child that is started as soon as it is asked (a task: once its function is called) may start there and then,
   * instead of start(): no promise, which a burst of thousands of starts would pay for. Throws StartFailure.
   */
  startNow?(): void;
  /**
   * Stops the child as its `shutdown` value says and resolves with its exit reason once it is gone.
   * Never rejects. After terminate() is called, the `onExit` callback given at creation is not called.
   */
  terminate(): Promise<ExitReason>;
  /** Forced stop: SIGKILL / immediate close, whatever the shutdown value. Resolves when gone. */
  kill(): Promise<ExitReason>;
}

/** A child that takes `tree.call`/`tree.cast` (a worker process or thread, a task). */
export interface Addressable {
  /** Running, and not being stopped. */
  readonly available: boolean;
  /** Calls waiting for its reply (what `pick: 'least_busy'` compares). */
  readonly pendingCalls: number;
  call(message: unknown, timeoutMs: number): Promise<unknown>;
  cast(message: unknown): void;
}

export function isAddressable(handle: ChildHandle | undefined): handle is ChildHandle & Addressable {
  return handle !== undefined && typeof (handle as Partial<Addressable>).call === 'function' && 'available' in handle;
}

/** A child that can inflict a chaos fault on itself: answers whether it took it (or throws a CallError why not). */
export interface FaultTarget {
  inject(fault: ChaosFault): number | boolean | undefined;
}

/** What a child handle gets from its supervisor at creation. */
export interface ChildContext {
  /** Path of the child in the tree, e.g. `root/pool/w1`. */
  path: string;
  logger: Logger;
  /** Called at most once, when the child exits by itself after start() resolved. */
  onExit(reason: ExitReason): void;
  /** The running listener with this id, resolved among siblings and ancestors' children. */
  resolveListener(id: string): ListenerLink | undefined;
  /**
   * True when this child's crash restarts only this child, at once (`one_for_one`, `simple_one_for_one`): a hot
   * standby spare may then start serving for it as soon as its death is certain, before the restart it will become.
   */
  restartsAlone?(): boolean;
  /** A message the worker sent with `send()` (within its size and rate limits). */
  onWorkerMessage?(message: unknown, pid: number | undefined): void;
}

/** A running listener, as the workers that serve it see it. */
export interface ListenerLink {
  readonly id: string;
  readonly address: { host: string; port: number };
  /**
   * Give a freshly forked worker what it needs to serve: in `shared` mode the listening handle is sent at once,
   * in `round_robin` mode the worker is told to expect connections. Call before waiting for `ready`.
   */
  attach(worker: ChildProcess): WorkerAttachment;
  /**
   * `shared` mode only: hands a parked hot standby spare the listening handle ahead of its takeover, so that taking
   * over costs one small message. Until `claim()` (it took over), the spare's copy is the listener's to take back:
   * when the listener closes it calls `giveBack` and waits for it (the copy would keep the old socket listening).
   */
  arm?(spare: ChildProcess, giveBack: () => Promise<void>): ArmedAttachment;
}

/** A parked spare's hold on a listener's handle (ListenerLink.arm). */
export interface ArmedAttachment extends WorkerAttachment {
  /** The spare is a worker now: the listener no longer takes the handle back when it closes. */
  claim(): void;
}

export interface WorkerAttachment {
  /** The worker announced ready: round_robin starts handing it connections. */
  ready(): void;
  /** The worker is gone (or stopping): stop sending to it; connections it never acknowledged are re-dispatched. */
  detach(): void;
}
