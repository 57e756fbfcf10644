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
