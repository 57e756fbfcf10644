// The supervisor's side of one thread incarnation (`worker({ kind: 'thread' })`): a node:worker_threads Worker that
// runs the module with the same worker runtime (`arbor-otp/worker`) and the same IPC protocol, over its MessagePort.
// A throw, process.exit, heap OOM (resourceLimits) or a missed heartbeat ends only the thread (terminate()).
import { existsSync } from 'node:fs';
import { resolve as resolvePath } from 'node:path';
import { Worker } from 'node:worker_threads';
import { StartFailure, type ChildContext } from '../child.js';
import type { ChaosFault, ParentMessage } from '../protocol.js';
import type { ExitReason, Shutdown, WorkerSpec } from '../types.js';
import { exitReasonOf, startFailureOf } from '../worker/exit-reason.js';
import { Incarnation, type StartOutcome } from '../worker/incarnation.js';
import { blame, causeOf, isLive, ready, stopping, wasAsked } from '../worker/phase.js';
import { captureOutput } from '../worker/output.js';
import { outputSink, type OutputLog } from '../worker/output-log.js';
import { messageLimitEnv, messageLimits } from '../worker/messaging.js';

/**
 * How long terminate() may take before the thread counts as stuck: JavaScript is stopped at once, but a thread
 * blocked in a system call (a synchronous read of a pipe nobody writes) is only stopped when the call returns.
 */
export const TERMINATE_GRACE_MS = 5000;
const MIB = 1024 * 1024;

let threadsAlive = 0;
/** Threads created for thread children and not yet ended, stuck ones (given up as `{ host_down }`) included. */
export const liveThreads = (): number => threadsAlive;

export class ThreadHandle extends Incarnation {
  readonly pid = undefined;
  private thread: Worker | undefined;

  constructor(
    spec: WorkerSpec,
    ctx: ChildContext,
    /** The tree's record of its workers' recent output. */
    private readonly outputLog?: OutputLog,
  ) {
    // Its memory is bounded by resourceLimits (the thread's own heap), not by the process's RSS.
    super(spec, ctx, { heartbeat: spec.heartbeat });
  }

  /** The thread's id in this process, while it runs. */
  get threadId(): number | undefined {
    return this.thread?.threadId;
  }

  get available(): boolean {
    return this.phase.name === 'running';
  }

  /** Chaos testing: the thread's runtime inflicts `fault` on itself (with ARBOR_CHAOS=1 in its env). */
  inject(fault: ChaosFault): boolean {
    if (!this.available) return false;
    return this.send({ type: 'arbor:chaos', fault });
  }

  protected async launch(): Promise<void> {
    const modulePath = resolvePath(process.cwd(), this.spec.module);
    if (!existsSync(modulePath)) throw new StartFailure({ startFailed: `module not found: ${modulePath}` });
    if (this.phase.name !== 'new') throw new StartFailure({ startFailed: 'terminated before start' });
    this.enter({ name: 'starting' });
    const outcome = new Promise<StartOutcome>((resolve) => (this.settleStart = resolve));
    let thread: Worker;
    try {
      thread = new Worker(modulePath, {
        argv: this.spec.args,
        env: {
          ...process.env,
          ...this.spec.env,
          ...messageLimitEnv(messageLimits(this.spec)),
          ARBOR_WORKER: '1',
          ARBOR_THREAD: '1',
          ARBOR_CHILD_PATH: this.ctx.path,
        },
        execArgv: this.spec.execArgv,
        workerData: { arbor: 'thread' },
        // Read line by line as a process worker's output is (../worker/output.ts), never written raw to the
        // supervisor's stdout, where it would break the JSON log.
        stdout: true,
        stderr: true,
        ...(this.spec.resourceLimits !== undefined ? { resourceLimits: this.spec.resourceLimits } : {}),
      });
    } catch (err) {
      throw new StartFailure({ startFailed: `thread failed: ${errorMessage(err)}` });
    }
    this.thread = thread;
    // A Worker has what the capture reads of a ChildProcess: stdout, stderr, and 'exit'.
    captureOutput(thread as unknown as Parameters<typeof captureOutput>[0]).attach(
      outputSink(this.ctx.path, this.ctx.logger, this.outputLog),
    );
    threadsAlive += 1;
    thread.once('exit', () => (threadsAlive -= 1));
    thread.on('message', (raw: unknown) => this.onMessage(raw));
    // Always: a thread's 'error' with no listener would be thrown in the supervisor's process.
    thread.on('error', (err) => this.onError(err));
    thread.once('exit', (code) => this.onExit(code));
    const timer = setTimeout(() => this.settleStart?.('timeout'), this.spec.startTimeout);
    timer.unref();
    const result = await outcome;
    clearTimeout(timer);
    this.settleStart = undefined;
    switch (result) {
      case 'ready':
        return this.becomeRunning(thread);
      case 'timeout':
        this.ctx.logger.warn({ event: 'start_timeout', threadId: thread.threadId, timeout: this.spec.startTimeout });
        this.endThread();
        await this.gone;
        throw new StartFailure({ startFailed: 'timeout' });
      case 'exited': {
        const phase = this.current();
        throw new StartFailure({ startFailed: startFailureOf(phase.name === 'exited' ? phase.reason : { code: -1 }) });
      }
      case 'stopped':
        return this.failAfterStop();
    }
  }

  /** The thread said `ready`; it may have ended, been stopped or been condemned meanwhile. */
  private async becomeRunning(thread: Worker): Promise<void> {
    const phase = this.current();
    if (phase.name === 'exited') throw new StartFailure({ startFailed: startFailureOf(phase.reason) });
    if (phase.name === 'stopping') return this.failAfterStop();
    this.enter(ready(phase));
    if (phase.name === 'unhealthy') return; // being ended: its exit will be news, as a running thread's
    this.health.start();
    this.ctx.logger.debug({ event: 'thread_ready', threadId: thread.threadId });
  }

  protected async stop(how: Shutdown): Promise<ExitReason> {
    const before = this.phase;
    this.enter(stopping(before, false));
    this.health.stop();
    this.settleStart?.('stopped');
    if (this.thread === undefined) return 'shutdown';
    if (before.name === 'exited') return before.reason;
    if (how === 'brutal_kill') {
      this.enter(blame(this.current(), { killed: 'brutal_kill' }));
      this.endThread();
      return this.gone;
    }
    this.enter(stopping(this.current(), true));
    this.send({ type: 'arbor:shutdown' });
    if (how === 'infinity') return this.gone;
    const timer = setTimeout(() => {
      this.ctx.logger.warn({ event: 'shutdown_timeout', threadId: this.threadId, timeout: how });
      this.enter(blame(this.current(), { killed: `did not stop within its shutdown of ${how} ms` }));
      this.endThread();
    }, how);
    const reason = await this.gone;
    clearTimeout(timer);
    return reason;
  }

  /** Ended for its health or its conduct: `cause` becomes its exit reason. */
  protected endFor(cause: ExitReason): void {
    if (!isLive(this.phase)) return;
    this.enter(blame(this.phase, cause));
    this.health.stop();
    this.ctx.logger.warn({ event: 'thread_unhealthy', threadId: this.threadId, reason: cause });
    this.endThread();
  }

  /**
   * terminate() stops the thread's JavaScript at once; a thread blocked in a system call ends only when the call
   * returns. One that is not gone within TERMINATE_GRACE_MS is stuck: it is reported to its host (the supervisor's
   * process, where it still holds memory and a native thread) and given up as `{ host_down }`.
   */
  private endThread(): void {
    const thread = this.thread;
    if (thread === undefined || this.phase.name === 'exited') return;
    void thread.terminate().catch(() => undefined);
    const stuck = setTimeout(() => {
      if (this.current().name === 'exited') return;
      const why =
        `thread ${thread.threadId} did not end within ${TERMINATE_GRACE_MS} ms of terminate() (blocked in a system call?); ` +
        'it is abandoned in the host process, which must be restarted to reclaim it';
      this.ctx.logger.error({ event: 'thread_unkillable', threadId: thread.threadId, reason: why });
      this.finish({ host_down: why });
    }, TERMINATE_GRACE_MS);
    stuck.unref();
  }

  /** An error the runtime did not report itself: over resourceLimits, or thrown before the runtime was loaded. */
  private onError(err: Error): void {
    const code = (err as { code?: unknown }).code;
    const heapMb = this.spec.resourceLimits?.maxOldGenerationSizeMb;
    if (code === 'ERR_WORKER_OUT_OF_MEMORY')
      this.enter(blame(this.phase, heapMb !== undefined ? { memory: heapMb * MIB } : { error: err.message }));
    this.lastWords.error ??= { message: err.message, ...(err.stack !== undefined ? { stack: err.stack } : {}) };
    this.ctx.logger.warn({ event: 'thread_error', threadId: this.threadId, err });
  }

  private onExit(code: number): void {
    // terminate() ends a thread with code 1: that is the cause we recorded, not a crash of its own.
    this.finish(exitReasonOf({ code, signal: null }, this.lastWords, causeOf(this.phase), wasAsked(this.phase)));
  }

  protected identity(): Record<string, unknown> {
    return { threadId: this.threadId };
  }

  protected writable(): boolean {
    return this.thread !== undefined && this.phase.name !== 'exited';
  }

  protected write(msg: ParentMessage): boolean {
    const thread = this.thread;
    if (thread === undefined || !this.writable()) return false;
    try {
      thread.postMessage(msg);
      return true;
    } catch (err) {
      this.ctx.logger.debug({ event: 'thread_send_failed', threadId: thread.threadId, err });
      return false;
    }
  }
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
