// How one task incarnation ends, inline (task/handle.ts) or in a task host (host/hosted.ts): once, with one reason.
// terminate() waits for that end for at most the task's shutdown, then abandons the task; the supervisor hears of an
// end it did not ask for, together with the other tasks that ended in the same tick.
import type { ChildContext } from './child.js';
import type { ExitReason, Shutdown } from './types.js';

/** An inline task runs as soon as it is started: only a task in a host is ever `starting` (placed, not yet run). */
export type TaskPhase = 'idle' | 'starting' | 'running' | 'stopping' | 'gone';

/** setTimeout's largest delay: a longer shutdown is as good as `infinity`. */
const MAX_TIMEOUT = 2 ** 31 - 1;

export abstract class TaskIncarnation {
  protected phase: TaskPhase = 'idle';
  /** terminate() or kill() was called: the exit is ours, not news for the supervisor. */
  protected stopRequested = false;
  protected exitReason: ExitReason | undefined;
  private markGone: ((reason: ExitReason) => void) | undefined;
  private gone: Promise<ExitReason> | undefined;
  private stopping: Promise<ExitReason> | undefined;

  constructor(protected readonly ctx: ChildContext) {}

  terminate(): Promise<ExitReason> {
    return (this.stopping ??= this.stop());
  }

  /** Abandons the task now: its exit is `{ abandoned }`; whatever it still runs is not reclaimed. */
  abstract kill(): Promise<ExitReason>;

  /** The task's shutdown, as its spec says. */
  protected abstract readonly shutdown: Shutdown;

  /** Stops a task that was placed or started (phase `starting` or `running`), given `shutdown` ms to end. */
  protected abstract stopRunning(shutdown: number | 'infinity'): Promise<ExitReason>;

  /** Stops the task as its shutdown says (terminate() calls it once). */
  private stop(): Promise<ExitReason> {
    const shutdown = this.shutdown;
    if (shutdown === 'brutal_kill') return this.kill();
    this.stopRequested = true;
    if (this.phase === 'gone') return Promise.resolve(this.exitReason!);
    if (this.phase === 'idle') return this.settleNow('shutdown');
    return this.stopRunning(shutdown);
  }

  /** Frees what the incarnation holds as it ends (its pending calls, its signal, its place in a host). */
  protected abstract release(reason: ExitReason): void;

  /**
   * The end, once the task has been asked to stop: after `shutdown` ms without one, `abandon` runs and the task is
   * given up on (`{ abandoned }`).
   */
  protected goneWithin(shutdown: number | 'infinity', abandon?: () => void): Promise<ExitReason> {
    const gone = this.untilGone();
    if (shutdown === 'infinity' || shutdown >= MAX_TIMEOUT) return gone;
    const timer = setTimeout(() => {
      this.ctx.logger.warn({ event: 'shutdown_timeout', timeout: shutdown });
      abandon?.();
      this.end({ abandoned: `did not settle within its shutdown of ${shutdown} ms` });
    }, shutdown);
    return gone.finally(() => clearTimeout(timer));
  }

  protected settleNow(reason: ExitReason): Promise<ExitReason> {
    this.end(reason);
    return Promise.resolve(this.exitReason!);
  }

  /** The incarnation ends (once): it lets go of what it holds, and the supervisor hears unless it asked. */
  protected end(reason: ExitReason): void {
    if (this.phase === 'gone') return;
    const wasStarted = this.phase === 'running' || this.phase === 'stopping';
    this.phase = 'gone';
    this.exitReason = reason;
    this.release(reason);
    this.markGone?.(reason);
    if (!wasStarted || this.stopRequested) return;
    // Never within start(): the supervisor hears of an exit only once it has seen the start (ChildContext.onExit).
    notifyLater(() => {
      if (!this.stopRequested) this.ctx.onExit(reason);
    });
  }

  private untilGone(): Promise<ExitReason> {
    if (this.exitReason !== undefined) return Promise.resolve(this.exitReason);
    return (this.gone ??= new Promise((resolve) => (this.markGone = resolve)));
  }
}

/** Exit notices for the next check phase, in order: one setImmediate for all (see notifyLater). */
let notices: Array<() => void> = [];

/**
 * Runs `notify` in the next check phase. Tasks that end in the same tick (1,000 crashing at once, or every task of
 * a host that died) are heard in the same immediate, with no microtask between them, so their supervisor takes
 * their exits as one batch (one turn of its machine) as it does a burst of process exits, instead of one turn each.
 */
function notifyLater(notify: () => void): void {
  notices.push(notify);
  if (notices.length === 1) setImmediate(notifyAll);
}

function notifyAll(): void {
  const due = notices;
  notices = [];
  let i = 0;
  try {
    for (; i < due.length; i++) due[i]!();
  } finally {
    // A notice that threw does not cost the others theirs.
    for (i += 1; i < due.length; i++) notifyLater(due[i]!);
  }
}
