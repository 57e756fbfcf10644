// The supervisor's side of one task incarnation: an async function run in the supervisor's own process (`inline`),
// behind the same ChildHandle contract as a forked worker. Started as soon as `run` is called; its settling is its
// exit; a stop aborts its signal and waits `shutdown` ms; brutal_kill or a timeout abandons it.
import { StartFailure, type ChildContext, type ChildHandle } from '../child.js';
import { CallError } from '../call-error.js';
import type { ChaosFault } from '../protocol.js';
import type { Logger } from 'pino';
import { TaskIncarnation } from '../task-incarnation.js';
import type { ExitReason, Shutdown, TaskContext, TaskMessageHandler, TaskSpec } from '../types.js';
import { ownerNow, runOwned, type EscapeOwner } from './escape.js';

export class TaskHandle extends TaskIncarnation implements ChildHandle, EscapeOwner {
  readonly pid = undefined;
  private controller: AbortController | undefined;
  private handler: TaskMessageHandler | undefined;
  /** Calls waiting for the handler's reply: rejected with `exited` when the task ends first. Made at the first call. */
  private waiting: Set<(error: CallError) => void> | undefined;

  constructor(
    private readonly spec: TaskSpec,
    ctx: ChildContext,
  ) {
    super(ctx);
  }

  start(): Promise<void> {
    try {
      this.startNow();
    } catch (error) {
      return Promise.reject(error);
    }
    return Promise.resolve();
  }

  /** Calls `run`: the task is started once it is called (no promise, so a burst of starts makes none of its own). */
  startNow(): void {
    if (this.phase !== 'idle' || this.stopRequested) throw new StartFailure({ startFailed: 'terminated before start' });
    this.phase = 'running';
    const context = this.context();
    runOwned(this, () => {
      let result: unknown;
      try {
        result = this.spec.run(context);
      } catch (error) {
        result = Promise.reject(error);
      }
      // Watched from inside the task's own context: its settling runs there too, and finds this handle as the
      // context's owner, so no closure pair is kept per running task (thousands of them).
      Promise.resolve(result).then(ranToEnd, failed);
    });
  }

  /** `run` settled: the incarnation's end. */
  settled(error: unknown, rejected: boolean): void {
    if (!rejected) this.end(this.phase === 'stopping' ? 'shutdown' : 'normal');
    else this.end(this.phase === 'stopping' && this.isAbort(error) ? 'shutdown' : errorReason(error));
  }

  protected get shutdown(): Shutdown {
    return this.spec.shutdown;
  }

  protected stopRunning(shutdown: number | 'infinity'): Promise<ExitReason> {
    this.phase = 'stopping';
    this.controller?.abort(new StopRequested());
    return this.goneWithin(shutdown);
  }

  /** Abandons the task now: its signal aborts, its exit is `{ abandoned }`; whatever it still runs is not reclaimed. */
  kill(): Promise<ExitReason> {
    this.stopRequested = true;
    if (this.phase === 'gone') return Promise.resolve(this.exitReason!);
    return this.settleNow({ abandoned: 'brutal_kill' });
  }

  /** An error escaped this task's own code (escape.ts): the task exits with it, unless it has already ended. */
  escaped(error: unknown): void {
    if (this.phase === 'gone') {
      this.ctx.logger.warn({ event: 'task_escape_after_exit', err: error });
      return;
    }
    this.end({ ...errorReason(error), escaped: true });
  }

  /**
   * Chaos testing: `throw` makes an exception escape the task's own context (as a bug in a callback would);
   * `exit` crashes it where it stands. The others would hold up the supervisor's own process: refused.
   */
  inject(fault: ChaosFault): boolean {
    if (!this.available) return false;
    switch (fault) {
      case 'throw':
        runOwned(this, () =>
          setImmediate(() => {
            throw new Error('arbor chaos: injected uncaught exception');
          }),
        );
        return true;
      case 'exit':
        this.end({ error: 'arbor chaos: injected exit' });
        return true;
      default:
        throw new CallError(
          'not_found',
          `a task runs in the supervisor's process: fault '${fault}' would hit its host, not the task`,
        );
    }
  }

  /** Running, and not being stopped: it can take calls and casts. */
  get available(): boolean {
    return this.phase === 'running';
  }

  get pendingCalls(): number {
    return this.waiting?.size ?? 0;
  }

  /** Runs the task's onMessage handler (in the task's context) and resolves with its value; rejects with a CallError. */
  call(message: unknown, timeoutMs: number): Promise<unknown> {
    const handler = this.handler;
    if (!this.available) return Promise.reject(new CallError('not_running', `'${this.ctx.path}' is not running`));
    if (handler === undefined)
      return Promise.reject(new CallError('no_handler', `'${this.ctx.path}' has no onMessage handler`));
    return new Promise((resolve, reject) => {
      const fail = (error: CallError): void => {
        clearTimeout(timer);
        this.waiting?.delete(fail);
        reject(error);
      };
      const timer = setTimeout(
        () => fail(new CallError('timeout', `'${this.ctx.path}' did not reply within ${timeoutMs} ms`)),
        timeoutMs,
      );
      (this.waiting ??= new Set()).add(fail);
      const answered = (value: unknown): void => {
        if (!this.waiting?.delete(fail)) return;
        clearTimeout(timer);
        resolve(value);
      };
      try {
        Promise.resolve(runOwned(this, () => handler(message, { kind: 'call' }))).then(answered, (error: unknown) =>
          fail(new CallError('handler_failed', `'${this.ctx.path}': ${errorReason(error).error}`)),
        );
      } catch (error) {
        fail(new CallError('handler_failed', `'${this.ctx.path}': ${errorReason(error).error}`));
      }
    });
  }

  /** Hands `message` to the task's onMessage handler; no answer. Throws CallError when the task cannot take it. */
  cast(message: unknown): void {
    if (!this.available) throw new CallError('not_running', `'${this.ctx.path}' is not running`);
    const handler = this.handler;
    if (handler === undefined) throw new CallError('no_handler', `'${this.ctx.path}' has no onMessage handler`);
    // A failing cast handler is the task's failure, as an escape is: nobody else is there to hear of it.
    const fail = (error: unknown): void => this.escaped(error);
    try {
      const result = runOwned(this, () => handler(message, { kind: 'cast' }));
      if (isThenable(result)) result.then(undefined, fail);
    } catch (error) {
      fail(error);
    }
  }

  private context(): TaskContext {
    return new RunContext(this, this.ctx, this.spec);
  }

  /** The task's `send`: a `worker_message` event, while it runs. */
  sendFromTask(message: unknown): boolean {
    if (this.phase === 'gone') return false;
    this.ctx.onWorkerMessage?.(message, undefined);
    return true;
  }

  /** The task's `onMessage`. */
  setHandler(handler: TaskMessageHandler | undefined): void {
    if (handler !== undefined && typeof handler !== 'function')
      throw new TypeError('arbor: onMessage(handler) takes a function');
    this.handler = handler;
  }

  /** The task's `bind`: `fn` run as the task's own code; what it throws is the task's escape. */
  bindOwned<A extends unknown[], R>(fn: (...args: A) => R): (...args: A) => R | undefined {
    return (...args: A): R | undefined => {
      try {
        return runOwned(this, () => fn(...args));
      } catch (error) {
        this.escaped(error);
        return undefined;
      }
    };
  }

  /** Made on first use: a task that never looks at its signal costs no AbortController. */
  signal(): AbortSignal {
    this.controller ??= new AbortController();
    if (this.phase === 'gone' && !this.controller.signal.aborted) this.controller.abort(new StopRequested());
    return this.controller.signal;
  }

  private isAbort(error: unknown): boolean {
    return error instanceof StopRequested || (error instanceof Error && error.name === 'AbortError');
  }

  /** Its end: pending calls fail, the signal aborts. */
  protected release(reason: ExitReason): void {
    this.handler = undefined;
    this.controller?.abort(new StopRequested());
    if (this.waiting !== undefined)
      for (const fail of [...this.waiting])
        fail(new CallError('exited', `'${this.ctx.path}' exited before replying`, reason));
  }
}

/**
 * What `run` gets. A class rather than an object literal: a literal with getters costs microseconds to build, a
 * large part of a task's start. `signal`, `log`, `send`, `bind` and `onMessage` are made on first use (their getters
 * sit on the prototype, so destructuring reads them, as it did); the functions are bound to the task, so they too can
 * be destructured, and a task that uses none of them costs none.
 */
class RunContext implements TaskContext {
  readonly id: string;
  readonly args: readonly string[];
  readonly #handle: TaskHandle;
  readonly #ctx: ChildContext;
  #send: TaskContext['send'] | undefined;
  #bind: TaskContext['bind'] | undefined;
  #onMessage: TaskContext['onMessage'] | undefined;

  constructor(handle: TaskHandle, ctx: ChildContext, spec: TaskSpec) {
    this.#handle = handle;
    this.#ctx = ctx;
    this.id = spec.id;
    this.args = spec.args;
  }

  get path(): string {
    return this.#ctx.path;
  }

  get signal(): AbortSignal {
    return this.#handle.signal();
  }

  get log(): Logger {
    return this.#ctx.logger;
  }

  get send(): TaskContext['send'] {
    const handle = this.#handle;
    return (this.#send ??= (message) => handle.sendFromTask(message));
  }

  get bind(): TaskContext['bind'] {
    const handle = this.#handle;
    return (this.#bind ??= (fn) => handle.bindOwned(fn));
  }

  get onMessage(): TaskContext['onMessage'] {
    const handle = this.#handle;
    return (this.#onMessage ??= (handler) => handle.setHandler(handler as TaskMessageHandler | undefined));
  }
}

/** `run` resolved: called in the task's own context (startNow), whose owner is its handle. */
function ranToEnd(): void {
  (ownerNow() as TaskHandle).settled(undefined, false);
}

/** `run` rejected or threw. */
function failed(error: unknown): void {
  (ownerNow() as TaskHandle).settled(error, true);
}

/** Why `run` stopped, when it was the supervisor that asked: the signal's abort reason. */
class StopRequested extends Error {
  constructor() {
    super('the supervisor stopped this task');
    this.name = 'AbortError';
  }
}

function errorReason(error: unknown): { error: string; stack?: string } {
  if (error instanceof Error)
    return { error: error.message || error.name, ...(typeof error.stack === 'string' ? { stack: error.stack } : {}) };
  return { error: typeof error === 'string' ? error : safeString(error) };
}

function safeString(value: unknown): string {
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return Object.prototype.toString.call(value);
  }
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as { then?: unknown } | null)?.then === 'function';
}
