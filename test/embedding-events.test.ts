// Embedding: a subscriber registered before start sees every event of the initial start, in order.
import { afterEach, describe, expect, it } from 'vitest';
import {
  createTree,
  EventOverflowError,
  SpecError,
  start,
  supervisor,
  worker,
  type Tree,
  type TreeEvent,
} from '../src/index.js';
import { fixture, reap } from './support/tree.js';

const trees: Tree[] = [];
const pids = new Set<number>();

afterEach(async () => {
  for (const tree of trees.splice(0)) await tree.stop({ brutal: true }).catch(() => undefined);
  reap(pids);
  pids.clear();
});

const ready = (id: string) => worker({ id, module: fixture('ready.mjs'), shutdown: 5000 });

/** root: a, pool (b, c), d — started depth first, in spec order. */
const nested = () =>
  supervisor({
    id: 'root',
    strategy: 'one_for_one',
    children: [ready('a'), supervisor({ id: 'pool', children: [ready('b'), ready('c')] }), ready('d')],
  });

const track = (tree: Tree): Tree => {
  trees.push(tree);
  tree.on('child_started', (e) => e.pid !== undefined && pids.add(e.pid));
  return tree;
};

const startedIn = (events: TreeEvent[]) =>
  events.flatMap((e) => (e.event === 'child_started' ? [`${e.supervisor}/${e.child}`] : []));

const label = (e: TreeEvent) => `${e.event} ${e.supervisor}${'child' in e ? `/${e.child}` : ''}`;

const SPEC_ORDER = ['root/a', 'root/pool/b', 'root/pool/c', 'root/pool', 'root/d'];

describe('events from the first instant', () => {
  it('createTree + on() before start(): every initial child_started, in spec order', async () => {
    const tree = track(createTree(nested(), { logger: false }));
    const seen: TreeEvent[] = [];
    tree.on('child_started', (e) => seen.push(e));
    const all: TreeEvent[] = [];
    tree.on('event', (e) => all.push(e));
    expect(tree.whichChildren).toBeTypeOf('function');
    await expect(tree.start()).resolves.toBe(tree);
    expect(startedIn(seen)).toEqual(SPEC_ORDER);
    // A supervisor reports itself started once all its children are (as OTP's init returns after them).
    expect(all.map(label)).toEqual([
      'child_started root/a',
      'child_started root/pool/b',
      'child_started root/pool/c',
      'supervisor_started root/pool',
      'child_started root/pool',
      'child_started root/d',
      'supervisor_started root',
    ]);
    // start() is idempotent: the same running tree, nothing started twice.
    await expect(tree.start()).resolves.toBe(tree);
    expect(startedIn(seen)).toHaveLength(5);
  });

  it('start(spec, { on }) is the short form', async () => {
    const seen: string[] = [];
    const everything: string[] = [];
    const tree = track(
      await start(nested(), {
        logger: false,
        on: { child_started: (e) => seen.push(`${e.supervisor}/${e.child}`), event: (e) => everything.push(e.event) },
      }),
    );
    expect(seen).toEqual(SPEC_ORDER);
    expect(everything.filter((e) => e === 'child_started')).toHaveLength(5);
    await tree.stop();
    expect(everything.at(-1)).toBe('supervisor_stopped');
  });

  it('a bad spec throws at createTree and rejects start(), before anything forks', async () => {
    const bad = supervisor({ children: [ready('x'), ready('x')] });
    expect(() => createTree(bad)).toThrow(SpecError);
    await expect(start(bad, { logger: false })).rejects.toThrow(SpecError);
  });
});

describe('tree.events()', () => {
  it('iterates every event from start to the root stopping, then ends', async () => {
    const tree = track(createTree(nested(), { logger: false }));
    const viaOn: TreeEvent[] = [];
    tree.on('event', (e) => viaOn.push(e));
    const collected = (async () => {
      const got: TreeEvent[] = [];
      for await (const e of tree.events()) got.push(e);
      return got;
    })();
    await tree.start();
    await tree.stop();
    const got = await collected;
    expect(got).toEqual(viaOn);
    expect(startedIn(got)).toEqual(SPEC_ORDER);
    expect(got.at(-1)).toMatchObject({ event: 'supervisor_stopped', supervisor: 'root', reason: 'normal' });
  });

  it('only: a filtered stream', async () => {
    const tree = track(createTree(nested(), { logger: false }));
    const stream = tree.events({ only: ['child_started'] });
    await tree.start();
    const got: string[] = [];
    for await (const e of stream) {
      got.push(`${e.supervisor}/${'child' in e ? e.child : ''}`);
      if (got.length === 5) break;
    }
    expect(got).toEqual(SPEC_ORDER);
  });

  it('a consumer that falls behind more than `buffer` events gets its events, then EventOverflowError', async () => {
    const tree = track(createTree(nested(), { logger: false }));
    const stream = tree.events({ buffer: 3 });
    await tree.start(); // 7 events, nobody reading
    const got: string[] = [];
    const error = await (async () => {
      try {
        for await (const e of stream) got.push(e.event);
      } catch (err) {
        return err;
      }
      return undefined;
    })();
    expect(got).toEqual(['child_started', 'child_started', 'child_started']);
    expect(error).toBeInstanceOf(EventOverflowError);
    expect((error as EventOverflowError).buffer).toBe(3);
  });

  it('return() unsubscribes: a stream left early holds nothing', async () => {
    const tree = track(createTree(nested(), { logger: false }));
    const before = tree.listenerCount('event');
    const stream = tree.events();
    expect(tree.listenerCount('event')).toBe(before + 1);
    await tree.start();
    await stream.next();
    await stream.return!();
    expect(tree.listenerCount('event')).toBe(before);
  });
});
