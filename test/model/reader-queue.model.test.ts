// Model-based test of the queue behind `tree.events()` and `tree.logs()`: random sequences of writes, reads, ends
// (with or without a failure) and early returns, fed to ReaderQueue and to a plain reference side by side; every
// read must settle the same way, at the same step, and the backlog must agree after every step.
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { ReaderQueue } from '../../src/reader-queue.js';

type Op = { kind: 'write'; item: number } | { kind: 'read' } | { kind: 'end'; fail: boolean } | { kind: 'return' };
type Settled = { value: number } | 'done' | 'failed';

/** What a reader of the queue is owed, written as plainly as possible. */
class Reference {
  items: number[] = [];
  ended = false;
  failure = false;
  /** A read that has not settled yet (the reader waits). */
  waiting = false;
  settled: Settled[] = [];

  write(item: number): void {
    if (this.waiting) {
      this.waiting = false;
      this.settled.push({ value: item });
    } else this.items.push(item);
  }

  read(): void {
    if (this.items.length > 0) this.settled.push({ value: this.items.shift()! });
    else if (this.failure) {
      this.failure = false;
      this.settled.push('failed');
    } else if (this.ended) this.settled.push('done');
    else this.waiting = true;
  }

  end(fail: boolean): void {
    if (this.ended) return;
    this.ended = true;
    if (this.waiting) {
      this.waiting = false;
      this.settled.push(fail ? 'failed' : 'done');
    } else this.failure = fail;
  }

  return(): void {
    this.ended = true;
    this.items = [];
    this.failure = false;
    if (this.waiting) {
      this.waiting = false;
      this.settled.push('done');
    }
  }
}

const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: fc.integer({ min: 0, max: 999 }).map((item) => ({ kind: 'write' as const, item })) },
  { weight: 4, arbitrary: fc.constant({ kind: 'read' as const }) },
  { weight: 1, arbitrary: fc.boolean().map((fail) => ({ kind: 'end' as const, fail })) },
  { weight: 1, arbitrary: fc.constant({ kind: 'return' as const }) },
);

const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('ReaderQueue against a reference', () => {
  test('every read settles as the reference says, when it says', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(op, { maxLength: 60 }), async (ops) => {
        const queue = new ReaderQueue<number>();
        const iterator = queue.iterator(() => undefined);
        const reference = new Reference();
        const settled: Settled[] = [];
        for (const step of ops) {
          switch (step.kind) {
            case 'write':
              if (!queue.handOver(step.item)) queue.enqueue(step.item);
              reference.write(step.item);
              break;
            case 'read':
              // One reader: a second read while one waits is not something a for-await does.
              if (reference.waiting) continue;
              iterator.next().then(
                (result) => settled.push(result.done ? 'done' : { value: result.value }),
                () => settled.push('failed'),
              );
              reference.read();
              break;
            case 'end':
              queue.end(step.fail ? new Error('overflow') : undefined);
              reference.end(step.fail);
              break;
            case 'return':
              await iterator.return!();
              reference.return();
              break;
          }
          await turn();
          expect(settled).toEqual(reference.settled);
          expect(queue.backlog).toBe(reference.items.length);
        }
      }),
      { numRuns: 300 },
    );
  });

  test('a long-lived reader: what it read is let go of, and order is kept across compactions', async () => {
    const queue = new ReaderQueue<number>();
    const iterator = queue.iterator(() => undefined);
    let next = 0;
    for (let round = 0; round < 5; round++) {
      for (let i = 0; i < 3000; i++) queue.enqueue(round * 3000 + i);
      for (let i = 0; i < 3000; i++) expect(await iterator.next()).toEqual({ value: next++, done: false });
      expect(queue.backlog).toBe(0);
    }
  });
});
