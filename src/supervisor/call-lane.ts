// Calls made one after another (`for (…) await tree.startChild(pool)`) each arrive after the one before was answered:
// no two share a tick, so batching per tick (node.ts) never groups them, and each would cost a whole turn of the
// supervisor's machine (out of `calling`, back to `running`, in again) — most of what a light child's start costs.
// While the machine runs calls, a lane stays open for the rest of the event-loop turn: calls arriving with nothing
// else waiting queue in it, and the running batch takes the next one when it is done with the one before, exactly
// when the machine would have taken it, provided nothing else waits by then (no exit, due restart or stop). Anything
// else arriving closes the lane, and the calls still in it go to the machine first, in order, so the machine sees
// every event in arrival order. A stop seals the lane: it takes no more, and the calls it holds, made before the
// stop, are carried out before it, as OTP handles the start_child messages that precede its shutdown.

/** `Call` is the machine's CallEvent (generic here, so that this file imports nothing from the machine). */
export class CallLane<Call> {
  private readonly queue: Call[] = [];
  private head = 0;
  private wake: (() => void) | undefined;
  private closed = false;
  private sealed = false;

  /**
   * @param mayTake Whether the call at the head of the lane is the one the machine would handle next.
   * @param refuse Closes the lane (the supervisor's closeLane), when the machine has something else to do first.
   */
  constructor(
    private readonly mayTake: () => boolean,
    private readonly refuse: () => void,
  ) {}

  /** Queues `call` for the running batch. */
  offer(call: Call): void {
    this.queue.push(call);
    this.wakeUp();
  }

  /**
   * The next call for the running batch: the one at the head of the lane, or undefined once the lane is closed, or,
   * while none has arrived yet, a promise that resolves when one does (or the lane closes): then ask again. Taking a
   * queued call makes no promise (each would cost a burst of starts one more).
   */
  next(): Call | undefined | Promise<void> {
    if (this.closed) return undefined;
    if (this.head === this.queue.length) return new Promise<void>((resolve) => (this.wake = resolve));
    if (!this.sealed && !this.mayTake()) {
      this.refuse();
      return undefined;
    }
    const call = this.queue[this.head]!;
    this.queue[this.head++] = undefined!;
    if (this.head === this.queue.length) {
      this.queue.length = this.head = 0;
      if (this.sealed) this.closed = true;
    }
    return call;
  }

  /** Takes no more calls; those it holds are still carried out, then the batch ends. */
  seal(): void {
    this.sealed = true;
    if (this.head === this.queue.length) this.close();
  }

  /** Closes the lane: the batch ends after the call it runs; returns the calls it had not taken, in order. */
  close(): Call[] {
    this.closed = true;
    const rest = this.queue.slice(this.head);
    this.queue.length = this.head = 0;
    this.wakeUp();
    return rest;
  }

  private wakeUp(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }
}
