// The request/reply bookkeeping, model-based: calls to a worker that restarts, replies (true, late, duplicated,
// forged by a later incarnation or a sibling), timeouts and exits in any order. Against a reference model, every
// call ends exactly once, a reply only ever settles the call it names in the incarnation it was sent to, and
// `exited` is the fate of exactly the calls still pending when their incarnation ended.
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { CallTable, idSource } from '../../src/worker/call-table.js';
import { fullBucket, take } from '../../src/worker/rate.js';

type Outcome = 'reply' | 'timeout' | 'exited';

type Action =
  | { kind: 'call'; worker: number }
  /** A reply arriving from `worker`'s current incarnation for the `pick`-th id ever issued (any worker, any age). */
  | { kind: 'reply'; worker: number; pick: number }
  | { kind: 'timeout'; pick: number }
  | { kind: 'restart'; worker: number };

const WORKERS = 2;
const action: fc.Arbitrary<Action> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('call' as const), worker: fc.nat(WORKERS - 1) }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('reply' as const), worker: fc.nat(WORKERS - 1), pick: fc.nat(200) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('timeout' as const), pick: fc.nat(200) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('restart' as const), worker: fc.nat(WORKERS - 1) }) },
);

/** The reference: every call ever made, with the incarnation it went to and its fate. */
interface ModelCall {
  id: number;
  worker: number;
  incarnation: number;
  outcome?: Outcome;
}

interface Waiter {
  id?: number;
  outcomes: Outcome[];
}

describe('CallTable against a reference model', () => {
  test('every call ends exactly once, by its own reply, its timeout, or its incarnation’s exit', () => {
    fc.assert(
      fc.property(fc.array(action, { maxLength: 150 }), (actions) => {
        const ids = idSource();
        const incarnation = Array.from({ length: WORKERS }, () => 0);
        const tables = Array.from({ length: WORKERS }, () => new CallTable<Waiter>(ids));
        /** Every table ever made, per worker, by incarnation: a timer settles in the table its call was opened in. */
        const history = tables.map((t) => [t]);
        const model: ModelCall[] = [];
        const waiters = new Map<number, Waiter>();

        for (const a of actions) {
          switch (a.kind) {
            case 'call': {
              const waiter: Waiter = { outcomes: [] };
              const id = tables[a.worker]!.open(waiter)!;
              expect(id).toBeDefined();
              expect(waiters.has(id)).toBe(false); // never reused
              waiter.id = id;
              waiters.set(id, waiter);
              model.push({ id, worker: a.worker, incarnation: incarnation[a.worker]! });
              break;
            }
            case 'reply': {
              const target = model[a.pick % Math.max(1, model.length)];
              const id = target?.id ?? a.pick + 1_000_000;
              const settled = tables[a.worker]!.settle(id);
              const expected = target !== undefined && target.outcome === undefined && target.worker === a.worker && target.incarnation === incarnation[a.worker];
              expect(settled !== undefined).toBe(expected);
              if (settled) {
                expect(settled.id).toBe(id); // never another caller's waiter
                settled.outcomes.push('reply');
                target!.outcome = 'reply';
              }
              break;
            }
            case 'timeout': {
              const target = model[a.pick % Math.max(1, model.length)];
              if (target === undefined) break;
              // The timer of a call belongs to the table it was opened in, current or closed.
              const settled = history[target.worker]![target.incarnation]!.settle(target.id);
              expect(settled !== undefined).toBe(target.outcome === undefined && target.incarnation === incarnation[target.worker]);
              if (settled) {
                settled.outcomes.push('timeout');
                target.outcome = 'timeout';
              }
              break;
            }
            case 'restart': {
              const old = tables[a.worker]!;
              const left = old.close();
              const expected = model.filter((c) => c.worker === a.worker && c.incarnation === incarnation[a.worker] && c.outcome === undefined);
              expect(left.map((w) => w.id)).toEqual(expected.map((c) => c.id)); // in the order made
              for (const w of left) w.outcomes.push('exited');
              for (const c of expected) c.outcome = 'exited';
              expect(old.open({ outcomes: [] })).toBeUndefined();
              expect(old.size).toBe(0);
              incarnation[a.worker]! += 1;
              tables[a.worker] = new CallTable<Waiter>(ids);
              history[a.worker]!.push(tables[a.worker]!);
              break;
            }
          }
          for (let w = 0; w < WORKERS; w++) {
            const pending = model.filter((c) => c.worker === w && c.incarnation === incarnation[w] && c.outcome === undefined).length;
            expect(tables[w]!.size).toBe(pending);
          }
        }
        // Ending every incarnation settles what is left: then every call has exactly one outcome, the model's.
        for (let w = 0; w < WORKERS; w++) {
          for (const waiter of tables[w]!.close()) waiter.outcomes.push('exited');
          for (const c of model) if (c.worker === w && c.outcome === undefined) c.outcome = 'exited';
        }
        for (const c of model) expect(waiters.get(c.id)!.outcomes).toEqual([c.outcome]);
      }),
      { numRuns: 300 },
    );
  });
});

describe('the send rate bucket', () => {
  test('never lets through more than a burst of `perSecond` plus `perSecond` per elapsed second', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 500 }), fc.array(fc.nat(50), { maxLength: 2000 }), (perSecond, gaps) => {
        const bucket = fullBucket(perSecond, 0);
        let now = 0;
        let passed = 0;
        for (const gap of gaps) {
          now += gap;
          if (take(bucket, perSecond, now)) passed++;
          expect(passed).toBeLessThanOrEqual(perSecond + Math.floor((now * perSecond) / 1000));
        }
      }),
    );
  });

  test('a sender within the rate is never refused', () => {
    const bucket = fullBucket(100, 0);
    for (let t = 0; t < 10_000; t += 10) expect(take(bucket, 100, t)).toBe(true);
  });
});
