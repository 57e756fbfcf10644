// OTP supervisor semantics on every kind of child: the scenarios of supervisor.test.ts (strategies, restart types,
// intensity, shutdown, significant children, dynamic children, calls), run on real processes, threads and tasks
// through one driver (test/support/kinds.ts), which shows the three kinds behave alike. ARBOR_TEST_KINDS=task (or a
// comma-separated list) narrows the run.
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { start, supervisor, type SupervisorSpec, type Tree, type TreeEvent } from '../src/index.js';
import { DRIVERS, KINDS, TEST_HOSTS, liveTasks, nothingLeftRunning, type Kind } from './support/kinds.js';
import { liveThreads } from '../src/thread/handle.js';
import { liveHosts } from '../src/host/host-instance.js';
import { eventually, recorder, type Recorder } from './support/tree.js';

const running: Array<{ tree: Tree; rec: Recorder }> = [];

afterEach(async () => {
  for (const { tree } of running.splice(0)) await tree.stop({ brutal: true }).catch(() => undefined);
  // Nothing left running: no task unsettled (stubborn ones hold nothing), no thread alive.
  await eventually(() => liveTasks.size === 0, `every task settled (left: ${[...liveTasks].join(', ')})`);
  await eventually(() => liveThreads() === 0, 'every thread gone');
  await eventually(() => liveHosts() === 0, 'every task host gone');
});
afterAll(nothingLeftRunning);

async function run(spec: SupervisorSpec) {
  const rec = recorder();
  // The pool of the `hosted` kind: started only if a task is placed in it.
  const tree = await start({ ...spec, hosts: TEST_HOSTS }, { logger: rec.logger });
  running.push({ tree, rec });
  return { tree, rec };
}

/** Tasks in host processes too, unless ARBOR_TEST_KINDS narrows the run. */
const SEMANTICS_KINDS: Kind[] = process.env.ARBOR_TEST_KINDS === undefined ? [...KINDS, 'hosted'] : KINDS;

/** The terminate/start story told by the events after index `from`, e.g. ['terminated:e', 'started:c']. */
const story = (events: TreeEvent[], from: number) =>
  events
    .slice(from)
    .filter((e) => e.event === 'child_terminated' || e.event === 'child_started' || e.event === 'child_exited')
    .map((e) => `${e.event.replace('child_', '')}:${(e as { child: string }).child}`);

const started = (child: string) => (e: TreeEvent) => e.event === 'child_started' && e.child === child;
const exited = (child: string) => (e: TreeEvent) => e.event === 'child_exited' && e.child === child;
const whoami = (tree: Tree, path: string) => tree.call(path, 'whoami', { timeout: 20_000 }) as Promise<string>;

describe.each(SEMANTICS_KINDS)('%s children', (kind) => {
  const d = DRIVERS[kind];

  describe('strategies', () => {
    it('one_for_one: crashing child b of a, b, c restarts only b', async () => {
      const { tree, rec } = await run(supervisor({ intensity: 3, children: ['a', 'b', 'c'].map((id) => d.child(id)) }));
      const [a, b, c] = await Promise.all(['a', 'b', 'c'].map((id) => whoami(tree, `root/${id}`)));
      const mark = rec.events.length;
      const restarted = rec.next(started('b'), 'b restarted');
      tree.cast('root/b', 'crash');
      await restarted;
      expect(story(rec.events, mark)).toEqual(['exited:b', 'started:b']);
      expect(rec.events.slice(mark).find(exited('b'))).toMatchObject({ reason: d.crashReason, action: 'restart' });
      expect(await whoami(tree, 'root/a')).toBe(a);
      expect(await whoami(tree, 'root/c')).toBe(c);
      expect(await whoami(tree, 'root/b')).not.toBe(b);
      expect(tree.whichChildren().find((x) => x.id === 'b')).toMatchObject({
        restarts: 1,
        status: 'running',
        type: d.type,
      });
    });

    it('rest_for_one: crashing child 3 of 5 terminates 5, 4 then starts 3, 4, 5', async () => {
      const ids = ['c1', 'c2', 'c3', 'c4', 'c5'];
      const { tree, rec } = await run(
        supervisor({ strategy: 'rest_for_one', intensity: 3, children: ids.map((id) => d.child(id)) }),
      );
      const before = await Promise.all(ids.map((id) => whoami(tree, `root/${id}`)));
      const mark = rec.events.length;
      const done = rec.next(started('c5'), 'c5 restarted');
      tree.cast('root/c3', 'crash');
      await done;
      expect(story(rec.events, mark)).toEqual([
        'exited:c3',
        'terminated:c5',
        'terminated:c4',
        'started:c3',
        'started:c4',
        'started:c5',
      ]);
      const after = await Promise.all(ids.map((id) => whoami(tree, `root/${id}`)));
      expect(after.slice(0, 2)).toEqual(before.slice(0, 2));
      for (let i = 2; i < 5; i++) expect(after[i]).not.toBe(before[i]);
    });

    it('one_for_all: crashing child 2 of 3 terminates 3, 1 then starts 1, 2, 3; a temporary sibling is removed', async () => {
      const { tree, rec } = await run(
        supervisor({
          strategy: 'one_for_all',
          intensity: 3,
          children: [d.child('c1'), d.child('c2'), d.child('c3'), d.child('t', { restart: 'temporary' })],
        }),
      );
      const mark = rec.events.length;
      const done = rec.next(started('c3'), 'c3 restarted');
      tree.cast('root/c2', 'crash');
      await done;
      expect(story(rec.events, mark)).toEqual([
        'exited:c2',
        'terminated:t',
        'terminated:c3',
        'terminated:c1',
        'started:c1',
        'started:c2',
        'started:c3',
      ]);
      expect(tree.whichChildren().map((c) => c.id)).toEqual(['c1', 'c2', 'c3']);
    });
  });

  describe('restart types', () => {
    const cases = [
      ['temporary', 'normal', 'remove'],
      ['temporary', 'crash', 'remove'],
      ['transient', 'normal', 'keep_stopped'],
      ['transient', 'crash', 'restart'],
      ['permanent', 'normal', 'restart'],
      ['permanent', 'crash', 'restart'],
    ] as const;
    it.each(cases)('%s child, %s exit: %s', async (restart, how, action) => {
      const { tree, rec } = await run(
        supervisor({ intensity: 3, children: [d.child('w', { restart }), d.child('other')] }),
      );
      const other = await whoami(tree, 'root/other');
      // A waiter only when a restart is expected: one left waiting would reject when it times out.
      const again = action === 'restart' ? rec.next(started('w'), 'w restarted') : undefined;
      tree.cast('root/w', how);
      const e = await rec.waitFor(exited('w'), 'w exit');
      expect(e).toMatchObject({ reason: how === 'normal' ? 'normal' : d.crashReason, action });
      if (action === 'restart') await again;
      const ids = tree.whichChildren().map((c) => c.id);
      expect(ids).toEqual(action === 'remove' ? ['other'] : ['w', 'other']);
      if (action === 'keep_stopped') expect(tree.whichChildren()[0]).toMatchObject({ status: 'stopped' });
      expect(await whoami(tree, 'root/other')).toBe(other);
    });
  });

  describe('restart intensity and escalation', () => {
    it('the root giving up terminates all children in reverse start order and ends done with shutdown', async () => {
      const { tree, rec } = await run(supervisor({ intensity: 0, children: ['a', 'b', 'c'].map((id) => d.child(id)) }));
      const mark = rec.events.length;
      tree.cast('root/a', 'crash');
      expect(await tree.done).toBe('shutdown');
      expect(story(rec.events, mark)).toEqual(['exited:a', 'terminated:c', 'terminated:b']);
      expect(rec.of('max_intensity_reached')).toHaveLength(1);
    });

    it('a child supervisor that exceeds its intensity is restarted by its parent; its sibling is untouched', async () => {
      const { tree, rec } = await run(
        supervisor({
          intensity: 3,
          children: [
            supervisor({ id: 'pool', intensity: 0, children: [d.child('w1'), d.child('w2')] }),
            d.child('peer'),
          ],
        }),
      );
      const peer = await whoami(tree, 'root/peer');
      const back = rec.next(started('pool'), 'pool restarted');
      tree.cast('root/pool/w1', 'crash');
      await back;
      expect(rec.of('max_intensity_reached').map((e) => e.supervisor)).toEqual(['root/pool']);
      expect(tree.countChildren('root/pool')).toMatchObject({ active: 2, workers: 2 });
      expect(await whoami(tree, 'root/peer')).toBe(peer);
    });
  });

  describe('shutdown', () => {
    it('a stop asks the child to end and it ends with shutdown', async () => {
      const { tree, rec } = await run(supervisor({ children: [d.child('w')] }));
      expect(await tree.stop()).toBe('normal');
      expect(rec.of('child_terminated')).toMatchObject([{ child: 'w', reason: 'shutdown' }]);
    });

    it('a child that does not end within its shutdown timeout is stopped by force after it', async () => {
      const { tree, rec } = await run(
        supervisor({ children: [d.child('w', { shutdown: 300, stubborn: true }), d.child('v')] }),
      );
      const t0 = Date.now();
      await tree.stop();
      expect(Date.now() - t0).toBeGreaterThanOrEqual(280);
      expect(rec.of('child_terminated')).toMatchObject([
        { child: 'v', reason: 'shutdown' },
        { child: 'w', reason: d.timeoutReason },
      ]);
    });

    it('brutal_kill stops the child at once, whatever it does', async () => {
      const { tree, rec } = await run(
        supervisor({ children: [d.child('w', { shutdown: 'brutal_kill', stubborn: true })] }),
      );
      await tree.terminateChild('root', 'w');
      expect(rec.of('child_terminated')).toMatchObject([{ child: 'w', reason: d.brutalReason }]);
      expect(tree.whichChildren()[0]).toMatchObject({ status: 'stopped' });
      expect(await whoami(tree, 'root/w').catch((e: Error) => e.message)).toMatch(/not_running/);
    });
  });

  describe('significant children (autoShutdown)', () => {
    it('any_significant: a significant transient child ending normally stops its supervisor, not restarted', async () => {
      const { tree, rec } = await run(
        supervisor({
          intensity: 3,
          children: [
            supervisor({
              id: 'job',
              restart: 'transient',
              autoShutdown: 'any_significant',
              children: [d.child('step', { restart: 'transient', significant: true }), d.child('helper')],
            }),
            d.child('peer'),
          ],
        }),
      );
      tree.cast('root/job/step', 'normal');
      expect(await rec.waitFor(exited('job'), 'job exit')).toMatchObject({
        reason: 'shutdown',
        action: 'keep_stopped',
      });
      expect(rec.of('auto_shutdown')).toMatchObject([{ supervisor: 'root/job', child: 'step' }]);
      expect(tree.whichChildren().map((c) => [c.id, c.status])).toEqual([
        ['job', 'stopped'],
        ['peer', 'running'],
      ]);
    });

    it('all_significant: the supervisor stops only when the last significant child has ended', async () => {
      const { tree, rec } = await run(
        supervisor({
          children: [
            supervisor({
              id: 'job',
              restart: 'transient',
              autoShutdown: 'all_significant',
              children: [
                d.child('s1', { restart: 'temporary', significant: true }),
                d.child('s2', { restart: 'temporary', significant: true }),
              ],
            }),
          ],
        }),
      );
      tree.cast('root/job/s1', 'crash');
      await rec.waitFor(exited('s1'), 's1 exit');
      expect(tree.whichChildren()[0]).toMatchObject({ status: 'running' });
      tree.cast('root/job/s2', 'normal');
      expect(await rec.waitFor(exited('job'), 'job exit')).toMatchObject({ reason: 'shutdown' });
    });
  });

  describe('dynamic children (simple_one_for_one)', () => {
    it('startChild adds children from the template; a crash restarts one, a temporary one is dropped', async () => {
      const { tree, rec } = await run(
        supervisor({
          children: [
            supervisor({
              id: 'pool',
              strategy: 'simple_one_for_one',
              intensity: 5,
              template: d.child('s', { restart: 'transient' }),
            }),
            supervisor({
              id: 'temps',
              strategy: 'simple_one_for_one',
              template: d.child('t', { restart: 'temporary' }),
            }),
          ],
        }),
      );
      const infos = await Promise.all([1, 2, 3].map((n) => tree.startChild('root/pool', [`arg${n}`])));
      expect(infos.map((i) => i.id)).toEqual(['s-1', 's-2', 's-3']);
      expect(tree.countChildren('root/pool')).toEqual({
        specs: 1,
        active: 3,
        supervisors: 0,
        workers: 3,
        listeners: 0,
      });
      const s2 = await whoami(tree, 'root/pool/s-2');
      const back = rec.next(started('s-2'), 's-2 restarted');
      tree.cast('root/pool/s-2', 'crash');
      await back;
      expect(await whoami(tree, 'root/pool/s-2')).not.toBe(s2);
      tree.cast('root/pool/s-3', 'normal');
      // As OTP: a dynamic child that is not restarted is deleted.
      expect(await rec.waitFor(exited('s-3'), 's-3 exit')).toMatchObject({ reason: 'normal', action: 'remove' });

      await tree.startChild('root/temps');
      tree.cast('root/temps/t-1', 'crash');
      expect(await rec.waitFor(exited('t-1'), 't-1 exit')).toMatchObject({ reason: d.crashReason, action: 'remove' });
      expect(tree.whichChildren('root/temps')).toEqual([]);

      await tree.terminateChild('root/pool', 's-1');
      expect(tree.whichChildren('root/pool').map((c) => c.id)).toEqual(['s-2']);
      // A call to the pool goes to one of its running children.
      expect(await tree.call('root/pool', 'whoami')).toMatch(/#/);
    });
  });
});

describe.runIf(KINDS.includes('task'))('task arguments and messages', () => {
  it('a dynamic task gets the template args then startChild args; send() is a worker_message event', async () => {
    const { task } = await import('../src/index.js');
    const seen: string[][] = [];
    const { tree, rec } = await run(
      supervisor({
        children: [
          supervisor({
            id: 'pool',
            strategy: 'simple_one_for_one',
            template: task({
              id: 'job',
              args: ['base'],
              restart: 'temporary',
              run: async ({ args, send }) => {
                seen.push([...args]);
                send({ got: args });
              },
            }),
          }),
        ],
      }),
    );
    await tree.startChild('root/pool', ['extra']);
    await rec.waitFor(exited('job-1'), 'job-1 exit');
    expect(seen).toEqual([['base', 'extra']]);
    expect(rec.of('worker_message')).toMatchObject([{ path: 'root/pool/job-1', message: { got: ['base', 'extra'] } }]);
    await eventually(() => tree.whichChildren('root/pool').length === 0, 'job-1 removed');
  });
});
