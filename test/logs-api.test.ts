// tree.logs(): a child's or a subtree's output as an async iterator, on real worker processes; and the output log
// (bounded rings, pages after a line number) against a reference model.
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { start, supervisor, worker, type FollowedLine, type Tree } from '../src/index.js';
import { OutputLog, inScope, type LoggedLine } from '../src/worker/output-log.js';
import { fixture, reap } from './support/tree.js';

const trees: Tree[] = [];
afterEach(async () => {
  for (const tree of trees.splice(0)) {
    const pids = tree.output.after(undefined, 0, 10_000).lines.map((l) => l.pid);
    await tree.stop({ brutal: true });
    reap(pids);
  }
});

async function next(iterator: AsyncIterator<FollowedLine>, what: string): Promise<FollowedLine> {
  const timeout = new Promise<never>((_, reject) =>
    setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), 20_000).unref(),
  );
  const result = await Promise.race([iterator.next(), timeout]);
  if (result.done) throw new Error(`the stream ended before ${what}`);
  return result.value;
}

describe('tree.logs()', () => {
  it("yields a worker's recent lines, then each new line, and ends when the tree stops", async () => {
    const tree = await start(
      supervisor({
        id: 'root',
        children: [
          supervisor({
            id: 'pool',
            children: [worker({ id: 'w', module: fixture('chatty.mjs'), env: { CHATTY_LONG: '10' } })],
          }),
        ],
      }),
      { logger: false },
    );
    trees.push(tree);
    const pid = tree.whichChildren('root/pool')[0]!.pid!;
    // The worker prints before ready() and the lines are read as they come: wait until all four are in.
    const seen: FollowedLine[] = [];
    const lines = tree.logs('root/pool', { lines: 10 });
    while (seen.length < 4) seen.push(await next(lines, 'the first lines'));
    expect(seen.map((l) => [l.path, l.pid, l.stream])).toContainEqual(['root/pool/w', pid, 'stderr']);
    expect(seen.find((l) => l.record !== undefined)?.record).toMatchObject({ msg: 'pino line', answer: 42 });
    expect(seen.map((l) => l.seq)).toEqual([...seen.map((l) => l.seq)].sort((a, b) => a - b));

    await tree.call('root/pool/w', 'print followed line');
    const followed = await next(lines, 'the followed line');
    expect(followed).toMatchObject({ path: 'root/pool/w', pid, stream: 'stdout', line: 'followed line' });

    // A scope elsewhere sees nothing of it; with follow: false, the recent lines then the end.
    const elsewhere = tree.logs('root/other', { follow: false });
    expect((await elsewhere.next()).done).toBe(true);
    const recent = tree.logs('root/pool/w', { lines: 1, follow: false });
    expect((await next(recent, 'the last line')).line).toBe('followed line');
    expect((await recent.next()).done).toBe(true);

    await tree.stop();
    expect((await lines.next()).done).toBe(true);
  });

  it('a consumer that falls behind its buffer loses the newest lines and is told how many', async () => {
    const tree = await start(
      supervisor({
        id: 'root',
        children: [
          supervisor({
            id: 'pool',
            children: [worker({ id: 'w', module: fixture('chatty.mjs'), env: { CHATTY_LONG: '10' } })],
          }),
        ],
      }),
      { logger: false },
    );
    trees.push(tree);
    const lines = tree.logs('root/pool/w', { lines: 0, buffer: 2 });
    // A consumer that keeps up, to know when each line has been read from the worker's pipe.
    const witness = tree.logs('root/pool/w', { lines: 0 });
    for (let i = 0; i < 5; i++) await tree.call('root/pool/w', `print line ${i}`);
    while ((await next(witness, 'line 4')).line !== 'line 4');
    // Lines 0 and 1 were held, 2, 3 and 4 dropped; after two reads, the next line says how many were lost.
    const got = [await next(lines, 'line 0'), await next(lines, 'line 1')];
    await tree.call('root/pool/w', 'print last');
    got.push(await next(lines, 'last'));
    expect(got.map((l) => l.line)).toEqual(['line 0', 'line 1', 'last']);
    expect(got[2]!.missed).toBe(3);
  });
});

describe('the output log', () => {
  const path = fc.constantFrom('r/a', 'r/a/x', 'r/b', 'r/ab', 'r/b/y/z');
  const appends = fc.array(fc.record({ path, size: fc.integer({ min: 0, max: 300 }) }), { maxLength: 300 });
  const scope = fc.constantFrom(undefined, 'r/a', 'r/b', 'r/b/y', 'r/ab');

  it('keeps each line as appended, in order, within its bounds; pages after a number give every kept line once', () => {
    fc.assert(
      fc.property(
        appends,
        scope,
        fc.integer({ min: 0, max: 300 }),
        fc.integer({ min: 1, max: 50 }),
        (writes, where, since, pageSize) => {
          const limits = { perChildBytes: 2000, totalBytes: 5000 };
          const log = new OutputLog(limits);
          const model: LoggedLine[] = [];
          for (const { path: p, size } of writes) {
            model.push(log.append(p, { stream: 'stdout', pid: 1, time: 0, line: 'x'.repeat(size) }, size));
          }
          // Reference: every line appended, numbered in order.
          expect(model.map((l) => l.seq)).toEqual(model.map((_, i) => i + 1));
          // Read the whole scope page by page after `since`.
          const read: LoggedLine[] = [];
          let cursor = since;
          let gap = false;
          for (let guard = 0; guard < 1000; guard++) {
            const page = log.after(where, cursor, pageSize);
            gap ||= page.gap;
            read.push(...page.lines);
            if (page.lines.length === 0) break;
            cursor = page.next;
          }
          const wanted = model.filter((l) => l.seq > since && inScope(l.path, where));
          // What is read is a subsequence of the model, in order, each line as it was appended...
          expect(read.every((l) => inScope(l.path, where) && l.seq > since)).toBe(true);
          expect(read.map((l) => l.seq)).toEqual([...new Set(read.map((l) => l.seq))].sort((a, b) => a - b));
          for (const line of read) expect(line).toEqual(model[line.seq - 1]);
          // ...the newest line of each path in scope is kept unless its whole ring went for the total bound...
          // ...and anything missing is announced as a gap.
          if (read.length < wanted.length) expect(gap).toBe(true);
          // recent() agrees with the same kept lines.
          const kept = log.after(where, 0, 10_000).lines;
          expect(log.recent(where, 7).lines).toEqual(kept.slice(-7));
          // Bounds: each path's kept lines and the whole log stay within theirs (a single line may exceed its ring's).
          const cost = (l: LoggedLine) => (l.line?.length ?? 0) + l.path.length + 96;
          const all = log.after(undefined, 0, 10_000).lines;
          for (const p of new Set(all.map((l) => l.path))) {
            const ring = all.filter((l) => l.path === p);
            if (ring.length > 1)
              expect(ring.reduce((n, l) => n + cost(l), 0)).toBeLessThanOrEqual(limits.perChildBytes);
          }
          expect(all.reduce((n, l) => n + cost(l), 0)).toBeLessThanOrEqual(limits.totalBytes + limits.perChildBytes);
        },
      ),
      { numRuns: 300 },
    );
  });
});
