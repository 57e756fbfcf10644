// The restart-intensity window (OTP's add_restart): pure, so it can be tested against a model.

export interface IntensityResult {
  /** Restart times still inside the period, newest first, this restart included. */
  restarts: number[];
  /** True when the restarts inside the period, this one included, are more than `intensity`: give up. */
  exceeded: boolean;
}

/**
 * Records a restart at `now`. Restarts older than `period` ms are dropped (one exactly `period` ago is kept,
 * as OTP keeps `R >= Now - Period`).
 */
export function addRestart(
  restarts: readonly number[],
  now: number,
  intensity: number,
  period: number,
): IntensityResult {
  const threshold = now - period;
  const kept = [now];
  for (const at of restarts) {
    if (at < threshold) break; // newest first: everything after this is older still
    kept.push(at);
  }
  return { restarts: kept, exceeded: kept.length > intensity };
}

/**
 * The restart times inside the window, as the machine keeps them: addRestart's answers, without its copy of the
 * window at every restart (1,000 children crashing together made that quadratic). The times sit oldest first in a
 * log that successive windows share: adding appends, dropping moves the start; a window is never changed once made.
 * Exactly addRestart while times never go back (the usual case); when they do (the wall clock was set back), each
 * restart is added by addRestart itself until the window is in order again.
 */
export class RestartWindow {
  static readonly EMPTY = new RestartWindow([], 0, 0, true);

  /**
   * `log[from, to)` is this window, oldest first; entries past `to` belong to windows made from this one.
   * `inOrder`: no time in it is older than the one before.
   */
  private constructor(
    private readonly log: number[],
    private readonly from: number,
    private readonly to: number,
    private readonly inOrder: boolean,
  ) {}

  /** The window of these restart times, newest first (as addRestart's `restarts`). */
  static of(newestFirst: readonly number[]): RestartWindow {
    const log = [...newestFirst].reverse();
    let inOrder = true;
    for (let i = 1; i < log.length && inOrder; i++) inOrder = log[i]! >= log[i - 1]!;
    return new RestartWindow(log, 0, log.length, inOrder);
  }

  get size(): number {
    return this.to - this.from;
  }

  /** Newest first, as OTP's #state.restarts. */
  newestFirst(): number[] {
    const out: number[] = [];
    for (let i = this.to - 1; i >= this.from; i--) out.push(this.log[i]!);
    return out;
  }

  /** addRestart on this window: records a restart at `now`. */
  add(now: number, intensity: number, period: number): { restarts: RestartWindow; exceeded: boolean } {
    if (!this.inOrder || (this.to > this.from && now < this.log[this.to - 1]!)) {
      const exact = addRestart(this.newestFirst(), now, intensity, period);
      return { restarts: RestartWindow.of(exact.restarts), exceeded: exact.exceeded };
    }
    // In order, the times older than the threshold are a prefix: what addRestart's newest-first scan keeps is the rest.
    const threshold = now - period;
    let from = this.from;
    while (from < this.to && this.log[from]! < threshold) from++;
    let log = this.log;
    let to = this.to;
    // The log already extended by another window made from this one, or mostly dropped times: a copy of its own.
    if (log.length !== to || (from > 64 && from * 2 > to)) {
      log = log.slice(from, to);
      to -= from;
      from = 0;
    }
    log.push(now);
    to += 1;
    return { restarts: new RestartWindow(log, from, to, true), exceeded: to - from > intensity };
  }
}
