// Calls in a row (src/supervisor/call-lane.ts): a supervisor running calls takes the calls that arrive meanwhile,
// with nothing else waiting, without a turn of its machine each. It must change nothing a user can see: random
// scripts of calls (awaited or not), exits, terminations, ticks and a stop, run on a supervisor with its lane and on
// one without, give the same events in the same order and the same answers. And light children gain from it: calls
// one after another and tasks crashing together take a few turns of the machine, not one or more each.
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { supervisor, task, worker } from '../../src/index.js';
import { SimulatedTree } from '../../src/supervisor/simulation.js';
import type { ExitReason, RestartType } from '../../src/types.js';

const MODULE = new URL(import.meta.url).pathname;

type Op =
  | { kind: 'start'; awaited: boolean }
  | { kind: 'terminate'; pick: number; awaited: boolean }
  | { kind: 'exit'; pick: number; reason: ExitReason }
  | { kind: 'tick' }
  | { kind: 'stop' }
  /** A stop at once, racing whatever is queued (not in the random scripts: see the scenario below). */
  | { kind: 'stopNow' };

const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ kind: fc.constant('start' as const), awaited: fc.boolean() }) },
  {
    weight: 2,
    arbitrary: fc.record({ kind: fc.constant('terminate' as const), pick: fc.nat(), awaited: fc.boolean() }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('exit' as const),
      pick: fc.nat(),
      reason: fc.constantFrom<ExitReason>('normal', { code: 1 }),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('tick' as const) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('stop' as const) }) },
);

/** Runs `ops` on a pool of simulated workers; with `lanes` false, the pool's machine takes every call itself. */
async function play(ops: Op[], restart: RestartType, lanes: boolean): Promise<{ events: string[]; answers: string[] }> {
  const events: string[] = [];
  const sim = new SimulatedTree(
    supervisor({
      id: 'root',
      children: [
        supervisor({
          id: 'pool',
          strategy: 'simple_one_for_one',
          intensity: 1000,
          period: 1,
          template: worker({ id: 'w', module: MODULE, restart }),
        }),
      ],
    }),
    { onEvent: (event) => events.push(JSON.stringify(event)) },
  );
  await sim.start();
  const pool = sim.node('root/pool');
  if (!lanes) pool.openLane = () => undefined;
  const answers: Array<Promise<string>> = [];
  const answer = (call: () => Promise<unknown>): Promise<string> => {
    let promise: Promise<unknown>;
    try {
      promise = call();
    } catch (error) {
      promise = Promise.reject(error);
    }
    const settled = promise.then(
      // Uptimes are wall-clock readings: the rest of the answer must agree.
      (value) => `ok ${JSON.stringify(value, (key, v: unknown) => (key === 'uptime' ? undefined : v))}`,
      // After a stop, whether a call finds the supervisor stopping or already gone is a matter of timing.
      (error: { code?: string; message?: string }) =>
        error.code === 'shutting_down' || /no running supervisor/.test(error.message ?? '')
          ? 'refused: stopping'
          : `error ${error.code ?? String(error)}`,
    );
    answers.push(settled);
    return settled;
  };
  let stopped: Promise<unknown> | undefined;
  for (const step of ops) {
    if (step.kind === 'start') {
      const settled = answer(() => sim.startChild('root/pool', []));
      if (step.awaited) await settled;
    } else if (step.kind === 'terminate') {
      const ids = pool.children.ordered().map((c) => c.spec.id);
      const id = ids.length > 0 ? ids[step.pick % ids.length]! : 'w-1';
      const settled = answer(() => sim.terminateChild('root/pool', id));
      if (step.awaited) await settled;
    } else if (step.kind === 'exit') {
      const live = [...sim.live.keys()].sort();
      if (live.length > 0) sim.live.get(live[step.pick % live.length]!)!.exit(step.reason);
    } else if (step.kind === 'tick') {
      await new Promise((resolve) => setImmediate(resolve));
    } else if (step.kind === 'stopNow') {
      stopped ??= sim.stop();
    } else {
      // Once what was sent has been handled: a stop racing an exit queued microtasks before it is a race in either
      // (the stop wins while the machine is busy), and the lane keeps it busy a few microtasks longer.
      for (let i = 0; i < 1000 && !(sim.idle('root/pool') && sim.idle('root')); i++)
        await new Promise((resolve) => setImmediate(resolve));
      stopped ??= sim.stop();
    }
  }
  await Promise.all(answers);
  for (let i = 0; i < 1000 && !(sim.idle('root/pool') && sim.idle('root')); i++)
    await new Promise((resolve) => setImmediate(resolve));
  await (stopped ?? sim.stop());
  return { events, answers: await Promise.all(answers) };
}

describe('calls in a row', () => {
  test('a supervisor with its lane and one without: the same events in the same order, the same answers', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(op, { minLength: 1, maxLength: 40 }),
        fc.constantFrom<RestartType>('permanent', 'transient', 'temporary'),
        async (ops, restart) => {
          const withLane = await play(ops, restart, true);
          const without = await play(ops, restart, false);
          expect(withLane.answers).toEqual(without.answers);
          expect(withLane.events).toEqual(without.events);
        },
      ),
      { numRuns: 300 },
    );
  }, 120_000);

  test('calls made just before a stop are carried out before it, as OTP handles the start_child messages ahead of its shutdown', async () => {
    const ops: Op[] = [
      { kind: 'start', awaited: true },
      { kind: 'start', awaited: false },
      { kind: 'start', awaited: false },
      { kind: 'start', awaited: false },
      { kind: 'stopNow' },
    ];
    const withLane = await play(ops, 'permanent', true);
    expect(withLane.answers.map((a) => a.slice(0, 2))).toEqual(['ok', 'ok', 'ok', 'ok']);
    const terminated = withLane.events.filter((e) => e.includes('"child_terminated","supervisor":"root/pool"'));
    expect(terminated).toHaveLength(4);
    expect(withLane).toEqual(await play(ops, 'permanent', false));
  });

  /** A pool of task children in a simulated tree, and the turns its machine takes (snapshots it emits). */
  async function taskPool(): Promise<{
    sim: SimulatedTree;
    turns: () => number;
    crash: Map<string, (error: Error) => void>;
  }> {
    const crash = new Map<string, (error: Error) => void>();
    const sim = new SimulatedTree(
      supervisor({
        id: 'root',
        children: [
          supervisor({
            id: 'pool',
            strategy: 'simple_one_for_one',
            intensity: 10_000,
            period: 1,
            template: task({
              id: 't',
              shutdown: 'brutal_kill',
              run: ({ id }) => new Promise((_resolve, reject) => crash.set(id, reject)),
            }),
          }),
        ],
      }),
    );
    await sim.start();
    let turns = 0;
    sim.node('root/pool').actor.subscribe(() => (turns += 1));
    return { sim, turns: () => turns, crash };
  }

  test('300 task children started one after another take a few turns of the machine, not one or more each', async () => {
    const { sim, turns } = await taskPool();
    for (let i = 0; i < 300; i++) await sim.startChild('root/pool', []);
    expect(sim.node('root/pool').children.running).toBe(300);
    expect(turns()).toBeLessThan(30);
    await sim.stop();
  });

  test('300 tasks crashing in the same tick are handled as one batch, each restarted', async () => {
    const { sim, turns, crash } = await taskPool();
    const started: string[] = [];
    for (let i = 0; i < 300; i++) started.push((await sim.startChild('root/pool', [])).id);
    await new Promise((resolve) => setImmediate(resolve));
    const before = turns();
    for (const id of started) crash.get(id)!(new Error('crashed'));
    const node = sim.node('root/pool');
    const restarted = (): number => [...node.children].filter((c) => c.restarts === 1 && c.status === 'running').length;
    for (let i = 0; i < 1000 && restarted() < 300; i++) await new Promise((resolve) => setImmediate(resolve));
    expect(restarted()).toBe(300);
    expect(turns() - before).toBeLessThan(30);
    await sim.stop();
  });
});
