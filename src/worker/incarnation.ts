// The supervisor's side of one worker incarnation, whichever way the worker runs: a forked process (./process.ts)
// or a thread (../thread/handle.ts). What both are: a phase and last words, start/terminate/kill each carried out
// once, calls and casts, the messages both runtimes send, and the end of the incarnation. How one is started,
// written to and ended is the subclass's.
import { StartFailure, type Addressable, type ChildContext, type ChildHandle } from '../child.js';
import { CallError } from '../call-error.js';
import { Outbox } from '../batching.js';
import { parseWorkerMessage, type BatchedParentMessage, type ParentMessage } from '../protocol.js';
import type { ExitReason, Shutdown, WorkerSpec } from '../types.js';
import { preview, type LastWords } from './exit-reason.js';
import { HealthChecks } from './health.js';
import { IgnoredMessages } from './inbox.js';
import { messageLimits, WorkerMessaging } from './messaging.js';
import { exitIsNews, type Phase } from './phase.js';

export type StartOutcome = 'ready' | 'timeout' | 'exited' | 'stopped';

export abstract class Incarnation implements ChildHandle, Addressable {
  abstract readonly pid: number | undefined;
  /** Where this incarnation is in its life; the cause it is ended for (`{ hung }`, `{ killed }`, `{ memory }`) included. */
  protected phase: Phase = { name: 'new' };
  protected readonly lastWords: LastWords = {};
  protected readonly gone: Promise<ExitReason>;
  private markGone!: (reason: ExitReason) => void;
  /** While starting: how the start ends (`ready`, or why not). */
  protected settleStart: ((outcome: StartOutcome) => void) | undefined;
  private starting: Promise<void> | undefined;
  private stopping: Promise<ExitReason> | undefined;
  private killing: Promise<ExitReason> | undefined;
  protected readonly health: HealthChecks;
  protected readonly messaging: WorkerMessaging;
  /** Calls and casts wait here until the end of the tick, to go out together. */
  private readonly outbox = new Outbox<BatchedParentMessage>((message) => this.write(message));
  protected readonly ignored = new IgnoredMessages((summary) =>
    this.ctx.logger.warn({ event: 'ipc_ignored', ...this.identity(), ...summary }),
  );

  constructor(
    protected readonly spec: WorkerSpec,
    protected readonly ctx: ChildContext,
    /** What of the spec the health checks apply (a thread's memory is bounded by its resourceLimits instead). */
    healthSpec: Pick<WorkerSpec, 'heartbeat' | 'maxMemory'>,
  ) {
    this.gone = new Promise((resolve) => (this.markGone = resolve));
    this.health = new HealthChecks(healthSpec, {
      pid: () => this.pid,
      ping: (seq) => this.send({ type: 'arbor:ping', seq }),
      kill: (cause) => this.endFor(cause),
    });
    this.messaging = new WorkerMessaging(messageLimits(spec), {
      path: ctx.path,
      logger: ctx.logger,
      pid: () => this.pid,
      send: (message) => this.queue(message),
      deliver: (message) => ctx.onWorkerMessage?.(message, this.pid),
    });
  }

  start(): Promise<void> {
    return (this.starting ??= this.launch());
  }

  terminate(): Promise<ExitReason> {
    return (this.stopping ??= this.killing ?? this.stop(this.spec.shutdown));
  }

  kill(): Promise<ExitReason> {
    return (this.killing ??= this.stop('brutal_kill'));
  }

  /** Running, and not being stopped: it can take calls and casts. */
  abstract get available(): boolean;

  /** Calls waiting for this worker's reply (what `pick: 'least_busy'` compares). */
  get pendingCalls(): number {
    return this.messaging.pending;
  }

  /** Sends `message` to the worker's onMessage handler and resolves with its reply; rejects with a CallError. */
  call(message: unknown, timeoutMs: number): Promise<unknown> {
    if (!this.available) return Promise.reject(new CallError('not_running', `'${this.ctx.path}' is not running`));
    return this.messaging.call(message, timeoutMs);
  }

  /** Sends `message` to the worker's onMessage handler; no answer. Throws CallError when it cannot be sent. */
  cast(message: unknown): void {
    if (!this.available) throw new CallError('not_running', `'${this.ctx.path}' is not running`);
    this.messaging.cast(message);
  }

  /** Runs it; resolves once it said `ready`, rejects with StartFailure, leaving nothing of it running. */
  protected abstract launch(): Promise<void>;
  /** Stops it as `how` says; resolves with its exit reason once it is gone. */
  protected abstract stop(how: Shutdown): Promise<ExitReason>;
  /** Ends it for its health or its conduct: `cause` becomes its exit reason. */
  protected abstract endFor(cause: ExitReason): void;
  /** What names it in a log line (`{ pid }`, `{ threadId }`). */
  protected abstract identity(): Record<string, unknown>;
  /** False when nothing can be written to it any more. */
  protected abstract writable(): boolean;
  /** Writes one message now; false when it could not. */
  protected abstract write(msg: ParentMessage): boolean;

  /** Through methods, so that TypeScript does not narrow `phase` across the awaits where it changes. */
  protected enter(next: Phase): void {
    this.phase = next;
  }

  protected current(): Phase {
    return this.phase;
  }

  protected async failAfterStop(): Promise<never> {
    await this.gone;
    throw new StartFailure({ startFailed: 'terminated before ready' });
  }

  /** A message from the worker's runtime. */
  protected onMessage(raw: unknown): void {
    const msg = parseWorkerMessage(raw);
    if (msg === undefined) {
      this.ignored.note(() => preview(raw));
      return;
    }
    switch (msg.type) {
      case 'arbor:ready':
        this.settleStart?.('ready');
        return;
      case 'arbor:error':
        this.lastWords.error = { message: msg.message, ...(msg.stack !== undefined ? { stack: msg.stack } : {}) };
        return;
      case 'arbor:exit-shutdown':
        this.lastWords.selfShutdown = { detail: msg.detail, at: performance.now() };
        return;
      case 'arbor:pong':
        this.health.pong();
        return;
      case 'arbor:listening':
      case 'arbor:connection-ack':
      case 'arbor:parked':
      case 'arbor:revoked':
      case 'arbor:promoted':
      case 'arbor:unwatched':
        // The listener's and the standby pool's business: they read them from the ChildProcess they were given
        // (a thread serves no listener and is never a spare).
        return;
      case 'arbor:reply':
      case 'arbor:send':
        this.messaging.receive(msg);
        return;
      case 'arbor:batch':
        for (const message of msg.messages) this.messaging.receive(message);
        return;
    }
  }

  /** It is gone, for `reason`: what waits for it learns so, and its supervisor too unless it was asked to stop. */
  protected finish(reason: ExitReason): void {
    const before = this.phase;
    if (before.name === 'exited') return;
    this.health.stop();
    this.ignored.flush();
    this.enter({ name: 'exited', reason });
    this.markGone(reason);
    this.messaging.close(reason);
    this.settleStart?.('exited');
    if (exitIsNews(before)) this.ctx.onExit(reason);
  }

  /** Sent now, after the calls and casts queued before it. False when it could not be written. */
  protected send(msg: ParentMessage): boolean {
    this.outbox.flush();
    return this.write(msg);
  }

  /** A call or cast, sent at the end of the tick with the others of the same tick. */
  private queue(msg: BatchedParentMessage): boolean {
    if (!this.writable()) return false;
    this.outbox.push(msg);
    return true;
  }
}
