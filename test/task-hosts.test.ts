// Task hosts: tasks that run in a pool of host processes or threads (the root's `hosts`), each still a child of its
// own supervisor. Real processes and threads: exit reasons, escapes attributed inside a host, a host killed or hung
// taking down exactly its tasks (each restarted by its own restart type into a fresh host), validation, no orphans.
import { describe, expect, it } from 'vitest';
import {
  SpecError,
  start,
  supervisor,
  task,
  validateSpec,
  type ChildInfo,
  type HostKind,
  type Tree,
  type TreeEvent,
} from '../src/index.js';
import { liveHosts } from '../src/host/host-instance.js';
import { HOSTED_TASKS, hosted, hostProcesses } from './support/hosts.js';
import { eventually } from './support/tree.js';
import { treeScope } from './support/tree-scope.js';

const { run } = treeScope({
  afterStop: async () => {
    await eventually(() => liveHosts() === 0, 'every task host gone');
    await eventually(() => hostProcesses().length === 0, `no host process left (${hostProcesses().join(', ')})`);
  },
});

const exited = (child: string) => (e: TreeEvent) => e.event === 'child_exited' && e.child === child;
const started = (child: string) => (e: TreeEvent) => e.event === 'child_started' && e.child === child;
/** A task of fixtures/hosted-tasks.mjs in the pool, running its export `exportName`. */
const hostedExport = (id: string, exportName: string, extra: Record<string, unknown> = {}) =>
  hosted(id, { export: exportName, ...extra });
const info = (tree: Tree, id: string, path = 'root'): ChildInfo => tree.whichChildren(path).find((c) => c.id === id)!;

describe.each(['process', 'thread'] as HostKind[])('tasks in a %s host', (kind) => {
  it('get the context of an inline task, and end with the same reasons', async () => {
    const { tree, rec } = await run(
      supervisor({
        hosts: { pool: { kind, size: 1 } },
        intensity: 10,
        children: [
          hostedExport('serve', 'default', { args: ['a1'] }),
          hostedExport('finish', 'finish', { restart: 'temporary' }),
          hostedExport('fail', 'fail', { restart: 'temporary' }),
          hostedExport('escape', 'escape', { restart: 'temporary' }),
          hostedExport('floating', 'floating', { restart: 'temporary' }),
          hostedExport('stubborn', 'stubborn', { restart: 'temporary', shutdown: 200 }),
          hostedExport('brutal', 'stubborn', { restart: 'temporary', shutdown: 'brutal_kill' }),
        ],
      }),
    );
    expect(await tree.call('root/serve', 'where')).toMatchObject({ id: 'serve', path: 'root/serve', args: ['a1'] });
    expect(await rec.waitFor(exited('finish'), 'finish')).toMatchObject({ reason: 'normal', action: 'remove' });
    expect(await rec.waitFor(exited('fail'), 'fail')).toMatchObject({
      reason: { error: 'task failed on purpose', stack: expect.stringContaining('hosted-tasks.mjs') },
    });
    expect(await rec.waitFor(exited('escape'), 'escape')).toMatchObject({
      reason: { error: 'escaped from a timer', escaped: true },
    });
    expect(await rec.waitFor(exited('floating'), 'floating')).toMatchObject({
      reason: { error: 'floating rejection', escaped: true },
    });
    // send, log and call errors reach the tree as for an inline task.
    const sent = rec.next((e) => e.event === 'worker_message', 'worker_message');
    await tree.call('root/serve', 'send');
    expect(await sent).toMatchObject({ path: 'root/serve', message: { from: 'serve' } });
    const logged = rec.next((e) => (e as { marker?: string }).marker === 'serve', 'the task log line');
    await tree.call('root/serve', 'log');
    expect(await logged).toMatchObject({ supervisor: 'root', child: 'serve', msg: 'hosted log line' });
    await expect(tree.call('root/serve', 'fail')).rejects.toMatchObject({ code: 'handler_failed' });
    expect(info(tree, 'serve')).toMatchObject({ type: 'task', status: 'running', host: { name: 'pool' } });
    // Stops: one settles on its signal, one outlives its shutdown (abandoned), one is brutally killed.
    await tree.terminateChild('root', 'stubborn');
    await tree.terminateChild('root', 'brutal');
    await tree.terminateChild('root', 'serve');
    const terminated = rec.of('child_terminated');
    expect(terminated.find((e) => e.child === 'stubborn')?.reason).toEqual({
      abandoned: 'did not settle within its shutdown of 200 ms',
    });
    expect(terminated.find((e) => e.child === 'brutal')?.reason).toEqual({ abandoned: 'brutal_kill' });
    expect(terminated.find((e) => e.child === 'serve')?.reason).toBe('shutdown');
  });

  it('an escape ends only the task it came from: its sibling in the same host goes on', async () => {
    const { tree, rec } = await run(
      supervisor({
        hosts: { pool: { kind, size: 1 } },
        intensity: 5,
        children: [hostedExport('steady', 'default'), hostedExport('leaky', 'escape')],
      }),
    );
    const before = (await tree.call('root/steady', 'where')) as { pid: number; threadId: number };
    expect(await rec.waitFor(exited('leaky'), 'leaky escapes')).toMatchObject({
      reason: { error: 'escaped from a timer', escaped: true },
      action: 'restart',
    });
    await eventually(() => rec.of('child_started').filter((e) => e.child === 'leaky').length >= 2, 'leaky restarted');
    // Without attribution the throw would have been the host's: it would have died, and `steady` with it.
    expect(await tree.call('root/steady', 'where')).toEqual(before);
    expect(info(tree, 'steady')).toMatchObject({ restarts: 0, host: { name: 'pool', incarnation: 1 } });
    expect(rec.events.some((e) => (e as { event: string }).event === 'host_down')).toBe(false);
  });

  it('a hung host is killed by its heartbeat: every task in it exits host_down and is restarted by its own rules', async () => {
    const { tree, rec } = await run(
      supervisor({
        hosts: { pool: { kind, size: 1, heartbeat: { interval: 100, timeout: 1000 } } },
        intensity: 10,
        children: [
          hostedExport('keeper', 'default'),
          hostedExport('passer', 'default', { restart: 'temporary' }),
          hostedExport('spinner', 'spin', { restart: 'temporary', args: ['300'] }),
        ],
      }),
    );
    const keeper = rec.next(started('keeper'), 'keeper restarted', 30_000);
    const reasons = await Promise.all(
      ['keeper', 'passer', 'spinner'].map((id) => rec.waitFor(exited(id), `${id} host_down`, 30_000)),
    );
    for (const e of reasons)
      expect(e).toMatchObject({ reason: { host_down: expect.stringMatching(/hung|heartbeat/) } });
    expect(reasons.map((e) => (e as { action: string }).action)).toEqual(['restart', 'remove', 'remove']);
    await keeper;
    expect(tree.whichChildren().map((c) => c.id)).toEqual(['keeper']);
    expect(info(tree, 'keeper')).toMatchObject({ restarts: 1, host: { name: 'pool', incarnation: 2 } });
    expect(await tree.call('root/keeper', 'where')).toMatchObject({ id: 'keeper' });
  });
});

describe('a host process that dies', () => {
  it('takes exactly its own tasks down; permanent ones restart in a fresh host, temporary ones are removed', async () => {
    const { tree, rec } = await run(
      supervisor({
        hosts: { pool: { kind: 'process', size: 2 } },
        intensity: 10,
        children: [
          hostedExport('p1', 'default'),
          hostedExport('p2', 'default'),
          hostedExport('t1', 'default', { restart: 'temporary' }),
          hostedExport('t2', 'default', { restart: 'temporary' }),
        ],
      }),
    );
    const where = async (id: string) => ((await tree.call(`root/${id}`, 'where')) as { pid: number }).pid;
    const pids = Object.fromEntries(
      await Promise.all(['p1', 'p2', 't1', 't2'].map(async (id) => [id, await where(id)])),
    );
    // Two hosts, tasks spread over them: the fewest tasks first.
    expect(new Set(Object.values(pids)).size).toBe(2);
    const victim = pids.p1 as number;
    const inVictim = Object.keys(pids).filter((id) => pids[id] === victim);
    const elsewhere = Object.keys(pids).filter((id) => pids[id] !== victim);
    const mark = rec.events.length;
    const killedAt = performance.now();
    const back = rec.next(started('p1'), 'p1 restarted');
    process.kill(victim, 'SIGKILL');
    for (const id of inVictim)
      expect(await rec.waitFor(exited(id), `${id} host_down`)).toMatchObject({
        reason: { host_down: expect.stringContaining('killed by SIGKILL') },
        action: id.startsWith('p') ? 'restart' : 'remove',
      });
    await back;
    const restartMs = performance.now() - killedAt;
    // The tasks of the other host never noticed.
    for (const id of elsewhere) expect(rec.events.slice(mark).some(exited(id))).toBe(false);
    for (const id of elsewhere) expect(await where(id)).toBe(pids[id]);
    expect(await where('p1')).not.toBe(victim);
    expect(info(tree, 'p1')).toMatchObject({ restarts: 1, status: 'running' });
    expect(tree.whichChildren().map((c) => c.id)).toEqual(
      ['p1', 'p2', 't1', 't2'].filter((id) => !(inVictim.includes(id) && id.startsWith('t'))),
    );
    console.log(`host SIGKILLed → its permanent task running again in ${restartMs.toFixed(0)} ms`);
  });

  it('a task that exits its host process takes the host down: host_down for all its tasks', async () => {
    const { rec } = await run(
      supervisor({
        hosts: { pool: { kind: 'process', size: 1 } },
        intensity: 10,
        children: [
          hostedExport('bystander', 'default', { restart: 'temporary' }),
          hostedExport('exiter', 'exitHost', { restart: 'temporary' }),
        ],
      }),
    );
    for (const id of ['bystander', 'exiter'])
      expect(await rec.waitFor(exited(id), id)).toMatchObject({
        reason: { host_down: expect.stringContaining('code 3') },
        action: 'remove',
      });
  });

  it('no host outlives its tree, and a stopped tree leaves no host process', async () => {
    const { tree } = await run(
      supervisor({
        hosts: { pool: { kind: 'process', size: 3 } },
        children: [hostedExport('a', 'default'), hostedExport('b', 'default'), hostedExport('c', 'default')],
      }),
    );
    expect(hostProcesses()).toHaveLength(3);
    await tree.stop();
    // stop() resolves once the hosts are gone.
    expect(liveHosts()).toBe(0);
    await eventually(() => hostProcesses().length === 0, 'host processes reaped');
  });
});

describe('chaos faults on hosted tasks', () => {
  it('exit kills the task; hang hangs its whole host, which its heartbeat takes down', async () => {
    const previous = process.env.ARBOR_CHAOS;
    process.env.ARBOR_CHAOS = '1';
    try {
      const { tree, rec } = await run(
        supervisor({
          // A generous timeout: a loaded machine must not pass for a hang.
          hosts: { pool: { kind: 'process', size: 1, heartbeat: { interval: 500, timeout: 8000 } } },
          intensity: 10,
          children: [hostedExport('x', 'default'), hostedExport('y', 'default')],
        }),
      );
      // The restart, not the first start: registered before the fault.
      const back = rec.next(started('x'), 'x back');
      tree.injectFault('root/x', 'exit');
      expect(await rec.waitFor(exited('x'), 'x killed')).toMatchObject({
        reason: { error: 'arbor chaos: injected exit' },
        action: 'restart',
      });
      await back;
      expect(rec.events.some(exited('y'))).toBe(false);
      const hostDown = (id: string) => (e: TreeEvent) =>
        exited(id)(e) &&
        typeof (e as { reason: unknown }).reason === 'object' &&
        'host_down' in (e as { reason: object }).reason;
      const down = Promise.all(['x', 'y'].map((id) => rec.next(hostDown(id), `${id} host_down`, 45_000)));
      tree.injectFault('root/y', 'hang');
      for (const e of await down) expect(e).toMatchObject({ reason: { host_down: expect.stringContaining('hung') } });
      expect(() => tree.injectFault('root/y', 'sigterm-self')).toThrow(/would hit the host/);
    } finally {
      if (previous === undefined) delete process.env.ARBOR_CHAOS;
      else process.env.ARBOR_CHAOS = previous;
    }
  });
});

describe('validation', () => {
  const problems = (spec: unknown) => validateSpec(spec).map((p) => `${p.path}: ${p.message}`);

  it('reports each mistake with its path, and starts nothing', async () => {
    const spec = supervisor({
      hosts: { pool: { kind: 'thread', size: 0, maxMemory: 1 }, inline: {}, other: { kind: 'fiber' } as never },
      children: [
        task({ id: 'a', module: HOSTED_TASKS, host: 'nowhere' }),
        { ...task({ id: 'b', module: HOSTED_TASKS, host: 'pool' }), run: async () => undefined } as never,
        { ...task({ id: 'c', run: async () => undefined }), module: HOSTED_TASKS } as never,
        task({ id: 'd', module: HOSTED_TASKS, host: 'pool', export: '' }),
        task({ id: 'e', module: './no-such-module.mjs', host: 'pool' }),
        supervisor({ id: 'nested', hosts: { x: {} } }),
      ],
    });
    const found = problems(spec);
    expect(found).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^root\.hosts\.pool\.size: must be an integer from 1/),
        expect.stringMatching(/^root\.hosts\.pool\.maxMemory: maxMemory measures a whole process/),
        expect.stringMatching(/^root\.hosts\.inline: 'inline' is not a pool/),
        expect.stringMatching(/^root\.hosts\.other\.kind: must be 'process' or 'thread'/),
        expect.stringMatching(/^root\.children\[0\]\.host: must be 'inline' or a host pool declared .*'nowhere'/),
        expect.stringMatching(/^root\.children\[1\]\.run: a task in host pool 'pool' cannot take a function/),
        expect.stringMatching(/^root\.children\[2\]\.module: an inline task runs its `run` function/),
        expect.stringMatching(/^root\.children\[3\]\.export: must be the name of an export/),
        expect.stringMatching(/^root\.children\[4\]\.module: module not found/),
        expect.stringMatching(/^root\.children\[5\]\.hosts: only the root supervisor declares host pools/),
      ]),
    );
    await expect(start(spec, { logger: false })).rejects.toBeInstanceOf(SpecError);
    expect(liveHosts()).toBe(0);
    expect(hostProcesses()).toEqual([]);
  });

  it('a module without that export fails to start the task, with why', async () => {
    const error = await start(
      supervisor({ hosts: { pool: { size: 1 } }, children: [hostedExport('bad', 'notAFunction')] }),
      {
        logger: false,
      },
    ).catch((e: Error) => e);
    expect(String(error)).toContain("has no function export 'notAFunction'");
  });

  it('a dynamic hosted task gets startChild args; a task spec started later is checked against the hosts', async () => {
    const { tree } = await run(
      supervisor({
        hosts: { pool: { size: 1 } },
        children: [
          supervisor({
            id: 'jobs',
            strategy: 'simple_one_for_one',
            template: hostedExport('job', 'default', { args: ['t'] }),
          }),
          supervisor({ id: 'static' }),
        ],
      }),
    );
    const child = await tree.startChild('root/jobs', ['extra']);
    expect(await tree.call(`root/jobs/${child.id}`, 'where')).toMatchObject({ args: ['t', 'extra'] });
    await expect(tree.startChild('root/static', task({ id: 'z', module: HOSTED_TASKS, host: 'gone' }))).rejects.toThrow(
      /host: must be 'inline' or a host pool declared in the root's hosts \('pool'\)/,
    );
    await tree.startChild('root/static', task({ id: 'z', module: HOSTED_TASKS, host: 'pool' }));
    expect(info(tree, 'z', 'root/static')).toMatchObject({ status: 'running', host: { name: 'pool', incarnation: 1 } });
  });
});
