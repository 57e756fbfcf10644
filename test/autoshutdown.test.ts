// autoShutdown (DESIGN.md §3, OTP 24+) on real workers: a supervisor stops itself when its significant children
// end — any of them (`any_significant`) or the last of them (`all_significant`) — and exits with `shutdown`, so a
// transient supervisor is not restarted by its parent. Only a significant child that is not restarted counts.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  supervisor,
  worker,
  type SupervisorSpec,
  type Tree,
  type TreeEvent,
  type WorkerOptions,
} from '../src/index.js';
import { eventually, fixture, isAlive, reap } from './support/tree.js';
import { treeScope } from './support/tree-scope.js';

const CONTROLLED = fixture('controlled.mjs');

/** argv of a live process (Linux): reap only our own workers, even if a pid has been reused meanwhile. */
const commandLine = (pid: number): string => {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    return '';
  }
};

const { run } = treeScope({
  stopped: ({ rec }) =>
    reap(
      rec
        .of('child_started')
        .flatMap((e) => (e.pid !== undefined && commandLine(e.pid).includes(CONTROLLED) ? [e.pid] : [])),
    ),
});

const controlled = (id: string, extra: Partial<WorkerOptions> = {}) => worker({ id, module: CONTROLLED, ...extra });
/** A significant worker: transient (ends the supervisor by exiting normally) or temporary (by exiting at all). */
const significant = (id: string, restart: 'transient' | 'temporary') => controlled(id, { restart, significant: true });

const pidOf = (tree: Tree, path: string, id: string): number => {
  const pid = tree.whichChildren(path).find((c) => c.id === id)?.pid;
  if (pid === undefined) throw new Error(`no pid for ${path}/${id}`);
  return pid;
};

/** `promise`, or a failure naming `what` after `ms`: a tree that never stops fails here, not at the test timeout. */
function within<T>(promise: Promise<T>, what: string, ms = 20_000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms);
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

const exitedIn = (supervisor: string, child: string) => (e: TreeEvent) =>
  e.event === 'child_exited' && e.supervisor === supervisor && e.child === child;
const startedIn = (supervisor: string, child: string) => (e: TreeEvent) =>
  e.event === 'child_started' && e.supervisor === supervisor && e.child === child;

/** root → `job` (transient, so its parent does not restart it after a `shutdown` exit) and a bystander `peer`. */
const underRoot = (job: SupervisorSpec): SupervisorSpec =>
  supervisor({ intensity: 3, children: [job, controlled('peer')] });

describe('autoShutdown (OTP 24+): significant children stop their supervisor', () => {
  it('any_significant: a significant transient worker that exits normally stops its supervisor; its parent does not restart it', async () => {
    const { tree, rec } = await run(
      underRoot(
        supervisor({
          id: 'job',
          restart: 'transient',
          autoShutdown: 'any_significant',
          children: [controlled('helper'), significant('main', 'transient'), controlled('logger')],
        }),
      ),
    );
    const [helper, main, logger] = ['helper', 'main', 'logger'].map((id) => pidOf(tree, 'root/job', id));
    const peer = pidOf(tree, 'root', 'peer');

    process.kill(main!, 'SIGUSR2');
    const jobExit = await rec.waitFor(exitedIn('root', 'job'), 'job exits');

    expect(rec.events.find(exitedIn('root/job', 'main'))).toMatchObject({ reason: 'normal', action: 'auto_shutdown' });
    expect(rec.of('auto_shutdown')).toMatchObject([{ supervisor: 'root/job', child: 'main' }]);
    // Its other children are terminated in reverse start order, and their processes are gone.
    expect(
      rec
        .of('child_terminated')
        .filter((e) => e.supervisor === 'root/job')
        .map((e) => e.child),
    ).toEqual(['logger', 'helper']);
    for (const pid of [helper, logger]) expect(isAlive(pid)).toBe(false);
    expect(rec.of('supervisor_stopped').find((e) => e.supervisor === 'root/job')).toMatchObject({
      reason: 'shutdown',
      state: 'stopped',
    });
    // The supervisor exits with `shutdown`: a normal reason, so root keeps the transient `job` stopped.
    expect(jobExit).toMatchObject({ reason: 'shutdown', action: 'keep_stopped' });
    expect(tree.whichChildren()).toMatchObject([
      { id: 'job', status: 'stopped' },
      { id: 'peer', status: 'running', pid: peer },
    ]);
    expect(rec.events.filter(startedIn('root', 'job'))).toHaveLength(1);
    expect(rec.of('max_intensity_reached')).toEqual([]);
  });

  it('all_significant: the supervisor stops only when the last significant child has ended', async () => {
    const { tree, rec } = await run(
      underRoot(
        supervisor({
          id: 'job',
          restart: 'transient',
          autoShutdown: 'all_significant',
          children: [controlled('helper'), significant('first', 'temporary'), significant('second', 'temporary')],
        }),
      ),
    );
    const [helper, first, second] = ['helper', 'first', 'second'].map((id) => pidOf(tree, 'root/job', id));

    process.kill(first!, 'SIGUSR2');
    expect(await rec.waitFor(exitedIn('root/job', 'first'), 'first exits')).toMatchObject({
      reason: 'normal',
      action: 'remove',
    });
    // One significant child still runs: the supervisor carries on, the exited temporary child is gone from it.
    expect(rec.of('auto_shutdown')).toEqual([]);
    expect(tree.status('root/job').state).toBe('running');
    expect(tree.whichChildren('root/job')).toMatchObject([
      { id: 'helper', status: 'running', pid: helper },
      { id: 'second', status: 'running', pid: second },
    ]);
    expect(isAlive(helper) && isAlive(second)).toBe(true);

    // A temporary significant child ends its part however it exits: here with exit code 1.
    process.kill(second!, 'SIGHUP');
    const jobExit = await rec.waitFor(exitedIn('root', 'job'), 'job exits');
    expect(rec.events.find(exitedIn('root/job', 'second'))).toMatchObject({
      reason: { code: 1 },
      action: 'auto_shutdown',
    });
    expect(rec.of('auto_shutdown')).toMatchObject([{ supervisor: 'root/job', child: 'second' }]);
    expect(jobExit).toMatchObject({ reason: 'shutdown', action: 'keep_stopped' });
    // The helper is not significant: it does not keep the supervisor alive, and goes with it.
    expect(
      rec
        .of('child_terminated')
        .filter((e) => e.supervisor === 'root/job')
        .map((e) => e.child),
    ).toEqual(['helper']);
    expect(isAlive(helper)).toBe(false);
    expect(tree.whichChildren()).toMatchObject([
      { id: 'job', status: 'stopped' },
      { id: 'peer', status: 'running' },
    ]);
  });

  it('any_significant: a significant transient worker that crashes is restarted and does not stop the supervisor', async () => {
    const { tree, rec } = await run(
      underRoot(
        supervisor({
          id: 'job',
          restart: 'transient',
          autoShutdown: 'any_significant',
          intensity: 3,
          children: [controlled('helper'), significant('main', 'transient')],
        }),
      ),
    );
    const helper = pidOf(tree, 'root/job', 'helper');
    const main = pidOf(tree, 'root/job', 'main');

    const back = rec.next(startedIn('root/job', 'main'), 'main restarted');
    process.kill(main, 'SIGKILL');
    expect(await rec.waitFor(exitedIn('root/job', 'main'), 'main exits')).toMatchObject({
      reason: { signal: 'SIGKILL' },
      action: 'restart',
    });
    await back;
    await eventually(() => tree.status('root/job').state === 'running', 'job back to running after the restart');
    expect(rec.of('auto_shutdown')).toEqual([]);
    const again = pidOf(tree, 'root/job', 'main');
    expect(again).not.toBe(main);
    expect(pidOf(tree, 'root/job', 'helper')).toBe(helper);

    // The same child exiting normally is not restarted, and so does stop the supervisor.
    process.kill(again, 'SIGUSR2');
    expect(await rec.waitFor(exitedIn('root', 'job'), 'job exits')).toMatchObject({
      reason: 'shutdown',
      action: 'keep_stopped',
    });
    expect(rec.of('auto_shutdown')).toMatchObject([{ supervisor: 'root/job', child: 'main' }]);
    expect(isAlive(helper)).toBe(false);
  });

  it('simple_one_for_one with a significant template: a dynamic child that exits normally stops the supervisor', async () => {
    const { tree, rec } = await run(
      underRoot(
        supervisor({
          id: 'job',
          restart: 'transient',
          strategy: 'simple_one_for_one',
          autoShutdown: 'any_significant',
          intensity: 3,
          template: significant('task', 'transient'),
        }),
      ),
    );
    const one = (await tree.startChild('root/job', ['one'])).pid!;
    const two = (await tree.startChild('root/job', ['two'])).pid!;

    process.kill(one, 'SIGUSR2');
    expect(await rec.waitFor(exitedIn('root', 'job'), 'job exits')).toMatchObject({
      reason: 'shutdown',
      action: 'keep_stopped',
    });
    expect(rec.events.find(exitedIn('root/job', 'task-1'))).toMatchObject({
      reason: 'normal',
      action: 'auto_shutdown',
    });
    expect(
      rec
        .of('child_terminated')
        .filter((e) => e.supervisor === 'root/job')
        .map((e) => e.child),
    ).toEqual(['task-2']);
    expect(isAlive(two)).toBe(false);
  });

  it('any_significant at the root: the tree stops and done resolves with shutdown', async () => {
    const { tree, rec } = await run(
      supervisor({
        autoShutdown: 'any_significant',
        children: [controlled('helper'), significant('main', 'transient')],
      }),
    );
    const helper = pidOf(tree, 'root', 'helper');

    process.kill(pidOf(tree, 'root', 'main'), 'SIGUSR2');
    expect(await within(tree.done, 'the tree to stop')).toBe('shutdown');
    expect(rec.of('auto_shutdown')).toMatchObject([{ supervisor: 'root', child: 'main' }]);
    expect(rec.of('supervisor_stopped')).toMatchObject([{ supervisor: 'root', reason: 'shutdown', state: 'stopped' }]);
    expect(rec.of('max_intensity_reached')).toEqual([]);
    expect(isAlive(helper)).toBe(false);
  });
});
