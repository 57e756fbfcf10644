// Restart backoff (opt-in, per child): a child that keeps crashing is restarted after growing, randomised delays,
// as Akka's BackoffSupervisor and PM2's exp_backoff_restart_delay. Pure, so it is tested against a model.
import type { BackoffOptions, BackoffSpec } from '../types.js';

export const BACKOFF_DEFAULTS = { factor: 2, jitter: 0.1 } as const;

/** The spec's `backoff` with defaults: `resetAfter` defaults to `max` (up longer than the longest delay: healthy). */
export function backoffOptions(spec: BackoffSpec): BackoffOptions {
  return {
    min: spec.min,
    max: spec.max,
    factor: spec.factor ?? BACKOFF_DEFAULTS.factor,
    jitter: spec.jitter ?? BACKOFF_DEFAULTS.jitter,
    resetAfter: spec.resetAfter ?? spec.max,
  };
}

export interface BackoffStep {
  /** ms to wait before the restart. */
  delay: number;
  /** The child's attempt count after this restart (the next delay's exponent). */
  attempt: number;
}

/**
 * The delay before restarting a child that exited after `uptime` ms, its `attempt`-th restart in a row:
 * `min × factor^attempt`, capped at `max`, then stretched by up to `jitter` (`random` in [0, 1)), so that the
 * delay lies in [base, base × (1 + jitter)]. A child that stayed up `resetAfter` ms or more starts again from `min`.
 * A start that failed has uptime 0.
 */
export function nextBackoff(options: BackoffOptions, attempt: number, uptime: number, random: number): BackoffStep {
  const exponent = uptime >= options.resetAfter ? 0 : attempt;
  // min 0 stays 0 (0 × Infinity would be NaN once factor^exponent overflows).
  const base = options.min === 0 ? 0 : Math.min(options.max, options.min * options.factor ** exponent);
  return { delay: Math.round(base * (1 + options.jitter * random)), attempt: exponent + 1 };
}
