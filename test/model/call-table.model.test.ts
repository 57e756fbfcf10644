// The request/reply bookkeeping, model-based: calls with their own timeouts to a worker that restarts, replies
// (true, late, duplicated, forged by a later incarnation or a sibling), time passing and exits in any order.
// Against a reference model, every call ends exactly once, a reply only ever settles the call it names in the
// incarnation it was sent to, a timeout comes exactly when the call's deadline has passed (earliest first), and
// `exited` is the fate of exactly the calls still pending when their incarnation ended.
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { CallTable, idSource } from '../../src/worker/call-table.js';
import { fullBucket, take } from '../../src/rate.js';

type Outcome = 'reply' | 'timeout' | 'exited';

type Action =
  | { kind: 'call'; worker: number; timeout: number }
  /** A reply arriving from `worker`'s current incarnation for the `pick`-th id ever issued (any worker, any age). */
  | { kind: 'reply'; worker: number; pick: number }
  /** Time passes: every table expires what is due. */
  | { kind: 'advance'; ms: number }
  | { kind: 'restart'; worker: number };

const WORKERS = 2;
const action: fc.Arbitrary<Action> = fc.oneof(
  {
    weight: 8,
    arbitrary: fc.record({
      kind: fc.constant('call' as const),
      worker: fc.nat(WORKERS - 1),
      timeout: fc.integer({ min: 1, max: 1000 }),
    }),
  },
  {
    weight: 4,
    arbitrary: fc.record({ kind: fc.constant('reply' as const), worker: fc.nat(WORKERS - 1), pick: fc.nat(200) }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('advance' as const), ms: fc.nat(300) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('restart' as const), worker: fc.nat(WORKERS - 1) }) },
);

/** The reference: every call ever made, with the incarnation it went to and its fate. */
interface ModelCall {
  id: number;
  deadline: number;
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
      fc.property(fc.array(action, { maxLength: 400 }), (actions) => {
        const ids = idSource();
        const incarnation = Array.from({ length: WORKERS }, () => 0);
        const tables = Array.from({ length: WORKERS }, () => new CallTable<Waiter>(ids));
        /** Every table ever made, per worker, by incarnation: a timer settles in the table its call was opened in. */
        const history = tables.map((t) => [t]);
        const model: ModelCall[] = [];
        const waiters = new Map<number, Waiter>();
        let clock = 0;

        for (const a of actions) {
          switch (a.kind) {
            case 'call': {
              const waiter: Waiter = { outcomes: [] };
              const id = tables[a.worker]!.open(waiter, clock + a.timeout)!;
              expect(id).toBeDefined();
              expect(waiters.has(id)).toBe(false); // never reused
              waiter.id = id;
              waiters.set(id, waiter);
              model.push({ id, deadline: clock + a.timeout, worker: a.worker, incarnation: incarnation[a.worker]! });
              break;
            }
            case 'reply': {
              const target = model[a.pick % Math.max(1, model.length)];
              const id = target?.id ?? a.pick + 1_000_000;
              const settled = tables[a.worker]!.settle(id);
              const expected =
                target !== undefined &&
                target.outcome === undefined &&
                target.worker === a.worker &&
                target.incarnation === incarnation[a.worker];
              expect(settled !== undefined).toBe(expected);
              if (settled) {
                expect(settled.id).toBe(id); // never another caller's waiter
                settled.outcomes.push('reply');
                target!.outcome = 'reply';
              }
              break;
            }
            case 'advance': {
              clock += a.ms;
              for (let w = 0; w < WORKERS; w++) {
                const due = model
                  .filter(
                    (c) =>
                      c.worker === w &&
                      c.incarnation === incarnation[w] &&
                      c.outcome === undefined &&
                      c.deadline <= clock,
                  )
                  .sort((x, y) => x.deadline - y.deadline || x.id - y.id);
                const expired = tables[w]!.expire(clock);
                expect(expired.map((e) => e.id)).toEqual(due.map((c) => c.id));
                for (const e of expired) e.outcomes.push('timeout');
                for (const c of due) c.outcome = 'timeout';
              }
              // A closed table expires nothing.
              for (const old of history.flatMap((h) => h.slice(0, -1))) expect(old.expire(clock)).toEqual([]);
              break;
            }
            case 'restart': {
              const old = tables[a.worker]!;
              const left = old.close();
              const expected = model.filter(
                (c) => c.worker === a.worker && c.incarnation === incarnation[a.worker] && c.outcome === undefined,
              );
              expect(left.map((w) => w.id)).toEqual(expected.map((c) => c.id)); // in the order made
              for (const w of left) w.outcomes.push('exited');
              for (const c of expected) c.outcome = 'exited';
              expect(old.open({ outcomes: [] }, clock)).toBeUndefined();
              expect(old.size).toBe(0);
              incarnation[a.worker]! += 1;
              tables[a.worker] = new CallTable<Waiter>(ids);
              history[a.worker]!.push(tables[a.worker]!);
              break;
            }
          }
          for (let w = 0; w < WORKERS; w++) {
            const pending = model.filter(
              (c) => c.worker === w && c.incarnation === incarnation[w] && c.outcome === undefined,
            ).length;
            expect(tables[w]!.size).toBe(pending);
            const left = model.filter(
              (c) => c.worker === w && c.incarnation === incarnation[w] && c.outcome === undefined,
            );
            expect(tables[w]!.nextDeadline()).toBe(left.length ? Math.min(...left.map((c) => c.deadline)) : undefined);
          }
        }
        // Ending every incarnation settles what is left: then every call has exactly one outcome, the model's.
        for (let w = 0; w < WORKERS; w++) {
          for (const waiter of tables[w]!.close()) waiter.outcomes.push('exited');
          for (const c of model) if (c.worker === w && c.outcome === undefined) c.outcome = 'exited';
        }
        for (const c of model) expect(waiters.get(c.id)!.outcomes).toEqual([c.outcome]);
      }),
      { numRuns: 400 },
    );
  });
});

describe('CallTable deadlines', () => {
  test('whatever was opened and settled, the calls left expire earliest first (ties: first made first)', () => {
    const op = fc.oneof(
      fc.record({ kind: fc.constant('open' as const), deadline: fc.nat(100) }),
      fc.record({ kind: fc.constant('settle' as const), pick: fc.nat(1000) }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 300 }), (ops) => {
        const table = new CallTable<{ id: number; deadline: number }>(idSource());
        const live: Array<{ id: number; deadline: number }> = [];
        for (const o of ops) {
          if (o.kind === 'open') {
            const waiter = { id: 0, deadline: o.deadline };
            waiter.id = table.open(waiter, o.deadline)!;
            live.push(waiter);
          } else if (live.length > 0) {
            const [gone] = live.splice(o.pick % live.length, 1);
            expect(table.settle(gone!.id)).toBe(gone);
          }
        }
        const expected = [...live].sort((a, b) => a.deadline - b.deadline || a.id - b.id);
        expect(table.expire(Number.MAX_SAFE_INTEGER)).toEqual(expected);
        expect(table.size).toBe(0);
      }),
      { numRuns: 500 },
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
