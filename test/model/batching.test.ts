// The outbox that puts the calls, casts, replies and sends of one tick on one IPC line: against a reference model
// (a plain list of everything sent, in order), whatever the mix of small, large and direct messages and ticks.
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { BATCH_MAX_BYTES, Outbox } from '../../src/batching.js';
import { BATCH_MAX_MESSAGES, parseParentMessage, parseWorkerMessage, type WorkerMessage } from '../../src/protocol.js';

type Sent = { type: string; id?: number; message?: unknown };
type Line = Sent | { type: 'arbor:batch'; messages: Sent[] };

const tick = (): Promise<void> => new Promise((resolve) => process.nextTick(resolve));

const op = fc.oneof(
  { weight: 8, arbitrary: fc.record({ kind: fc.constant('push' as const), message: fc.jsonValue({ maxDepth: 3 }) }) },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('push' as const),
      message: fc.integer({ min: 1, max: 120_000 }).map((n) => 'x'.repeat(n)),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant('burst' as const), count: fc.integer({ min: 1, max: 1200 }) }),
  },
  // Numbers: JSON about as long as its bound, so batches near the byte limit.
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('numbers' as const),
      count: fc.integer({ min: 1, max: 12 }),
      length: fc.integer({ min: 1, max: 2600 }),
    }),
  },
  { weight: 2, arbitrary: fc.constant({ kind: 'direct' as const }) },
  { weight: 3, arbitrary: fc.constant({ kind: 'tick' as const }) },
);

describe('Outbox', () => {
  test('every message is written once, in the order sent; direct writes never overtake; every batch is bounded', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(op, { maxLength: 40 }), async (ops) => {
        const lines: Line[] = [];
        const outbox = new Outbox<Sent>((line) => lines.push(JSON.parse(JSON.stringify(line)) as Line));
        const model: Sent[] = [];
        let id = 0;
        const push = (message: unknown): void => {
          const sent = { type: 'arbor:call', id: ++id, message };
          model.push(sent);
          outbox.push(sent);
        };
        for (const o of ops) {
          if (o.kind === 'push') push(o.message);
          if (o.kind === 'burst') for (let i = 0; i < o.count; i++) push({ i });
          if (o.kind === 'numbers')
            for (let i = 0; i < o.count; i++)
              // The longest way JSON writes a number: what makes a batch's byte bound tight.
              // eslint-disable-next-line no-loss-of-precision
              push(Array.from({ length: o.length }, (_, j) => -1.2345678901234567e-300 * (j + 1)));
          if (o.kind === 'direct') {
            const sent = { type: 'arbor:ping', id: ++id };
            model.push(sent);
            outbox.flush();
            lines.push(sent);
          }
          if (o.kind === 'tick') await tick();
        }
        await tick();
        const written = lines.flatMap((line) =>
          line.type === 'arbor:batch' ? (line as { messages: Sent[] }).messages : [line as Sent],
        );
        expect(written).toEqual(JSON.parse(JSON.stringify(model)));
        for (const line of lines) {
          if (line.type !== 'arbor:batch') continue;
          const { messages } = line as { messages: Sent[] };
          expect(messages.length).toBeGreaterThan(1);
          expect(messages.length).toBeLessThanOrEqual(BATCH_MAX_MESSAGES);
          expect(Buffer.byteLength(JSON.stringify(line))).toBeLessThanOrEqual(BATCH_MAX_BYTES);
        }
      }),
      { numRuns: 300 },
    );
  });

  test('what is pushed in one tick goes out as one line at the end of it', async () => {
    const lines: unknown[] = [];
    const outbox = new Outbox<Sent>((line) => lines.push(line));
    for (let id = 1; id <= 16; id++) outbox.push({ type: 'arbor:call', id, message: { seq: id } });
    expect(lines).toEqual([]);
    await tick();
    expect(lines).toHaveLength(1);
    expect((lines[0] as { messages: unknown[] }).messages).toHaveLength(16);
  });
});

describe('arbor:batch on arrival', () => {
  const reply = (id: number): WorkerMessage => ({ type: 'arbor:reply', id, ok: true, value: { id } });

  test('a well-formed batch of replies and sends is read back as sent', () => {
    const messages = [reply(1), { type: 'arbor:send', message: 'progress' }, reply(2)];
    expect(parseWorkerMessage(JSON.parse(JSON.stringify({ type: 'arbor:batch', messages })))).toEqual({
      type: 'arbor:batch',
      messages,
    });
  });

  test('a batch is refused whole: one malformed element, a kind that is never batched, a nested batch, too many, none', () => {
    const bad = [
      [reply(1), { type: 'arbor:reply', id: -1, ok: true, value: 1 }],
      [reply(1), { type: 'arbor:ready' }],
      [reply(1), { type: 'arbor:error', message: 'x' }],
      [{ type: 'arbor:batch', messages: [reply(1), reply(2)] }],
      Array.from({ length: BATCH_MAX_MESSAGES + 1 }, (_, i) => reply(i)),
      [],
      'not a list',
      { 0: reply(1), length: 1 },
    ];
    for (const messages of bad) expect(parseWorkerMessage({ type: 'arbor:batch', messages })).toBeUndefined();
    expect(parseWorkerMessage({ type: 'arbor:batch' })).toBeUndefined();
  });

  test('the worker side takes batches of calls and casts only', () => {
    const calls = [
      { type: 'arbor:call', id: 1, message: 'a' },
      { type: 'arbor:cast', message: 'b' },
    ];
    expect(parseParentMessage({ type: 'arbor:batch', messages: calls })).toEqual({
      type: 'arbor:batch',
      messages: calls,
    });
    expect(
      parseParentMessage({ type: 'arbor:batch', messages: [...calls, { type: 'arbor:shutdown' }] }),
    ).toBeUndefined();
    expect(
      parseParentMessage({ type: 'arbor:batch', messages: [...calls, { type: 'arbor:takeover', path: 'root/w' }] }),
    ).toBeUndefined();
  });
});
