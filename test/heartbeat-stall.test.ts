// A heartbeat judges the worker, not the supervisor. When the supervisor's own event loop stalls for longer than the
// heartbeat timeout while a ping is in flight, the worker's answer waits unread and the timer fires as the loop
// wakes: the answer is read before the verdict, and the worker lives. A worker that really hangs is still killed as
// hung, stall or no stall. Real processes and threads; the test stalls the supervisor (its own process) with a busy
// wait, as a long synchronous task or a GC pause would.
import { afterEach, describe, expect, it } from 'vitest';
import { start, supervisor, task, worker, type SupervisorSpec, type Tree, type TreeEvent } from '../src/index.js';
import { liveHosts } from '../src/host/host-instance.js';
import { liveThreads } from '../src/thread/handle.js';
import { eventually, fixture, recorder } from './support/tree.js';

const HEARTBEAT = { interval: 50, timeout: 1500 };
/** Longer than the heartbeat timeout: a ping sent before it is overdue when it ends. */
const STALL_MS = 2000;

const trees: Tree[] = [];
afterEach(async () => {
  for (const tree of trees.splice(0)) await tree.stop({ brutal: true }).catch(() => undefined);
  await eventually(() => liveThreads() === 0 && liveHosts() === 0, 'every thread and task host gone');
});

/**
 * Blocks this process's event loop (the supervisor's) for `ms`, in its check phase. As after any I/O callback, the
 * loop's next step is then its timers, before it reads its input again (libuv 1.45+, node 20); a stall inside a
 * timer callback is followed by a poll instead.
 */
function stallSupervisor(ms: number): Promise<void> {
  return new Promise((resolve) =>
    setImmediate(() => {
      const until = performance.now() + ms;
      while (performance.now() < until);
      resolve();
    }),
  );
}

const exited = (e: TreeEvent) => e.event === 'child_exited' && e.child === 'busy';

/** `busy`: a child whose event loop is busy in 300 ms chunks, answering its pings late but always. */
const CASES: Array<[string, () => SupervisorSpec, unknown]> = [
  [
    'a process worker',
    () =>
      supervisor({ children: [worker({ id: 'busy', module: fixture('busy-but-alive.mjs'), heartbeat: HEARTBEAT })] }),
    { hung: expect.any(Number) },
  ],
  [
    'a thread worker',
    () =>
      supervisor({
        children: [worker({ id: 'busy', kind: 'thread', module: fixture('busy-but-alive.mjs'), heartbeat: HEARTBEAT })],
      }),
    { hung: expect.any(Number) },
  ],
  ...(['process', 'thread'] as const).map((kind): [string, () => SupervisorSpec, unknown] => [
    `a task in a ${kind} host`,
    () =>
      supervisor({
        hosts: { pool: { kind, size: 1, heartbeat: HEARTBEAT } },
        children: [task({ id: 'busy', module: fixture('hosted-tasks.mjs'), export: 'busy', host: 'pool' })],
      }),
    { host_down: expect.stringContaining('hung') },
  ]),
];

describe.each(CASES)('%s with a heartbeat', (_what, spec, hung) => {
  async function run() {
    const rec = recorder();
    const tree = await start(spec(), { logger: rec.logger });
    trees.push(tree);
    return { tree, rec };
  }

  it('lives through stalls of its supervisor longer than the heartbeat timeout', async () => {
    const { tree, rec } = await run();
    const who = await tree.call('root/busy', 'whoami', { timeout: 20_000 });
    // Two stalls: judging at the timer, as before the fix, killed the worker at the first, in every case.
    for (let stall = 0; stall < 2; stall++) {
      // The worker has just answered between two busy chunks; by 120 ms into the next chunk the next ping has been
      // sent and waits for the chunk's end. This wait only places the stall where a ping is in flight (the case
      // that was misjudged); wherever the stall falls, the worker must live.
      await new Promise((resolve) => setTimeout(resolve, 120));
      await stallSupervisor(STALL_MS);
      // A verdict on the overdue ping falls as the loop wakes, before this call can be answered.
      expect(await tree.call('root/busy', 'whoami', { timeout: 20_000 })).toBe(who);
    }
    expect(rec.events.filter(exited)).toEqual([]);
  });

  it('is still killed as hung when it really hangs, through a stall of its supervisor', async () => {
    const { tree, rec } = await run();
    await tree.call('root/busy', 'whoami', { timeout: 20_000 });
    const exit = rec.next(exited, 'the hung child killed', 30_000);
    tree.cast('root/busy', 'hang');
    await stallSupervisor(STALL_MS); // after the cast has left, with the end of its tick
    expect(await exit).toMatchObject({ reason: hung, action: 'restart' });
  });
});
