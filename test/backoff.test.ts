// Restart backoff on real processes: a crashing child is restarted at the documented delays (read from the event
// log), cascades terminate at once and start after the delay, calls act during the wait, status shows it.
import { afterEach, describe, expect, it } from 'vitest';
import { start, supervisor, worker, type Tree, type TreeEvent } from '../src/index.js';
import { fixture, reap, recorder, type Recorder } from './support/tree.js';

const running: Array<{ tree: Tree; rec: Recorder }> = [];
afterEach(async () => {
  for (const { tree, rec } of running.splice(0)) {
    await tree.stop({ brutal: true }).catch(() => undefined);
    reap(rec.of('child_started').map((e) => e.pid));
  }
});

async function run(spec: Parameters<typeof start>[0]): Promise<{ tree: Tree; rec: Recorder }> {
  const rec = recorder();
  const tree = await start(spec, { logger: rec.logger });
  running.push({ tree, rec });
  return { tree, rec };
}

/** pino's timestamp of an event (ms). */
const time = (e: TreeEvent) => (e as unknown as { time: number }).time;
const pidOf = (tree: Tree, id: string) => tree.whichChildren().find((c) => c.id === id)!.pid!;

describe('restart backoff', () => {
  it('a child that crashes at once is restarted after min, min×factor, … capped at max (delays from the event log)', async () => {
    const { rec } = await run(
      supervisor({
        intensity: 100,
        period: 1000,
        children: [
          worker({
            id: 'crashy',
            module: fixture('throw-after-ready.mjs'),
            backoff: { min: 200, max: 800, factor: 2, jitter: 0, resetAfter: 10_000 },
          }),
        ],
      }),
    );
    await rec.waitFor(() => rec.of('child_restarting').length >= 4, '4 restarts', 30_000);
    const exits = rec.of('child_exited');
    const restarts = rec.of('child_restarting');
    const delayed = rec.of('child_restart_delayed');
    expect(delayed.slice(0, 4).map((e) => [e.delay, e.attempt])).toEqual([
      [200, 1],
      [400, 2],
      [800, 3],
      [800, 4],
    ]);
    for (let i = 0; i < 4; i++) {
      const waited = time(restarts[i]!) - time(exits[i]!);
      // Never early (timers may round by a ms); late by at most what a loaded machine adds.
      expect(waited).toBeGreaterThanOrEqual(delayed[i]!.delay - 2);
      expect(waited).toBeLessThan(delayed[i]!.delay + 1000);
    }
  });

  it('one_for_all: the siblings are terminated at once and started with the failed child after the delay; status shows the time left; restartChild starts now, terminateChild cancels', async () => {
    const module = fixture('controlled.mjs');
    const { tree, rec } = await run(
      supervisor({
        strategy: 'one_for_all',
        intensity: 10,
        children: [
          worker({ id: 'a', module, backoff: { min: 1500, max: 3000, jitter: 0 } }),
          worker({ id: 'b', module }),
        ],
      }),
    );
    const delayed = rec.next((e) => e.event === 'child_restart_delayed', 'a delayed restart');
    const bTerminated = rec.next((e) => e.event === 'child_terminated' && e.child === 'b', 'b terminated');
    process.kill(pidOf(tree, 'a'), 'SIGKILL');
    expect(await delayed).toMatchObject({ child: 'a', delay: 1500, attempt: 1, children: ['a', 'b'] });
    await bTerminated;
    const waiting = tree.whichChildren();
    expect(waiting.map((c) => c.status)).toEqual(['stopped', 'stopped']);
    for (const child of waiting) expect(child.restartIn).toBeGreaterThan(0);
    expect(tree.status().children[0]!.restartIn).toBeLessThanOrEqual(1500);

    // restartChild during the wait: a starts now; b still waits for the delay.
    const exitAt = time(rec.of('child_exited').at(-1)!);
    await tree.restartChild('root', 'a');
    expect(Date.now() - exitAt).toBeLessThan(1500);
    expect(tree.whichChildren().map((c) => c.status)).toEqual(['running', 'stopped']);
    const bBack = await rec.next((e) => e.event === 'child_started' && e.child === 'b', 'b started after the delay');
    expect(time(bBack) - exitAt).toBeGreaterThanOrEqual(1498);
    expect(rec.of('child_started').filter((e) => e.child === 'a')).toHaveLength(2);

    // A second crash in a row waits min × 2; terminateChild during the wait cancels a's restart (not b's).
    const second = rec.next((e) => e.event === 'child_restart_delayed', 'a second delayed restart');
    process.kill(pidOf(tree, 'a'), 'SIGKILL');
    expect(await second).toMatchObject({ child: 'a', delay: 3000, attempt: 2 });
    await tree.terminateChild('root', 'a');
    await rec.next((e) => e.event === 'child_started' && e.child === 'b', 'b started after the second delay', 20_000);
    const after = tree.whichChildren();
    expect(after.map((c) => c.status)).toEqual(['stopped', 'running']);
    expect(after[0]!.restartIn).toBeUndefined();
    expect(rec.of('child_started').filter((e) => e.child === 'a')).toHaveLength(2);
  });

  it('intensity counts restarts at the exit: delays longer than period / intensity keep a crash loop from giving up, which gives up at once without backoff', async () => {
    const crashy = (backoff?: { min: number; max: number; jitter: number }) =>
      supervisor({
        intensity: 1,
        period: 1000,
        children: [worker({ id: 'crashy', module: fixture('throw-after-ready.mjs'), ...(backoff ? { backoff } : {}) })],
      });
    const slow = await run(crashy({ min: 1100, max: 1100, jitter: 0 }));
    await slow.rec.waitFor(() => slow.rec.of('child_restarting').length >= 2, '2 delayed restarts', 30_000);
    expect(slow.rec.of('max_intensity_reached')).toHaveLength(0);

    const rec = recorder();
    const fast = await start(crashy(), { logger: rec.logger });
    running.push({ tree: fast, rec });
    expect(await fast.done).toBe('shutdown');
    expect(rec.of('max_intensity_reached')).toHaveLength(1);
  });

  it('stopping the tree during a backoff wait starts nothing more', async () => {
    const { tree, rec } = await run(
      supervisor({
        intensity: 10,
        children: [worker({ id: 'a', module: fixture('controlled.mjs'), backoff: { min: 1000, max: 1000 } })],
      }),
    );
    const delayed = rec.next((e) => e.event === 'child_restart_delayed', 'a delayed restart');
    process.kill(pidOf(tree, 'a'), 'SIGKILL');
    await delayed;
    await tree.stop();
    // A fixed wait is the point: past the 1 s backoff, within which nothing may start.
    await new Promise((r) => setTimeout(r, 1300));
    expect(rec.of('child_started')).toHaveLength(1);
  });
});
