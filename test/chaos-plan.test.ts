// The pure parts of the chaos kit: the seeded schedule, the command-line values, the event log's paging.
import { describe, expect, it } from 'vitest';
import { EventLog } from '../src/control/event-log.js';
import { RecoveryClock, WorkerWatch } from '../src/chaos/observe.js';
import {
  ChaosUsageError,
  FAULT_KINDS,
  mulberry32,
  parseDuration,
  parseMix,
  planFaults,
  quietTailMs,
} from '../src/chaos/plan.js';

describe('the fault schedule', () => {
  const mix = parseMix('all');

  it('is the same for the same seed, and differs for another', () => {
    const plan = planFaults({ seed: 42, rate: 2, durationMs: 30_000, mix });
    expect(planFaults({ seed: 42, rate: 2, durationMs: 30_000, mix })).toEqual(plan);
    expect(planFaults({ seed: 43, rate: 2, durationMs: 30_000, mix })).not.toEqual(plan);
  });

  it('keeps the rate, stays in order, and leaves the quiet tail free of faults', () => {
    const durationMs = 20_000;
    const plan = planFaults({ seed: 7, rate: 1, durationMs, mix });
    expect(plan).toHaveLength(Math.floor((durationMs - quietTailMs(durationMs)) / 1000));
    for (const [i, fault] of plan.entries()) {
      expect(fault.at).toBeGreaterThanOrEqual(i * 1000 + 250);
      expect(fault.at).toBeLessThanOrEqual(i * 1000 + 750);
      expect(fault.pick).toBeGreaterThanOrEqual(0);
      expect(fault.pick).toBeLessThan(1);
    }
    expect(plan.at(-1)!.at).toBeLessThan(durationMs - quietTailMs(durationMs));
  });

  it('follows the weights of the mix', () => {
    const plan = planFaults({ seed: 1, rate: 100, durationMs: 60_000, mix: parseMix('sigkill:3,throw') });
    const kills = plan.filter((f) => f.kind === 'sigkill').length;
    expect(new Set(plan.map((f) => f.kind))).toEqual(new Set(['sigkill', 'throw']));
    expect(kills / plan.length).toBeGreaterThan(0.72);
    expect(kills / plan.length).toBeLessThan(0.78);
  });

  it('mulberry32 gives numbers in [0, 1)', () => {
    const random = mulberry32(123);
    const draws = Array.from({ length: 10_000 }, random);
    expect(draws.every((x) => x >= 0 && x < 1)).toBe(true);
    expect(draws.reduce((a, b) => a + b) / draws.length).toBeCloseTo(0.5, 1);
  });
});

describe('command-line values', () => {
  it('parses mixes with optional weights, and refuses unknown faults and bad weights', () => {
    expect(parseMix('all').map((e) => e.kind)).toEqual([...FAULT_KINDS]);
    expect(parseMix('sigkill:3, throw,kill-all')).toEqual([
      { kind: 'sigkill', weight: 3 },
      { kind: 'throw', weight: 1 },
      { kind: 'kill-all', weight: 1 },
    ]);
    for (const bad of ['explode', 'sigkill:0', 'sigkill:1.5', 'sigkill:x', 'throw,throw', 'sigkill:2:3']) {
      expect(() => parseMix(bad), bad).toThrow(ChaosUsageError);
    }
  });

  it('parses durations: 30s, 2m, 1500ms, bare ms; refuses the rest', () => {
    expect(parseDuration('30s')).toBe(30_000);
    expect(parseDuration('2m')).toBe(120_000);
    expect(parseDuration('1500ms')).toBe(1500);
    expect(parseDuration('2500')).toBe(2500);
    expect(parseDuration('1.5s')).toBe(1500);
    for (const bad of ['', 'soon', '10h', '-5s', '500ms', '25h'])
      expect(() => parseDuration(bad), bad).toThrow(ChaosUsageError);
  });
});

describe('watching a run', () => {
  it('counts restarts from counters, including a counter reset by a restarted supervisor, and pid changes', () => {
    const watch = new WorkerWatch();
    watch.observe([
      { path: 'root/pool/a', pid: 1, restarts: 0 },
      { path: 'root/pool/b', pid: 2, restarts: 5 },
    ]);
    watch.observe([
      { path: 'root/pool/a', pid: 3, restarts: 2 },
      { path: 'root/pool/b', pid: 2, restarts: 5 },
    ]);
    watch.observe([{ path: 'root/pool/a', pid: 4, restarts: 1 }]);
    expect(watch.restarts).toBe(3);
    expect(watch.pidChanges).toBe(2);
  });

  it('measures recovery from a fault to the first answer to a request sent after it', () => {
    const clock = new RecoveryClock();
    clock.fault(100);
    clock.outcome({ startedAt: 90, endedAt: 150, failure: undefined }); // sent before the fault: does not count
    clock.outcome({ startedAt: 110, endedAt: 160, failure: 'reset' });
    clock.outcome({ startedAt: 120, endedAt: 300, failure: undefined });
    clock.fault(400);
    expect(clock.samples).toEqual([200]);
    expect(clock.unrecovered).toBe(1);
  });
});

describe('the event log of arbor run', () => {
  const event = (child: string) => ({ event: 'child_restarting' as const, supervisor: 'root', child, restarts: 1 });

  it('numbers events, pages them after a cursor, and says how many fell out of the ring', () => {
    const log = new EventLog(3);
    expect(log.read()).toEqual({ events: [], next: 0, missed: 0 });
    for (const child of ['a', 'b', 'c', 'd', 'e']) log.record(event(child));
    const page = log.read(0);
    expect(page.events.map((e) => [e.seq, 'child' in e && e.child])).toEqual([
      [3, 'c'],
      [4, 'd'],
      [5, 'e'],
    ]);
    expect(page).toMatchObject({ next: 5, missed: 2 });
    expect(log.read(4)).toMatchObject({ events: [{ seq: 5 }], next: 5, missed: 0 });
    expect(log.read(5)).toEqual({ events: [], next: 5, missed: 0 });
  });

  it('drops the stack of a crashed worker, keeping its message', () => {
    const log = new EventLog();
    log.record({
      event: 'child_exited',
      supervisor: 'root',
      child: 'w',
      pid: 1,
      action: 'restart',
      reason: { error: 'boom', stack: 'x'.repeat(60_000) },
    });
    expect(log.read().events[0]).toMatchObject({ reason: { error: 'boom' } });
    expect(JSON.stringify(log.read()).length).toBeLessThan(500);
  });
});
