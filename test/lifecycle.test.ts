// Start and stop of a tree on real processes: start failures, shutdown values, no process left behind.
import { afterEach, describe, expect, it } from 'vitest';
import { SpecError, StartFailure, start, supervisor, worker, type Tree } from '../src/index.js';
import { eventually, fixture, isAlive, reap, recorder, type Recorder } from './support/tree.js';

const running: Array<{ tree?: Tree; rec: Recorder }> = [];

afterEach(async () => {
  for (const { tree, rec } of running.splice(0)) {
    await tree?.stop({ brutal: true }).catch(() => undefined);
    reap(rec.of('child_started').map((e) => e.pid));
  }
});

const ok = (id: string, extra = {}) => worker({ id, module: fixture('controlled.mjs'), ...extra });

async function tryStart(spec: ReturnType<typeof supervisor>) {
  const rec = recorder();
  const entry: { tree?: Tree; rec: Recorder } = { rec };
  running.push(entry);
  try {
    entry.tree = await start(spec, { logger: rec.logger });
    return { tree: entry.tree, rec, error: undefined };
  } catch (error) {
    return { tree: undefined, rec, error };
  }
}

const startedPids = (rec: Recorder) =>
  rec
    .of('child_started')
    .map((e) => e.pid)
    .filter((p): p is number => p !== undefined);

describe('start', () => {
  it('starts children one after another in spec order', async () => {
    const { tree, rec } = await tryStart(supervisor({ children: ['a', 'b', 'c'].map((id) => ok(id)) }));
    expect(rec.of('child_started').map((e) => e.child)).toEqual(['a', 'b', 'c']);
    expect(rec.of('supervisor_started')).toHaveLength(1);
    expect(tree!.whichChildren().every((c) => isAlive(c.pid))).toBe(true);
  });

  it('a bad spec is refused before anything is forked, naming the bad field', async () => {
    const { error, rec } = await tryStart(supervisor({ children: [ok('a'), ok('a', { shutdown: -5 })] }));
    expect(error).toBeInstanceOf(SpecError);
    expect(String((error as Error).message)).toContain('root.children[1].id');
    expect(String((error as Error).message)).toContain('root.children[1].shutdown');
    expect(rec.events).toHaveLength(0);
  });

  it('a child that crashes before ready fails the start; those started are terminated in reverse', async () => {
    const { error, rec } = await tryStart(
      supervisor({
        children: [ok('a'), ok('b'), worker({ id: 'bad', module: fixture('crash-before-ready.mjs') }), ok('never')],
      }),
    );
    expect(error).toBeInstanceOf(StartFailure);
    expect((error as StartFailure).reason).toMatchObject({ startFailed: expect.stringContaining("'bad'") });
    expect(rec.of('child_terminated').map((e) => e.child)).toEqual(['b', 'a']);
    expect(rec.of('child_started').map((e) => e.child)).toEqual(['a', 'b']);
    for (const pid of startedPids(rec)) expect(isAlive(pid)).toBe(false);
  });

  it('a child that never announces ready fails with startFailed timeout and is killed', async () => {
    const { error, rec } = await tryStart(
      supervisor({
        children: [ok('a'), worker({ id: 'slow', module: fixture('never-ready.mjs'), startTimeout: 500 })],
      }),
    );
    expect(error).toBeInstanceOf(StartFailure);
    expect(rec.of('start_failed')[0]).toMatchObject({ child: 'slow', reason: { startFailed: 'timeout' } });
    for (const pid of startedPids(rec)) expect(isAlive(pid)).toBe(false);
  });

  it('a nested supervisor whose child fails to start fails its parent start too', async () => {
    const { error, rec } = await tryStart(
      supervisor({
        children: [
          ok('a'),
          supervisor({
            id: 'inner',
            children: [ok('x'), worker({ id: 'bad', module: fixture('crash-before-ready.mjs') })],
          }),
        ],
      }),
    );
    expect(error).toBeInstanceOf(StartFailure);
    expect(rec.of('child_terminated').map((e) => `${e.supervisor}/${e.child}`)).toEqual(['root/inner/x', 'root/a']);
    for (const pid of startedPids(rec)) expect(isAlive(pid)).toBe(false);
  });
});

describe('stop', () => {
  it('stop() terminates in reverse start order, depth first, and leaves no process alive', async () => {
    const { tree, rec } = await tryStart(
      supervisor({
        children: [ok('a'), supervisor({ id: 'inner', children: [ok('x'), ok('y')] }), ok('b')],
      }),
    );
    const pids = startedPids(rec);
    expect(pids).toHaveLength(4);
    expect(await tree!.stop()).toBe('normal');
    expect(await tree!.done).toBe('normal');
    expect(rec.of('child_terminated').map((e) => `${e.supervisor}/${e.child}`)).toEqual([
      'root/b',
      'root/inner/y',
      'root/inner/x',
      'root/inner',
      'root/a',
    ]);
    expect(
      rec
        .of('child_terminated')
        .filter((e) => e.pid !== undefined)
        .every((e) => e.reason === 'shutdown'),
    ).toBe(true);
    for (const pid of pids) expect(isAlive(pid)).toBe(false);
  });

  it('shutdown_timeout: a worker that ignores the stop request is SIGKILLed after its timeout', async () => {
    const { tree, rec } = await tryStart(
      supervisor({
        children: [worker({ id: 'stubborn', module: fixture('ignore-sigterm.mjs'), shutdown: 300 })],
      }),
    );
    const pid = tree!.whichChildren()[0]!.pid;
    await tree!.stop();
    expect(rec.of('child_terminated')[0]).toMatchObject({ child: 'stubborn', reason: { signal: 'SIGKILL' } });
    expect(isAlive(pid)).toBe(false);
  });

  it('brutal_kill: the worker is SIGKILLed without being asked', async () => {
    const { tree, rec } = await tryStart(
      supervisor({
        children: [worker({ id: 'w', module: fixture('ignore-sigterm.mjs'), shutdown: 'brutal_kill' })],
      }),
    );
    const pid = tree!.whichChildren()[0]!.pid;
    await tree!.stop();
    expect(rec.of('child_terminated')[0]).toMatchObject({ child: 'w', reason: { signal: 'SIGKILL' } });
    expect(isAlive(pid)).toBe(false);
  });

  it('shutdown_infinity: a supervisor child waits for its own children however long they take', async () => {
    const { tree, rec } = await tryStart(
      supervisor({
        children: [
          supervisor({
            id: 'inner',
            shutdown: 'infinity',
            children: [worker({ id: 'slow', module: fixture('ignore-sigterm.mjs'), shutdown: 500 })],
          }),
        ],
      }),
    );
    await tree!.stop();
    const order = rec.of('child_terminated').map((e) => e.child);
    expect(order).toEqual(['slow', 'inner']);
  });

  it('a supervisor child with a shutdown timeout is brutally stopped when the timeout passes', async () => {
    const { tree, rec } = await tryStart(
      supervisor({
        children: [
          supervisor({
            id: 'inner',
            shutdown: 300,
            children: [worker({ id: 'slow', module: fixture('ignore-sigterm.mjs'), shutdown: 60_000 })],
          }),
        ],
      }),
    );
    const pid = tree!.whichChildren('root/inner')[0]!.pid;
    await tree!.stop();
    expect(isAlive(pid)).toBe(false);
    expect(rec.of('child_terminated').map((e) => e.child)).toEqual(['slow', 'inner']);
  });

  it('workers exit by themselves when the supervisor process is SIGKILLed', async () => {
    const { fork } = await import('node:child_process');
    const host = fork(fixture('host-tree.mjs'), [], { stdio: ['ignore', 'pipe', 'inherit', 'ipc'] });
    const pids = await new Promise<number[]>((resolve) =>
      host.once('message', (m) => resolve((m as { pids: number[] }).pids)),
    );
    try {
      expect(pids.length).toBe(2);
      host.kill('SIGKILL');
      await eventually(() => pids.every((p) => !isAlive(p)), 'orphaned workers exit');
    } finally {
      reap([host.pid, ...pids]);
    }
  });
});
