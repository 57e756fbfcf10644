// The chaos timeline recorder against reference models (fast-check): request outcomes bucketed per 100 ms with
// their latency quantiles, restart spans paired from a tree's events, and from polls for targets without events.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FAILURE_KINDS, type FailureKind } from '../src/chaos/load.js';
import { quantile } from '../src/chaos/observe.js';
import { BUCKET_MS, TimelineRecorder, type TimedEvent } from '../src/chaos/timeline.js';

const START = 5_000; // performance.now() of the load's start
const EPOCH = 1_800_000_000_000; // Date.now() at the same moment
const round1 = (v: number): number => Math.round(v * 10) / 10;

const outcomeArb = fc.record({
  gap: fc.integer({ min: 0, max: 400 }), // ms since the previous outcome ended
  latency: fc.integer({ min: 0, max: 3000 }),
  failure: fc.option(fc.constantFrom<FailureKind>(...FAILURE_KINDS), { nil: undefined, freq: 3 }),
});

describe('timeline buckets', () => {
  it('count every outcome once in the bucket of its end, by kind, with p50/p99 of the answered latencies (and of the whole run)', () => {
    fc.assert(
      fc.property(fc.array(outcomeArb, { minLength: 1, maxLength: 300 }), (steps) => {
        const recorder = new TimelineRecorder(START, EPOCH);
        let end = START;
        const reference = new Map<
          number,
          { answered: number; failed: Record<FailureKind, number>; latencies: number[] }
        >();
        const answered: number[] = [];
        for (const { gap, latency, failure } of steps) {
          end += gap;
          recorder.outcome({ startedAt: end - latency, endedAt: end, failure });
          const index = Math.floor((end - START) / BUCKET_MS);
          const bucket = reference.get(index) ?? {
            answered: 0,
            failed: { refused: 0, reset: 0, timeout: 0, non2xx: 0, other: 0 },
            latencies: [],
          };
          if (failure === undefined) {
            bucket.answered += 1;
            bucket.latencies.push(latency);
            answered.push(latency);
          } else bucket.failed[failure] += 1;
          reference.set(index, bucket);
        }
        const { buckets, latency: overall } = recorder.finish(end);
        // The whole run's quantiles, from a histogram: within 1% of the exact ones (plus rounding to 0.1 ms).
        for (const [q, got] of [
          [0.5, overall.p50],
          [0.99, overall.p99],
        ] as const) {
          const exact = quantile(answered, q);
          if (exact === undefined) expect(got).toBeNull();
          else expect(Math.abs(got! - exact)).toBeLessThanOrEqual(exact * 0.01 + 0.06);
        }
        const last = Math.floor((end - START) / BUCKET_MS);
        expect(buckets.t).toEqual(Array.from({ length: last + 1 }, (_, i) => i * BUCKET_MS));
        for (let i = 0; i <= last; i++) {
          const want = reference.get(i);
          expect(buckets.answered[i]).toBe(want?.answered ?? 0);
          for (const kind of FAILURE_KINDS) expect(buckets.failed[kind][i]).toBe(want?.failed[kind] ?? 0);
          const p50 = quantile(want?.latencies ?? [], 0.5);
          const p99 = quantile(want?.latencies ?? [], 0.99);
          expect(buckets.p50[i]).toBe(p50 === undefined ? null : round1(p50));
          expect(buckets.p99[i]).toBe(p99 === undefined ? null : round1(p99));
        }
      }),
      { numRuns: 200 },
    );
  });
});

/** A worker slot's life: incarnations separated by gaps (exit → ready), each gap after the previous ready. */
const slotStoryArb = fc.array(
  fc.record({ up: fc.integer({ min: 1, max: 2000 }), down: fc.integer({ min: 0, max: 500 }) }),
  { maxLength: 6 },
);

describe('restart spans from tree events', () => {
  it('pair each worker exit with the next start in its slot; other subtrees and supervisor children are ignored', () => {
    fc.assert(
      fc.property(
        fc.array(slotStoryArb, { minLength: 1, maxLength: 4 }),
        fc.array(fc.integer({ min: 1, max: 7 }), { minLength: 1, maxLength: 10 }), // page sizes the events arrive in
        (slots, pages) => {
          const events: TimedEvent[] = [];
          const expected: { path: string; pid: number; newPid: number; exitMs: number; readyMs: number }[] = [];
          let nextPid = 100;
          slots.forEach((story, s) => {
            let t = 0;
            let pid = nextPid++;
            for (const { up, down } of story) {
              t += up;
              const newPid = nextPid++;
              events.push({ event: 'child_exited', supervisor: 'root/pool', child: `w${s}`, pid, time: EPOCH + t });
              events.push({ event: 'child_restarting', supervisor: 'root/pool', child: `w${s}`, time: EPOCH + t });
              events.push({
                event: 'child_started',
                supervisor: 'root/pool',
                child: `w${s}`,
                pid: newPid,
                type: 'worker',
                time: EPOCH + t + down,
              });
              expected.push({ path: `root/pool/w${s}`, pid, newPid, exitMs: t, readyMs: t + down });
              // Noise: a sibling subtree outside the scope, and a supervisor child (no pid) restarting.
              events.push({
                event: 'child_exited',
                supervisor: 'root/other',
                child: `w${s}`,
                pid: 9000 + s,
                time: EPOCH + t,
              });
              events.push({
                event: 'child_exited',
                supervisor: 'root/pool',
                child: 'sub',
                pid: undefined,
                time: EPOCH + t,
              });
              events.push({
                event: 'child_started',
                supervisor: 'root/pool',
                child: 'sub',
                pid: undefined,
                type: 'supervisor',
                time: EPOCH + t,
              });
              pid = newPid;
              t += down;
            }
          });
          events.sort((a, b) => a.time - b.time); // a stable sort: each slot's exit stays before its start

          const recorder = new TimelineRecorder(START, EPOCH, 'root/pool');
          for (let i = 0, p = 0; i < events.length; p++) {
            const size = pages[p % pages.length]!;
            recorder.events(events.slice(i, i + size));
            i += size;
          }
          const { restarts } = recorder.finish(START + 1000);
          const key = (s: { path: string; exitMs: number }): string => `${s.path}@${s.exitMs}`;
          expect(
            restarts
              .map((s) => ({ path: s.path, pid: s.pid, newPid: s.newPid, exitMs: s.exitMs, readyMs: s.readyMs }))
              .sort((a, b) => key(a).localeCompare(key(b))),
          ).toEqual(expected.sort((a, b) => key(a).localeCompare(key(b))));
          for (const span of restarts) expect(span.source).toBe('events');
        },
      ),
      { numRuns: 200 },
    );
  });

  it('leave a span open (readyMs null) when the replacement was not ready by the end', () => {
    const recorder = new TimelineRecorder(START, EPOCH);
    recorder.events([{ event: 'child_exited', supervisor: 'root', child: 'w', pid: 7, time: EPOCH + 250 }]);
    expect(recorder.finish(START + 1000).restarts).toEqual([
      { path: 'root/w', pid: 7, newPid: null, exitMs: 250, readyMs: null, source: 'events' },
    ]);
  });
});

describe('restart spans from polls (targets without an event log)', () => {
  it('a new pid in a slot is a restart from the fault that hit the old pid, or from the last poll that saw it', () => {
    const recorder = new TimelineRecorder(START, EPOCH);
    recorder.observe(
      [
        { path: 'a', pid: 1 },
        { path: 'b', pid: 2 },
      ],
      START,
    );
    recorder.fault(START + 300, 'sigkill', [{ path: 'a', pid: 1 }]);
    recorder.observe(
      [
        { path: 'a', pid: 1 },
        { path: 'b', pid: 2 },
      ],
      START + 400,
    );
    recorder.observe(
      [
        { path: 'a', pid: 3 },
        { path: 'b', pid: 4 },
      ],
      START + 650,
    );
    const { restarts, faults } = recorder.finish(START + 1000);
    expect(faults).toEqual([{ atMs: 300, kind: 'sigkill', hit: [{ path: 'a', pid: 1 }] }]);
    expect(restarts).toEqual([
      { path: 'a', pid: 1, newPid: 3, exitMs: 300, readyMs: 650, source: 'polls' },
      { path: 'b', pid: 2, newPid: 4, exitMs: 400, readyMs: 650, source: 'polls' },
    ]);
  });
});
