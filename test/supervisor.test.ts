// Supervisor semantics on real forked workers, ported from the ideas of OTP's supervisor_SUITE.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { start, supervisor, worker, type Tree, type TreeEvent, type WorkerOptions } from '../src/index.js';
import { fixture, isAlive, reap, recorder, type Recorder } from './support/tree.js';

const running: Array<{ tree: Tree; rec: Recorder }> = [];

afterEach(async () => {
  for (const { tree, rec } of running.splice(0)) {
    await tree.stop({ brutal: true }).catch(() => undefined);
    reap(rec.of('child_started').map((e) => e.pid));
  }
  for (const dir of scratch.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** Private directories (a shared /tmp is anyone's) holding the files fixtures count their start attempts in. */
const scratch: string[] = [];
function attemptsFile(): string {
  const dir = mkdtempSync(join(tmpdir(), 'arbor-attempts-'));
  scratch.push(dir);
  return join(dir, 'attempts');
}

const controlled = (id: string, extra: Partial<WorkerOptions> = {}) =>
  worker({ id, module: fixture('controlled.mjs'), shutdown: 5000, ...extra });

async function run(spec: ReturnType<typeof supervisor>) {
  const rec = recorder();
  const tree = await start(spec, { logger: rec.logger });
  running.push({ tree, rec });
  return { tree, rec };
}

const pidOf = (tree: Tree, id: string, path?: string) => {
  const pid = tree.whichChildren(path).find((c) => c.id === id)?.pid;
  if (pid === undefined) throw new Error(`no pid for ${id}`);
  return pid;
};

/** The terminate/start story told by the events after index `from`, e.g. ['terminated:e', 'started:c']. */
const story = (events: TreeEvent[], from: number) =>
  events
    .slice(from)
    .filter((e) => e.event === 'child_terminated' || e.event === 'child_started' || e.event === 'child_exited')
    .map((e) => `${e.event.replace('child_', '')}:${(e as { child: string }).child}`);

const started = (child: string) => (e: TreeEvent) => e.event === 'child_started' && e.child === child;
const exited = (child: string) => (e: TreeEvent) => e.event === 'child_exited' && e.child === child;

describe('strategies', () => {
  it('one_for_one: killing child b of a, b, c restarts only b', async () => {
    const { tree, rec } = await run(
      supervisor({ intensity: 3, children: ['a', 'b', 'c'].map((id) => controlled(id)) }),
    );
    const [a, b, c] = ['a', 'b', 'c'].map((id) => pidOf(tree, id));
    const mark = rec.events.length;
    const restarted = rec.next(started('b'), 'b restarted');
    process.kill(b!, 'SIGKILL');
    await restarted;
    expect(story(rec.events, mark)).toEqual(['exited:b', 'started:b']);
    expect(pidOf(tree, 'a')).toBe(a);
    expect(pidOf(tree, 'c')).toBe(c);
    expect(pidOf(tree, 'b')).not.toBe(b);
    expect(isAlive(b)).toBe(false);
    expect(tree.whichChildren().find((x) => x.id === 'b')?.restarts).toBe(1);
  });

  it('rest_for_one: killing child 3 of 5 terminates 5, 4 then starts 3, 4, 5', async () => {
    const ids = ['c1', 'c2', 'c3', 'c4', 'c5'];
    const { tree, rec } = await run(
      supervisor({ strategy: 'rest_for_one', intensity: 3, children: ids.map((id) => controlled(id)) }),
    );
    const before = ids.map((id) => pidOf(tree, id));
    const mark = rec.events.length;
    const done = rec.next(started('c5'), 'c5 restarted');
    process.kill(before[2]!, 'SIGKILL');
    await done;
    expect(story(rec.events, mark)).toEqual([
      'exited:c3',
      'terminated:c5',
      'terminated:c4',
      'started:c3',
      'started:c4',
      'started:c5',
    ]);
    expect(pidOf(tree, 'c1')).toBe(before[0]);
    expect(pidOf(tree, 'c2')).toBe(before[1]);
    for (const pid of before.slice(2)) expect(isAlive(pid)).toBe(false);
  });

  it('one_for_all: killing child 2 of 3 terminates 3, 1 then starts 1, 2, 3', async () => {
    const ids = ['c1', 'c2', 'c3'];
    const { tree, rec } = await run(
      supervisor({ strategy: 'one_for_all', intensity: 3, children: ids.map((id) => controlled(id)) }),
    );
    const before = ids.map((id) => pidOf(tree, id));
    const mark = rec.events.length;
    const done = rec.next(started('c3'), 'c3 restarted');
    process.kill(before[1]!, 'SIGKILL');
    await done;
    expect(story(rec.events, mark)).toEqual([
      'exited:c2',
      'terminated:c3',
      'terminated:c1',
      'started:c1',
      'started:c2',
      'started:c3',
    ]);
    for (const pid of before) expect(isAlive(pid)).toBe(false);
    expect(tree.countChildren()).toMatchObject({ specs: 3, active: 3, workers: 3 });
  });

  it('one_for_all: a terminated temporary sibling is not restarted and is removed', async () => {
    const { tree, rec } = await run(
      supervisor({
        strategy: 'one_for_all',
        intensity: 3,
        children: [controlled('p'), controlled('t', { restart: 'temporary' }), controlled('q')],
      }),
    );
    const done = rec.next(started('q'), 'q restarted');
    process.kill(pidOf(tree, 'p'), 'SIGKILL');
    await done;
    expect(tree.whichChildren().map((c) => c.id)).toEqual(['p', 'q']);
  });
});

describe('restart types (supervisor_SUITE temporary_*, transient_*, permanent_*)', () => {
  const single = async (restart: 'permanent' | 'transient' | 'temporary') => {
    const r = await run(supervisor({ intensity: 3, children: [controlled('w', { restart }), controlled('other')] }));
    return { ...r, pid: pidOf(r.tree, 'w') };
  };

  it('temporary_normal: a temporary child that exits normally is removed, not restarted', async () => {
    const { tree, rec, pid } = await single('temporary');
    process.kill(pid, 'SIGUSR2');
    const e = await rec.waitFor(exited('w'), 'w exit');
    expect(e).toMatchObject({ reason: 'normal', action: 'remove' });
    expect(tree.whichChildren().map((c) => c.id)).toEqual(['other']);
  });

  it('temporary_abnormal: a temporary child that crashes is removed, not restarted', async () => {
    const { tree, rec, pid } = await single('temporary');
    process.kill(pid, 'SIGINT');
    const e = await rec.waitFor(exited('w'), 'w exit');
    expect(e).toMatchObject({ reason: { error: 'controlled crash' }, action: 'remove' });
    expect((e as { reason: { stack?: string } }).reason.stack).toContain('controlled crash');
    expect(tree.whichChildren().map((c) => c.id)).toEqual(['other']);
  });

  it('transient_normal: a transient child that exits with code 0 stays stopped', async () => {
    const { tree, rec, pid } = await single('transient');
    process.kill(pid, 'SIGUSR2');
    expect(await rec.waitFor(exited('w'), 'w exit')).toMatchObject({ reason: 'normal', action: 'keep_stopped' });
    expect(tree.whichChildren().find((c) => c.id === 'w')).toMatchObject({ status: 'stopped', pid: undefined });
  });

  it('transient_shutdown: a transient child that calls shutdown(detail) stays stopped', async () => {
    const { rec, pid } = await single('transient');
    process.kill(pid, 'SIGWINCH');
    expect(await rec.waitFor(exited('w'), 'w exit')).toMatchObject({
      reason: { shutdown: 'bye' },
      action: 'keep_stopped',
    });
  });

  it('transient_abnormal: a transient child that exits with code 1 is restarted', async () => {
    const { tree, rec, pid } = await single('transient');
    const again = rec.next(started('w'), 'w restarted');
    process.kill(pid, 'SIGHUP');
    expect(await rec.waitFor(exited('w'), 'w exit')).toMatchObject({ reason: { code: 1 }, action: 'restart' });
    await again;
    expect(pidOf(tree, 'w')).not.toBe(pid);
  });

  it('permanent_normal: a permanent child that exits normally is restarted', async () => {
    const { tree, rec, pid } = await single('permanent');
    const again = rec.next(started('w'), 'w restarted');
    process.kill(pid, 'SIGUSR2');
    expect(await rec.waitFor(exited('w'), 'w exit')).toMatchObject({ reason: 'normal', action: 'restart' });
    await again;
    expect(isAlive(pidOf(tree, 'w'))).toBe(true);
  });

  it('permanent_abnormal: a permanent child killed by SIGKILL is restarted', async () => {
    const { rec, pid } = await single('permanent');
    const again = rec.next(started('w'), 'w restarted');
    process.kill(pid, 'SIGKILL');
    expect(await rec.waitFor(exited('w'), 'w exit')).toMatchObject({
      reason: { signal: 'SIGKILL' },
      action: 'restart',
    });
    await again;
  });
});

describe('restart intensity and escalation', () => {
  it('the root giving up terminates all children in reverse start order and ends done with shutdown', async () => {
    const { tree, rec } = await run(
      supervisor({ intensity: 0, children: ['a', 'b', 'c'].map((id) => controlled(id)) }),
    );
    const pids = ['a', 'b', 'c'].map((id) => pidOf(tree, id));
    const mark = rec.events.length;
    process.kill(pids[0]!, 'SIGKILL');
    expect(await tree.done).toBe('shutdown');
    expect(story(rec.events, mark)).toEqual(['exited:a', 'terminated:c', 'terminated:b']);
    expect(rec.of('max_intensity_reached')).toHaveLength(1);
    for (const pid of pids) expect(isAlive(pid)).toBe(false);
  });

  it('one_for_one_escalation: a child supervisor that exceeds its intensity is restarted by its parent', async () => {
    const { tree, rec } = await run(
      supervisor({
        intensity: 3,
        children: [
          supervisor({ id: 'pool', intensity: 0, children: [controlled('w1'), controlled('w2')] }),
          controlled('peer'),
        ],
      }),
    );
    const peer = pidOf(tree, 'peer');
    const old = ['w1', 'w2'].map((id) => pidOf(tree, id, 'root/pool'));
    const back = rec.next(started('pool'), 'pool restarted');
    process.kill(old[0]!, 'SIGKILL');
    await back;
    expect(rec.of('max_intensity_reached').map((e) => e.supervisor)).toEqual(['root/pool']);
    expect(rec.events.find((e) => e.event === 'child_exited' && e.child === 'pool')).toMatchObject({
      reason: 'shutdown',
      action: 'restart',
    });
    for (const pid of old) expect(isAlive(pid)).toBe(false);
    expect(tree.countChildren('root/pool').active).toBe(2);
    expect(pidOf(tree, 'peer')).toBe(peer);
  });

  it('a transient child supervisor that gives up is not restarted (its exit reason is shutdown)', async () => {
    const { tree, rec } = await run(
      supervisor({
        intensity: 3,
        children: [supervisor({ id: 'pool', restart: 'transient', intensity: 0, children: [controlled('w1')] })],
      }),
    );
    process.kill(pidOf(tree, 'w1', 'root/pool'), 'SIGKILL');
    expect(await rec.waitFor(exited('pool'), 'pool exit')).toMatchObject({
      reason: 'shutdown',
      action: 'keep_stopped',
    });
    expect(tree.whichChildren()[0]).toMatchObject({ id: 'pool', status: 'stopped' });
  });

  it('a grandchild storm escalates two levels and stops the tree', async () => {
    const { tree, rec } = await run(
      supervisor({
        intensity: 0,
        children: [
          supervisor({
            id: 'mid',
            intensity: 0,
            children: [supervisor({ id: 'leaf', intensity: 0, children: [controlled('w')] })],
          }),
        ],
      }),
    );
    const pid = pidOf(tree, 'w', 'root/mid/leaf');
    process.kill(pid, 'SIGKILL');
    expect(await tree.done).toBe('shutdown');
    expect(rec.of('max_intensity_reached').map((e) => e.supervisor)).toEqual(['root/mid/leaf', 'root/mid', 'root']);
    expect(isAlive(pid)).toBe(false);
  });

  it('restart_fails: a restart whose start fails is retried, each try counting, until it starts', async () => {
    const attempts = attemptsFile();
    const { tree, rec } = await run(
      supervisor({
        intensity: 4,
        children: [
          worker({
            id: 'w',
            module: fixture('fail-starts.mjs'),
            env: { ATTEMPT_FILE: attempts, FAIL_FROM: '2', FAIL_COUNT: '2' },
          }),
        ],
      }),
    );
    const back = rec.next(started('w'), 'w started again');
    process.kill(pidOf(tree, 'w'), 'SIGKILL');
    await back;
    expect(rec.of('start_failed').map((e) => e.child)).toEqual(['w', 'w']);
    expect(tree.whichChildren()[0]).toMatchObject({ status: 'running', restarts: 3 });
  });

  it('restart_fails: retries that exceed the intensity make the supervisor give up', async () => {
    const attempts = attemptsFile();
    const { tree, rec } = await run(
      supervisor({
        intensity: 2,
        children: [
          worker({
            id: 'w',
            module: fixture('fail-starts.mjs'),
            env: { ATTEMPT_FILE: attempts, FAIL_FROM: '2', FAIL_COUNT: '100' },
          }),
        ],
      }),
    );
    process.kill(pidOf(tree, 'w'), 'SIGKILL');
    expect(await tree.done).toBe('shutdown');
    expect(rec.of('start_failed')).toHaveLength(2);
    expect(rec.of('max_intensity_reached')).toHaveLength(1);
  });
});
