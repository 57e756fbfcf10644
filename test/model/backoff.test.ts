// Restart backoff (docs/guides/supervision.md, "Restart backoff"): a child's delays, against a reference model that keeps the
// current delay and multiplies it at each crash in a row, as PM2's exp_backoff_restart_delay does.
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { backoffOptions, nextBackoff } from '../../src/supervisor/backoff.js';
import type { BackoffOptions } from '../../src/types.js';

/** The reference: the base delay of the previous restart, grown by `factor`, capped; back to `min` after a reset. */
class BackoffModel {
  private previous: number | undefined;
  constructor(private readonly o: BackoffOptions) {}
  restart(uptime: number): { low: number; high: number } {
    const base =
      this.previous === undefined || uptime >= this.o.resetAfter
        ? this.o.min
        : Math.min(this.o.max, this.previous * this.o.factor);
    this.previous = base;
    return { low: base, high: base * (1 + this.o.jitter) };
  }
}

const options = fc
  .record({
    min: fc.integer({ min: 0, max: 5000 }),
    span: fc.integer({ min: 1, max: 60_000 }),
    factor: fc.double({ min: 1, max: 5, noNaN: true }),
    jitter: fc.double({ min: 0, max: 1, noNaN: true }),
    resetAfter: fc.integer({ min: 0, max: 60_000 }),
  })
  .map(({ min, span, ...rest }) => ({ min, max: min + span, ...rest }));

/** A life of one child: how long it stayed up before each crash, and the jitter draw for that restart. */
const crashes = fc.array(
  fc.record({
    uptime: fc.integer({ min: 0, max: 120_000 }),
    random: fc.double({ min: 0, max: 0.999999, noNaN: true }),
  }),
  { maxLength: 40 },
);

describe('nextBackoff against the model', () => {
  test('every delay lies in [base, base × (1 + jitter)] of the model (±1 ms of rounding)', () => {
    fc.assert(
      fc.property(options, crashes, (o, life) => {
        const model = new BackoffModel(o);
        let attempt = 0;
        for (const { uptime, random } of life) {
          const step = nextBackoff(o, attempt, uptime, random);
          attempt = step.attempt;
          const { low, high } = model.restart(uptime);
          expect(step.delay).toBeGreaterThanOrEqual(Math.floor(low) - 1);
          expect(step.delay).toBeLessThanOrEqual(Math.ceil(high) + 1);
        }
      }),
    );
  });

  test('without jitter the delays of crashes in a row are min, min×f, min×f², … up to max, exactly', () => {
    fc.assert(
      fc.property(options, fc.integer({ min: 1, max: 30 }), (o, n) => {
        const noJitter = { ...o, jitter: 0, resetAfter: Number.MAX_SAFE_INTEGER };
        const model = new BackoffModel(noJitter);
        let attempt = 0;
        for (let i = 0; i < n; i++) {
          const step = nextBackoff(noJitter, attempt, 0, 0.5);
          attempt = step.attempt;
          expect(Math.abs(step.delay - model.restart(0).low)).toBeLessThanOrEqual(1);
          expect(step.delay).toBeLessThanOrEqual(noJitter.max);
        }
      }),
    );
  });

  test('a child that stayed up resetAfter ms or more is restarted after min again', () => {
    fc.assert(
      fc.property(
        options,
        fc.integer({ min: 0, max: 50 }),
        fc.integer({ min: 0, max: 60_000 }),
        (o, attempt, extra) => {
          const step = nextBackoff({ ...o, jitter: 0 }, attempt, o.resetAfter + extra, 0);
          expect(step).toEqual({ delay: o.min, attempt: 1 });
        },
      ),
    );
  });
});

describe('edges', () => {
  test('a very long run of crashes stays at max (and at 0 with min 0)', () => {
    const o = { min: 5, max: 1000, factor: 3, jitter: 0, resetAfter: 10 };
    expect(nextBackoff(o, 100_000, 0, 0).delay).toBe(1000);
    expect(nextBackoff({ ...o, min: 0 }, 100_000, 0, 0).delay).toBe(0);
  });
});

describe('defaults', () => {
  test('factor 2, jitter 0.1, resetAfter = max', () => {
    expect(backoffOptions({ min: 100, max: 5000 })).toEqual({
      min: 100,
      max: 5000,
      factor: 2,
      jitter: 0.1,
      resetAfter: 5000,
    });
  });

  test('min 100, max 1000, factor 2, no jitter: 100, 200, 400, 800, 1000, 1000', () => {
    const o = { min: 100, max: 1000, factor: 2, jitter: 0, resetAfter: 10_000 };
    let attempt = 0;
    const delays = Array.from({ length: 6 }, () => {
      const step = nextBackoff(o, attempt, 50, 0);
      attempt = step.attempt;
      return step.delay;
    });
    expect(delays).toEqual([100, 200, 400, 800, 1000, 1000]);
  });
});
