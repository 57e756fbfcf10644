// The chaos kit on threads and tasks, without processes: which running children a status offers as targets, which
// faults may hit which kind (a thread or a task has no pid of its own, and its memory is its host's), how an
// incarnation without a pid is told from the next, and the restart spans of children that exit without a pid.
import { describe, expect, it } from 'vitest';
import { canTake, Injector } from '../src/chaos/inject.js';
import type { FaultKind, PlannedFault } from '../src/chaos/plan.js';
import { incarnationOf, runningWorkers, type ChaosTarget, type WorkerRef } from '../src/chaos/target.js';
import { TimelineRecorder } from '../src/chaos/timeline.js';
import type { SupervisorStatus } from '../src/index.js';

type StatusChild = SupervisorStatus['children'][number];
const child = (id: string, fields: Partial<StatusChild>): StatusChild => ({
  id,
  type: 'worker',
  pid: undefined,
  status: 'running',
  restarts: 0,
  uptime: 1,
  restart: 'permanent',
  ...fields,
});

const supervisorStatus = (path: string, children: StatusChild[]): SupervisorStatus =>
  ({ path, children }) as unknown as SupervisorStatus;

describe('targets', () => {
  it('a status offers running processes, threads and tasks; a thread or task incarnation is named by restart counts', () => {
    const status = supervisorStatus('root', [
      child('web', { kind: 'process', pid: 41, restarts: 2 }),
      child('th', { kind: 'thread', restarts: 1 }),
      child('loop', { type: 'task', restarts: 3 }),
      child('off', { type: 'task', status: 'stopped' }),
      child('http', { type: 'listener' }),
      child('jobs', {
        type: 'supervisor',
        restarts: 4,
        supervisor: supervisorStatus('root/jobs', [child('job-1', { type: 'task', restarts: 0 })]),
      }),
    ]);
    expect(runningWorkers(status)).toEqual([
      { path: 'root/web', pid: 41, restarts: 2 },
      { path: 'root/th', kind: 'thread', restarts: 1, incarnation: '1' },
      { path: 'root/loop', kind: 'task', restarts: 3, incarnation: '3' },
      { path: 'root/jobs/job-1', kind: 'task', restarts: 0, incarnation: '4.0' },
    ]);
    // The child record of a restarted supervisor starts again at 0 restarts: its supervisor's count tells them apart.
    const before = { path: 'root/jobs/job-1', kind: 'task', restarts: 0, incarnation: '4.0' } as const;
    const after = { ...before, incarnation: '5.0' };
    expect(incarnationOf(before)).not.toBe(incarnationOf(after));
    expect(incarnationOf({ path: 'root/web', pid: 41 })).toBe('pid 41');
  });

  it('signals and kill-all need a pid; memory a process (a thread grows its host); hang no task; throw and exit any', () => {
    const process = { path: 'p', pid: 1 };
    const thread: WorkerRef = { path: 't', kind: 'thread', restarts: 0 };
    const task: WorkerRef = { path: 'k', kind: 'task', restarts: 0 };
    const takes = (fault: FaultKind) => [process, thread, task].filter((w) => canTake(fault, w)).map((w) => w.path);
    expect(takes('sigkill')).toEqual(['p']);
    expect(takes('sigterm')).toEqual(['p']);
    expect(takes('kill-all')).toEqual(['p']);
    expect(takes('memory')).toEqual(['p']);
    expect(takes('hang')).toEqual(['p', 't']);
    // A task in a host pool takes hang: it hangs its host (whose heartbeat ends it with every task in it).
    expect(canTake('hang', { ...task, host: 'jobs#1' })).toBe(true);
    expect(canTake('memory', { ...task, host: 'jobs#1' })).toBe(false);
    expect(takes('throw')).toEqual(['p', 't', 'k']);
    expect(takes('exit')).toEqual(['p', 't', 'k']);
  });
});

describe('injecting into threads and tasks', () => {
  const fake = () => {
    const asked: string[] = [];
    const target: ChaosTarget = {
      name: 'fake',
      workers: async () => [],
      // A thread or a task answers without a pid, as `arbor run`'s fault request does.
      injectIpc: async (worker, fault) => (asked.push(`${fault} ${worker.path}`), undefined),
      owns: () => {
        throw new Error('no pid may be signalled here');
      },
      close: () => undefined,
    };
    return { target, asked };
  };
  const planned = (kind: FaultKind, pick = 0): PlannedFault => ({ index: 0, at: 0, kind, pick });
  const thread: WorkerRef = { path: 'root/th', kind: 'thread', restarts: 0, incarnation: '0' };
  const task: WorkerRef = { path: 'root/loop', kind: 'task', restarts: 0, incarnation: '0' };

  it('a signal, kill-all or memory fault with only threads and tasks alive is skipped, and says why', async () => {
    const { target, asked } = fake();
    const injector = new Injector(target);
    for (const kind of ['sigkill', 'sigterm', 'memory'] as const)
      expect(await injector.inject(planned(kind), [thread, task])).toMatchObject({
        hit: [],
        skipped: `no live worker can take ${kind}`,
      });
    expect(await injector.inject(planned('kill-all'), [thread, task])).toMatchObject({
      hit: [],
      skipped: 'no worker process alive',
    });
    expect(await injector.inject(planned('hang'), [task])).toMatchObject({ hit: [] });
    expect(asked).toEqual([]);
  });

  it('throw and exit reach them; an incarnation is hit once, its replacement (a new restart count) again', async () => {
    const { target, asked } = fake();
    const injector = new Injector(target);
    expect(await injector.inject(planned('throw', 0), [thread, task])).toMatchObject({ hit: [thread] });
    // The thread was faulted: only the task is left to pick, whatever the pick.
    expect(await injector.inject(planned('exit', 0), [thread, task])).toMatchObject({ hit: [task] });
    expect(await injector.inject(planned('exit', 0.5), [thread, task])).toMatchObject({
      hit: [],
      skipped: 'every live worker was already faulted',
    });
    expect(injector.wasFaulted(thread)).toBe(true);
    const restarted = { ...thread, restarts: 1, incarnation: '1' };
    expect(injector.wasFaulted(restarted)).toBe(false);
    expect(await injector.inject(planned('hang', 0.9), [restarted, task])).toMatchObject({ hit: [restarted] });
    expect(asked).toEqual(['throw root/th', 'exit root/loop', 'hang root/th']);
  });

  it('hang on a task in a host pool hangs its host: every task of that host incarnation is hit, and not again', async () => {
    const { target, asked } = fake();
    const injector = new Injector(target);
    const inHost = (id: string, host: string): WorkerRef => ({ ...task, path: `root/jobs/${id}`, host });
    const live = [inHost('a', 'pool#1'), inHost('b', 'pool#2'), inHost('c', 'pool#1'), task];
    expect(await injector.inject(planned('hang', 0), live)).toMatchObject({ hit: [live[0], live[2]] });
    expect(asked).toEqual(['hang root/jobs/a']);
    // c went down with a's host: the next hang can only pick b (the inline task refuses hang).
    expect(await injector.inject(planned('hang', 0.99), live)).toMatchObject({ hit: [live[1]] });
    expect(await injector.inject(planned('hang', 0), live)).toMatchObject({ hit: [], skipped: expect.any(String) });
    expect(
      runningWorkers(supervisorStatus('root', [child('x', { type: 'task', host: { name: 'pool', incarnation: 3 } })])),
    ).toEqual([{ path: 'root/x', kind: 'task', restarts: 0, incarnation: '0', host: 'pool#3' }]);
  });
});

describe('the timeline of threads and tasks', () => {
  it('their exits (no pid) open restart spans that their next start closes; a supervisor exit opens none', () => {
    const recorder = new TimelineRecorder(0, 1_000_000);
    recorder.observe([thread(), { path: 'root/jobs/job-1', kind: 'task', restarts: 0 }], 0);
    const event = (name: string, supervisor: string, child: string, time: number, type?: string) => ({
      event: name,
      supervisor,
      child,
      time: 1_000_000 + time,
      ...(type ? { type } : {}),
    });
    recorder.events([
      event('child_exited', 'root', 'th', 100),
      event('child_started', 'root', 'th', 160, 'worker'),
      event('child_exited', 'root', 'jobs', 200), // a supervisor: not a worker slot
      event('child_exited', 'root/jobs', 'job-1', 300),
      event('child_started', 'root/jobs', 'job-1', 301, 'task'),
      event('child_started', 'root/jobs', 'job-2', 400, 'task'),
      event('child_exited', 'root/jobs', 'job-2', 450), // learnt from its start: a task slot
    ]);
    expect(recorder.finish(500).restarts).toEqual([
      { path: 'root/th', pid: null, newPid: null, exitMs: 100, readyMs: 160, source: 'events' },
      { path: 'root/jobs/job-1', pid: null, newPid: null, exitMs: 300, readyMs: 301, source: 'events' },
      { path: 'root/jobs/job-2', pid: null, newPid: null, exitMs: 450, readyMs: null, source: 'events' },
    ]);
  });

  it('without events, a new restart count in a slot is a restart (polls)', () => {
    const recorder = new TimelineRecorder(0, 1_000_000);
    recorder.observe([{ ...thread(), restarts: 0, incarnation: '0' }], 10);
    recorder.fault(20, 'throw', [{ ...thread(), restarts: 0, incarnation: '0' }]);
    recorder.observe([{ ...thread(), restarts: 1, incarnation: '1' }], 300);
    const timeline = recorder.finish(400);
    expect(timeline.faults).toEqual([
      { atMs: 20, kind: 'throw', hit: [{ path: 'root/th', pid: null, kind: 'thread' }] },
    ]);
    expect(timeline.restarts).toEqual([
      { path: 'root/th', pid: null, newPid: null, exitMs: 20, readyMs: 300, source: 'polls' },
    ]);
  });
});

function thread(): WorkerRef {
  return { path: 'root/th', kind: 'thread', restarts: 0 };
}
