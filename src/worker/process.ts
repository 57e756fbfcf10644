// The supervisor's side of one forked worker incarnation: fork (or take over a spare), the listener's handle, stop
// by signals, exit reason; what it shares with a thread worker is ./incarnation.ts. The worker's side of the same
// protocol is ../runtime/runtime.ts.
import type { ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { resolve as resolvePath } from 'node:path';
import { StartFailure, type ChildContext, type ListenerLink, type WorkerAttachment } from '../child.js';
import type { ChaosFault, ParentMessage } from '../protocol.js';
import type { ExitReason, Shutdown, WorkerSpec } from '../types.js';
import { exitReasonOf, startFailureOf, type ProcessExit } from './exit-reason.js';
import { processGroups, signalGroup } from './groups.js';
import { forkGroupLeader } from './group-fork.js';
import { Incarnation, type StartOutcome } from './incarnation.js';
import { blame, causeOf, exitIsNews, isLive, ready, stopping, wasAsked } from './phase.js';
import { MAX_MESSAGE_BYTES, MESSAGE_ENVELOPE_BYTES, limitMessageSize } from './inbox.js';
import { messageLimitEnv, messageLimits } from './messaging.js';
import { WorkerSpares } from './process-spares.js';
import type { StandbyPool, TakenSpare } from './standby.js';
import { captureOutput, outputOf, type OutputCapture } from './output.js';
import { outputSink, type OutputLog } from './output-log.js';
import { loaderExecArgv } from './typescript.js';

/** How long after 'exit' to wait for 'close' before taking the exit as final. */
const CLOSE_GRACE_MS = 1000;

export class WorkerHandle extends Incarnation {
  private child: ChildProcess | undefined;
  /** The worker's stdout and stderr, read line by line (./output.ts). */
  private output: OutputCapture | undefined;
  private attachment: WorkerAttachment | undefined;
  private spawnError: Error | undefined;
  private readonly spares: WorkerSpares;
  /** The standby spare this incarnation took over, if it did (it was not forked for this start). */
  private taken: TakenSpare | undefined;

  constructor(
    spec: WorkerSpec,
    ctx: ChildContext,
    /** Spare processes for workers with `standby`, shared by the tree. */
    standby?: StandbyPool,
    /** The tree's record of its workers' recent output. */
    private readonly outputLog?: OutputLog,
  ) {
    super(spec, ctx, spec);
    this.spares = new WorkerSpares(spec, ctx, standby, () => this.workerEnv());
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /**
   * Asks the running worker to inflict `fault` on itself (chaos testing); the worker honours it only when it runs
   * with ARBOR_CHAOS=1. Returns the pid it was sent to, or undefined when the worker is not running and connected.
   */
  inject(fault: ChaosFault): number | undefined {
    if (!this.available) return undefined;
    this.send({ type: 'arbor:chaos', fault });
    return this.pid;
  }

  /** Running, and not being stopped: it can take calls and casts. */
  get available(): boolean {
    return this.phase.name === 'running' && this.child?.connected === true;
  }

  protected async launch(): Promise<void> {
    const modulePath = resolvePath(process.cwd(), this.spec.module);
    // Synchronous: a stat takes microseconds, while a trip through libuv's thread pool costs every restart a
    // millisecond or more on a loaded machine.
    if (!existsSync(modulePath)) throw new StartFailure({ startFailed: `module not found: ${modulePath}` });
    // Checked here: a missing cwd would otherwise surface as a misleading `spawn node ENOENT`.
    if (this.spec.cwd !== undefined && !existsSync(this.spec.cwd)) {
      throw new StartFailure({ startFailed: `cwd not found: ${resolvePath(this.spec.cwd)}` });
    }
    if (this.phase.name !== 'new') throw new StartFailure({ startFailed: 'terminated before start' });
    this.enter({ name: 'starting' });

    // Resolved before forking, so a missing listener costs no process.
    const link = this.spec.listen === undefined ? undefined : this.ctx.resolveListener(this.spec.listen);
    if (this.spec.listen !== undefined && link === undefined) {
      throw new StartFailure({ startFailed: `listener ${this.spec.listen} is not running` });
    }

    const outcome = new Promise<StartOutcome>((resolve) => (this.settleStart = resolve));
    const child = this.forkWorker(modulePath, link);
    if (link !== undefined) {
      try {
        // A spare promoted while its predecessor died got the handle already.
        this.attachment = this.taken?.attachment ?? link.attach(child);
      } catch (err) {
        return this.abortStart(`listener ${link.id}: ${errorMessage(err)}`);
      }
    }
    // A promoted spare may be serving already: its `ready` reached the standby pool.
    if (this.taken?.ready === true) this.settleStart?.('ready');
    const timer = setTimeout(() => this.settleStart?.('timeout'), this.spec.startTimeout);
    timer.unref();
    const result = await outcome;
    clearTimeout(timer);
    this.settleStart = undefined;

    switch (result) {
      case 'ready':
        return this.becomeRunning(child, modulePath, link);
      case 'timeout':
        this.ctx.logger.warn({ event: 'start_timeout', pid: child.pid, timeout: this.spec.startTimeout });
        return this.abortStart('timeout');
      case 'exited': {
        const phase = this.current();
        throw this.startFailure(
          this.spawnError
            ? `fork failed: ${this.spawnError.message}`
            : startFailureOf(phase.name === 'exited' ? phase.reason : { code: -1 }),
        );
      }
      case 'stopped':
        return this.failAfterStop();
    }
  }

  /** The worker said `ready`. */
  private async becomeRunning(child: ChildProcess, modulePath: string, link: ListenerLink | undefined): Promise<void> {
    // The worker may have died, been stopped or been killed for its health between its `ready` and this
    // continuation.
    const phase = this.current();
    if (phase.name === 'exited') throw this.startFailure(startFailureOf(phase.reason));
    if (phase.name === 'stopping') return this.failAfterStop();
    this.enter(ready(phase));
    if (phase.name === 'unhealthy') return; // being killed: its exit will be news, as a running worker's
    this.guard('attachment_ready_failed', () => this.attachment?.ready());
    this.health.start();
    this.ctx.logger.debug({ event: 'worker_ready', pid: child.pid });
    // Spares are forked only now, so booting them never competes with this start.
    this.spares.hold(this.spares.key(modulePath), child, link, this.gone, () => exitIsNews(this.phase));
  }

  private forkWorker(modulePath: string, link: ListenerLink | undefined): ChildProcess {
    const env = { ...this.workerEnv(), ARBOR_WORKER: '1', ARBOR_CHILD_PATH: this.ctx.path };
    const key = this.spares.key(modulePath);
    const taken = this.spares.take(key, link);
    if (taken) {
      const spare = taken.child;
      this.taken = taken;
      // Sent before the listener's handle (attach() follows): the spare learns what it is, then gets the socket.
      // A promoted spare knows already.
      if (!taken.promoted) spare.send({ type: 'arbor:takeover', path: this.ctx.path });
      this.ctx.logger.debug({ event: 'standby_takeover', pid: spare.pid });
      const output = outputOf(spare);
      output?.setRef(true);
      return this.watch(spare, output);
    }
    const watched = processGroups.prepare(this.ctx.logger);
    let child: ChildProcess;
    try {
      // Its own process group (./group-fork.ts): a Ctrl-C or a group-wide SIGTERM reaches only the supervisor,
      // which then stops its workers in order; the group is ended with the worker (./groups.ts). Guarded: the
      // worker and its group never outlive this process, whatever the module does.
      child = forkGroupLeader(
        modulePath,
        this.spec.args,
        {
          env: { ...process.env, ...env },
          execArgv: [...loaderExecArgv(modulePath), ...this.spec.execArgv],
          cwd: this.spec.cwd,
          // Its output is read line by line, never written raw to the supervisor's stdout (./output.ts); a death
          // socket where a hot spare may watch it (./death-socket.ts).
          stdio: this.spares.stdio(key),
        },
        watched,
      );
    } catch (err) {
      throw new StartFailure({ startFailed: `fork failed: ${errorMessage(err)}` });
    }
    processGroups.adopt(child, this.ctx.logger);
    this.spares.forked(child, key);
    return this.watch(child, captureOutput(child));
  }

  /** The spec's env, and the message limits the worker's runtime applies before sending (so spares get them too). */
  private workerEnv(): Record<string, string> {
    return { ...this.spec.env, ...messageLimitEnv(messageLimits(this.spec)) };
  }

  private watch(child: ChildProcess, output: OutputCapture | undefined): ChildProcess {
    this.child = child;
    this.output = output;
    output?.attach(outputSink(this.ctx.path, this.ctx.logger, this.outputLog));
    // Never below what the spec lets the worker send() (maxMessageBytes), plus room for the envelope.
    const maxLine = Math.max(MAX_MESSAGE_BYTES, messageLimits(this.spec).maxBytes + MESSAGE_ENVELOPE_BYTES);
    const bounded = limitMessageSize(child, maxLine, (bytes) => this.endFor({ ipcOverflow: bytes }));
    if (!bounded) this.ctx.logger.debug({ event: 'ipc_size_unbounded', pid: child.pid });
    child.on('message', (raw: unknown) => this.onMessage(raw));
    child.on('error', (err) => this.onChildError(err));
    // 'close' rather than 'exit': it comes after the IPC channel has drained, so last words have arrived.
    child.once('close', (code: number | null, signal: NodeJS.Signals | null) => this.onClose({ code, signal }));
    // But node never emits 'close' if the channel was disconnected from this side (e.g. by a listener).
    child.once('exit', (code: number | null, signal: NodeJS.Signals | null) => {
      const fallback = setTimeout(() => this.onClose({ code, signal }), CLOSE_GRACE_MS);
      child.once('close', () => clearTimeout(fallback));
    });
    return child;
  }

  /** Kill what was forked, wait until it is reaped, then fail the start. */
  private async abortStart(why: string): Promise<never> {
    this.detach();
    this.signal('SIGKILL');
    await this.gone;
    throw this.startFailure(why);
  }

  /**
   * A failed start, with the last lines the worker wrote to stderr: often the only account of why (node's own
   * errors before arbor's runtime loaded). Not when the runtime reported the error: the stack would only repeat it.
   */
  private startFailure(why: string): StartFailure {
    const stderr = this.lastWords.error !== undefined ? [] : (this.output?.stderrTail() ?? []);
    return new StartFailure({ startFailed: why, ...(stderr.length > 0 ? { stderr } : {}) });
  }

  protected async stop(how: Shutdown): Promise<ExitReason> {
    // Before anything that ends it: a spare watching it must not read this exit as a death.
    this.spares.disarm(this.child);
    const before = this.phase;
    this.enter(stopping(before, false));
    this.health.stop();
    this.detach();
    this.settleStart?.('stopped');
    const child = this.child;
    if (child === undefined) return 'shutdown';
    if (before.name === 'exited') return before.reason;
    if (how === 'brutal_kill') {
      this.signal('SIGKILL');
      return this.gone;
    }
    this.enter(stopping(this.current(), true));
    // The timeout tells the drain when idle keep-alive connections must go (just before the SIGKILL below).
    this.send({ type: 'arbor:shutdown', ...(how === 'infinity' ? {} : { timeout: how }) });
    // The whole group: the worker's own children are asked to stop at the same time; what is left of the group
    // when the worker exits is SIGKILLed.
    this.signal('SIGTERM');
    if (how === 'infinity') return this.gone;
    const timer = setTimeout(() => {
      this.ctx.logger.warn({ event: 'shutdown_timeout', pid: child.pid, timeout: how });
      this.signal('SIGKILL');
    }, how);
    timer.unref();
    const reason = await this.gone;
    clearTimeout(timer);
    return reason;
  }

  private onChildError(err: Error): void {
    if (this.child?.pid === undefined) this.spawnError = err;
    this.ctx.logger.warn({ event: 'worker_process_error', pid: this.pid, err });
  }

  private onClose(exit: ProcessExit): void {
    const before = this.phase;
    if (before.name === 'exited') return;
    this.detach();
    this.finish(exitReasonOf(exit, this.lastWords, causeOf(before), wasAsked(before), performance.now()));
  }

  /** SIGKILLs the worker for its health or its conduct; `cause` becomes its exit reason. */
  protected endFor(cause: ExitReason): void {
    const before = this.phase;
    if (!isLive(before)) return;
    this.enter(blame(before, cause));
    this.health.stop();
    this.ctx.logger.warn({ event: 'worker_unhealthy', pid: this.pid, reason: cause });
    this.signal('SIGKILL');
  }

  /** Signals the worker's process group (the worker and its descendants); the worker alone if the group is gone. */
  private signal(signal: NodeJS.Signals): void {
    const child = this.child;
    if (child?.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
    if (!signalGroup(child.pid, signal)) child.kill(signal);
  }

  /** One callback for every send (calls make many): a failed send is logged, never an 'error' event. */
  private readonly onSent = (err: Error | null): void => {
    if (err) this.ctx.logger.debug({ event: 'ipc_send_failed', pid: this.pid, err });
  };

  protected identity(): Record<string, unknown> {
    return { pid: this.pid };
  }

  /** False when the channel is closed. */
  protected writable(): boolean {
    return this.child?.connected === true;
  }

  protected write(msg: ParentMessage): boolean {
    const child = this.child;
    if (!child?.connected) return false;
    // With a callback, a failed send is reported here instead of as an 'error' event.
    child.send(msg, this.onSent);
    return true;
  }

  private detach(): void {
    const attachment = this.attachment;
    this.attachment = undefined;
    if (attachment !== undefined) this.guard('attachment_detach_failed', () => attachment.detach());
  }

  /** A listener's failure must not take the supervisor down with it. */
  private guard(event: string, effect: () => void): void {
    try {
      effect();
    } catch (err) {
      this.ctx.logger.error({ event, pid: this.pid, err });
    }
  }
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
