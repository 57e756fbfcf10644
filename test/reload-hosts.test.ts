// A reload that changes the root's task host pools, on real host processes and threads: a pool's size, heartbeat
// and memory limit are applied to its running hosts (no task stopped for it; a shrink retires the idlest hosts, which
// end with their last task); a new kind gives the pool new hosts and moves its tasks there; a pool can be added and
// a task moved to it; a pool still running tasks is not removed. The reload's result says what it did.
import { describe, expect, it } from 'vitest';
import { ReloadError, supervisor, task, type HostSpec, type Tree, type TreeEvent } from '../src/index.js';
import { liveHosts } from '../src/host/host-instance.js';
import { HOSTED_TASKS, hosted, hostProcesses } from './support/hosts.js';
import { eventually, isAlive, type Recorder } from './support/tree.js';
import { treeScope } from './support/tree-scope.js';

const { run } = treeScope({
  afterStop: () => eventually(() => liveHosts() === 0, 'every task host gone'),
});

const hostOf = (tree: Tree, path: string, id: string) => tree.whichChildren(path).find((c) => c.id === id)?.host;
const exits = (rec: Recorder) => rec.events.filter((e: TreeEvent) => e.event === 'child_exited');

describe('reload: a pool changed in place', () => {
  it('size 1 → 3 → 1: no task stops; new tasks go to the new hosts; the shrink retires hosts, which end with their tasks', async () => {
    const spec = (size: number) =>
      supervisor({
        hosts: { pool: { kind: 'process', size } },
        children: [
          hosted('a'),
          hosted('b'),
          supervisor({ id: 'jobs', strategy: 'simple_one_for_one', template: hosted('job') }),
        ],
      });
    const { tree, rec } = await run(spec(1));
    const first = hostOf(tree, 'root', 'a')!.pid!;
    expect(hostOf(tree, 'root', 'b')!.pid).toBe(first);

    const dry = await tree.reload('root', { spec: spec(3), dryRun: true });
    expect(dry.changes).toEqual(["update host pool 'pool': size 1 → 3 (applied to its running hosts)"]);
    expect(tree.status().hosts![0]!.size).toBe(1);
    const grown = await tree.reload('root', { spec: spec(3) });
    expect(grown.changes).toEqual(dry.changes);
    expect(tree.status().hosts![0]).toMatchObject({ size: 3, alive: 1, tasks: 2 });
    // Two new tasks go to the two empty slots: new hosts, while a and b run on in theirs.
    const j1 = await tree.startChild('root/jobs', []);
    const j2 = await tree.startChild('root/jobs', []);
    const pids = [j1, j2].map((j) => hostOf(tree, 'root/jobs', j.id)!.pid!);
    expect(new Set([first, ...pids]).size).toBe(3);
    expect(hostOf(tree, 'root', 'a')!.pid).toBe(first);

    // Back to 1: the busiest host (a and b's) keeps its slot, the two others are retired with their task.
    const shrunk = await tree.reload('root', { spec: spec(1) });
    expect(shrunk.changes).toEqual(["update host pool 'pool': size 3 → 1 (applied to its running hosts)"]);
    const pool = tree.status().hosts![0]!;
    expect(pool).toMatchObject({ size: 1, alive: 3, tasks: 4 });
    expect(pool.hosts.map((h) => [h.slot, h.pid, h.tasks])).toEqual([
      [0, first, 2],
      [undefined, pids[0], 1],
      [undefined, pids[1], 1],
    ]);
    expect(exits(rec)).toEqual([]);
    // A new task goes to the one slot left; a retired host ends once its task does.
    const j3 = await tree.startChild('root/jobs', []);
    expect(hostOf(tree, 'root/jobs', j3.id)!.pid).toBe(first);
    await tree.terminateChild('root/jobs', j1.id);
    await eventually(() => !isAlive(pids[0]) || !hostProcesses().includes(pids[0]!), 'the retired host ended');
    expect(hostProcesses()).toContain(pids[1]);
    expect(tree.status().hosts![0]).toMatchObject({ alive: 2, restarts: { heartbeat: 0, memory: 0, crash: 0 } });
  });

  it('a heartbeat added by a reload watches the hosts already running: a hung one is killed', async () => {
    const previous = process.env.ARBOR_CHAOS;
    process.env.ARBOR_CHAOS = '1';
    try {
      const spec = (pool: HostSpec) =>
        supervisor({ hosts: { pool }, intensity: 10, children: [hosted('a'), hosted('b')] });
      const { tree, rec } = await run(spec({ kind: 'process', size: 1 }));
      const pid = hostOf(tree, 'root', 'a')!.pid!;
      const heartbeat = { interval: 200, timeout: 3000 };
      const result = await tree.reload('root', { spec: spec({ kind: 'process', size: 1, heartbeat }) });
      expect(result.changes).toEqual(["update host pool 'pool': heartbeat (applied to its running hosts)"]);
      expect(hostOf(tree, 'root', 'a')!.pid).toBe(pid);
      const down = rec.next(
        (e) => e.event === 'child_exited' && e.child === 'a' && 'host_down' in (e.reason as object),
        'a host_down',
        45_000,
      );
      tree.injectFault('root/a', 'hang');
      expect(await down).toMatchObject({ reason: { host_down: expect.stringMatching(/#1 \(pid \d+\) hung/) } });
      await eventually(() => tree.status().hosts![0]!.restarts.heartbeat === 1, 'counted as a heartbeat restart');
    } finally {
      if (previous === undefined) delete process.env.ARBOR_CHAOS;
      else process.env.ARBOR_CHAOS = previous;
    }
  });
});

describe('reload: new hosts for a pool', () => {
  it('process → thread: its tasks restart in thread hosts, a temporary one runs on in the retired host until it ends', async () => {
    const spec = (kind: 'process' | 'thread') =>
      supervisor({
        hosts: { pool: { kind, size: 1 } },
        children: [hosted('a'), hosted('b', { restart: 'transient' }), hosted('once', { restart: 'temporary' })],
      });
    const { tree, rec } = await run(spec('process'));
    const old = hostOf(tree, 'root', 'a')!.pid!;
    const result = await tree.reload('root', { spec: spec('thread') });
    expect(result.changes).toEqual([
      `replace the hosts of pool 'pool': kind "process" → "thread" (its tasks move to new hosts)`,
    ]);
    expect(result.notes).toContain(
      "host pool 'pool': 2 tasks restarted in new hosts; 1 (temporary or dynamic) runs on in the retired hosts until they end",
    );
    for (const id of ['a', 'b']) {
      expect(hostOf(tree, 'root', id)).toMatchObject({ name: 'pool', incarnation: 2 });
      expect(hostOf(tree, 'root', id)!.pid).toBeUndefined();
    }
    expect(hostOf(tree, 'root', 'once')!.pid).toBe(old);
    // Moved by the reload, as a restart: their supervisor's `shutdown` exit, no crash.
    expect(exits(rec)).toEqual([]);
    expect(tree.status().hosts![0]).toMatchObject({ kind: 'thread', alive: 2, tasks: 3 });
    await tree.terminateChild('root', 'once');
    await eventually(() => !hostProcesses().includes(old), 'the retired host process ended with its last task');
    expect(tree.status().hosts![0]).toMatchObject({ alive: 1, tasks: 2 });
  });

  it('a pool added and a task moved to it; the old pool removed once no task runs in it', async () => {
    const spec = (pools: Record<string, HostSpec>, host: string) =>
      supervisor({ hosts: pools, children: [task({ id: 'a', module: HOSTED_TASKS, host })] });
    const { tree } = await run(spec({ pool: { size: 1 } }, 'pool'));
    const old = hostOf(tree, 'root', 'a')!.pid!;
    const result = await tree.reload('root', { spec: spec({ fresh: { size: 2 } }, 'fresh') });
    expect(result.changes).toEqual([
      "add host pool 'fresh' (process × 2)",
      'update root/a: host "pool" → "fresh"',
      'restart root/a (a task: its new function)',
      "remove host pool 'pool'",
    ]);
    expect(hostOf(tree, 'root', 'a')).toMatchObject({ name: 'fresh' });
    expect(tree.status().hosts!.map((p) => p.name)).toEqual(['fresh']);
    await eventually(() => !hostProcesses().includes(old), 'the old pool’s host ended');
  });
});

describe('reload: refused', () => {
  it('a pool still running tasks is not removed: the error names the pool and its tasks; nothing changes', async () => {
    const spec = (pools: Record<string, HostSpec>) =>
      supervisor({
        hosts: pools,
        children: [supervisor({ id: 'jobs', strategy: 'simple_one_for_one', template: hosted('job') })],
      });
    const both = { pool: { size: 1 }, other: { size: 1 } };
    const { tree } = await run(spec(both));
    const job = await tree.startChild('root/jobs', []);
    // The template still names 'pool', so the new spec keeps it valid only with 'pool': drop 'other' is fine...
    const fine = await tree.reload('root', { spec: spec({ pool: { size: 1 } }) });
    expect(fine.changes).toEqual(["remove host pool 'other'"]);
    // ...but a dynamic task started with its own spec in 'other' would keep it: make one, then try again.
    await tree.reload('root', { spec: spec(both) });
    const own = await tree.startChild('root', task({ id: 'own', module: HOSTED_TASKS, host: 'other' }));
    const refused = tree.reload('root', { spec: spec({ pool: { size: 1 } }) });
    await expect(refused).rejects.toThrow(ReloadError);
    await expect(refused).rejects.toThrow(
      /cannot_change: root\.hosts\.other: host pool 'other' cannot be removed while tasks run in it \(root\/own\)/,
    );
    expect(tree.status().hosts!.map((p) => p.name)).toEqual(['pool', 'other']);
    expect(hostOf(tree, 'root', own.id)).toMatchObject({ name: 'other' });
    expect(hostOf(tree, 'root/jobs', job.id)).toMatchObject({ name: 'pool' });
  });
});
