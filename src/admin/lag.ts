// The supervisor's event loop lag: how late a timer of its own loop fires. A loop that is blocked does not
// answer probes at all; one that is merely slow answers them late, and /healthz says so.
export class LagMonitor {
  private lagMs = 0;
  private expected: number;
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly everyMs = 200) {
    this.expected = performance.now() + everyMs;
    this.timer = setInterval(() => this.tick(), everyMs);
    this.timer.unref();
  }

  /** The lag measured at the latest tick, or the time since a tick is overdue, whichever is larger. */
  get currentMs(): number {
    return Math.max(this.lagMs, performance.now() - this.expected);
  }

  close(): void {
    clearInterval(this.timer);
  }

  private tick(): void {
    const now = performance.now();
    this.lagMs = Math.max(0, now - this.expected);
    this.expected = now + this.everyMs;
  }
}
