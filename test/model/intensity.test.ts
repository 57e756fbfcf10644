// The restart-intensity window (DESIGN.md §3): restarts older than `period` are dropped; if the count, this one
// included, exceeds `intensity`, the supervisor gives up. OTP keeps restarts with `R >= Now - Period`.
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { RestartWindow, addRestart } from '../../src/supervisor/intensity.js';

/** Records restarts at the given times one after another, as a supervisor would; returns each answer. */
function restartsAt(times: number[], intensity: number, period: number) {
  let restarts: number[] = [];
  return times.map((now) => {
    const result = addRestart(restarts, now, intensity, period);
    restarts = result.restarts;
    return result;
  });
}

describe('addRestart: the window edges', () => {
  test('a restart exactly `period` ms ago still counts', () => {
    expect(addRestart([1000], 6000, 5, 5000)).toEqual({ restarts: [6000, 1000], exceeded: false });
  });

  test('a restart `period` + 1 ms ago is dropped', () => {
    expect(addRestart([999], 6000, 5, 5000)).toEqual({ restarts: [6000], exceeded: false });
  });

  test('intensity 1, period 5000: a second restart exactly 5000 ms after the first gives up, 5001 ms after does not', () => {
    expect(addRestart([0], 5000, 1, 5000).exceeded).toBe(true);
    expect(addRestart([0], 5001, 1, 5000).exceeded).toBe(false);
  });

  test('the restarts kept are newest first, this one included, the old ones dropped', () => {
    expect(addRestart([900, 500, 100, 50], 1000, 10, 500)).toEqual({ restarts: [1000, 900, 500], exceeded: false });
  });
});

describe('addRestart: giving up', () => {
  test('intensity 0 gives up at the very first restart', () => {
    expect(addRestart([], 0, 0, 5000)).toEqual({ restarts: [0], exceeded: true });
  });

  test('intensity 3 allows 3 restarts inside the window and gives up at the 4th', () => {
    const answers = restartsAt([0, 10, 20, 30], 3, 5000);
    expect(answers.map((a) => a.exceeded)).toEqual([false, false, false, true]);
    expect(answers[3]!.restarts).toEqual([30, 20, 10, 0]);
  });

  test('intensity 1: restarts spread wider than the period never give up', () => {
    const times = Array.from({ length: 100 }, (_, i) => i * 5001);
    expect(restartsAt(times, 1, 5000).some((a) => a.exceeded)).toBe(false);
  });

  test('intensity 2: a burst gives up even after a long calm', () => {
    const answers = restartsAt([0, 100_000, 100_001, 100_002], 2, 5000);
    expect(answers.map((a) => a.exceeded)).toEqual([false, false, false, true]);
  });
});

describe('addRestart: properties', () => {
  /** Earlier restarts (newest first, none after `now`), `now`, intensity and period. */
  const history = fc
    .record({
      intensity: fc.integer({ min: 0, max: 10 }),
      period: fc.integer({ min: 1, max: 10_000 }),
      now: fc.integer({ min: 0, max: 100_000 }),
      ages: fc.array(fc.nat({ max: 20_000 }), { maxLength: 30 }),
    })
    .map(({ intensity, period, now, ages }) => ({
      intensity,
      period,
      now,
      restarts: ages.map((age) => now - age).sort((a, b) => b - a),
    }));

  test('exceeded ⇔ the restarts in [now - period, now], this one included, are more than intensity', () => {
    fc.assert(
      fc.property(history, ({ restarts, now, intensity, period }) => {
        const inWindow = restarts.filter((at) => at >= now - period && at <= now).length + 1;
        expect(addRestart(restarts, now, intensity, period).exceeded).toBe(inWindow > intensity);
      }),
      { numRuns: 1000 },
    );
  });

  test('the restarts kept are exactly this one and the earlier ones inside the window, newest first', () => {
    fc.assert(
      fc.property(history, ({ restarts, now, intensity, period }) => {
        expect(addRestart(restarts, now, intensity, period).restarts).toEqual([
          now,
          ...restarts.filter((at) => at >= now - period),
        ]);
      }),
      { numRuns: 1000 },
    );
  });

  test('the earlier restarts are not changed', () => {
    fc.assert(
      fc.property(history, ({ restarts, now, intensity, period }) => {
        const before = [...restarts];
        addRestart(Object.freeze(restarts), now, intensity, period);
        expect(restarts).toEqual(before);
      }),
      { numRuns: 200 },
    );
  });
});

describe('RestartWindow: addRestart without the copy', () => {
  /**
   * Restarts one after another, the clock now and then set back, and now and then a window added to twice (an
   * answer not taken, as a batch of exits does when one ends the supervisor): each answer is addRestart's.
   */
  const script = fc.record({
    intensity: fc.integer({ min: 0, max: 200 }),
    period: fc.integer({ min: 0, max: 50 }),
    steps: fc.array(
      fc.record({
        // Mostly forward or the same ms (a burst), sometimes back (the wall clock set back).
        dt: fc.oneof(
          { weight: 8, arbitrary: fc.nat({ max: 20 }) },
          { weight: 1, arbitrary: fc.integer({ min: -40, max: -1 }) },
        ),
        branch: fc.boolean(),
      }),
      { maxLength: 300 },
    ),
  });

  test('the same answers as addRestart, restart after restart, and an earlier window never changes', () => {
    fc.assert(
      fc.property(script, ({ intensity, period, steps }) => {
        let window = RestartWindow.EMPTY;
        let reference: number[] = [];
        let now = 1_000;
        for (const { dt, branch } of steps) {
          now += dt;
          const before = window.newestFirst();
          if (branch) window.add(now + 1, intensity, period);
          const answer = window.add(now, intensity, period);
          const expected = addRestart(reference, now, intensity, period);
          expect(answer.exceeded).toBe(expected.exceeded);
          expect(answer.restarts.newestFirst()).toEqual(expected.restarts);
          expect(answer.restarts.size).toBe(expected.restarts.length);
          expect(window.newestFirst()).toEqual(before);
          window = answer.restarts;
          reference = expected.restarts;
        }
      }),
      { numRuns: 500 },
    );
  });

  test('1,000 restarts in the same ms are all kept; a later one past the period drops them', () => {
    let window = RestartWindow.EMPTY;
    for (let i = 0; i < 1000; i++) window = window.add(5_000, 1_000_000, 1).restarts;
    expect(window.size).toBe(1000);
    expect(RestartWindow.of(window.newestFirst()).add(5_002, 1_000_000, 1).restarts.newestFirst()).toEqual([5_002]);
  });
});
