// The supervisor machine itself (machine.ts, children.ts, calls.ts, node.ts), driven over in-process children on a
// simulated clock (src/supervisor/simulation.ts), against the OTP reference model (test/model/reference.ts): random
// supervisors and random histories of crashes, failed restarts (retried, counted toward intensity), stale exits of
// old incarnations, exits queued together, and API calls. At every step the events the machine emits (exits decided,
// siblings terminated in order, children restarted in order) and the child list it keeps must be the model's.
// Thousands of histories run in seconds; the real-process tests stay beside it for the I/O.
import fc from 'fast-check';
import { afterAll, describe, expect, test } from 'vitest';
import { supervisor, worker } from '../../src/index.js';
import { ManualClock, SimulatedTree } from '../../src/supervisor/simulation.js';
import type { TreeEvent } from '../../src/supervisor/events.js';
import type { AutoShutdown, ExitReason, RestartType, Strategy, SupervisorSpec } from '../../src/types.js';
import { ReferenceSupervisor, type RefChild, type RefDecision, type RefFlags } from './reference.js';

const MODULE = new URL(import.meta.url).pathname;
const REASONS: ExitReason[] = [
  'normal',
  'shutdown',
  { shutdown: 'x' },
  { code: 1 },
  { signal: 'SIGKILL' },
  { error: 'boom' },
];
const STRATEGIES: Strategy[] = ['one_for_one', 'rest_for_one', 'one_for_all', 'simple_one_for_one'];
const RESTARTS: RestartType[] = ['permanent', 'transient', 'temporary'];

type Step =
  /** A running child (picked by index) exits; the restart's attempts fail at the given start positions. */
  | { kind: 'exit'; pick: number; reason: ExitReason; gap: number; failAt: number[] }
  /** Several running children exit in the same tick: they queue up and are handled together. */
  | { kind: 'burst'; picks: number[]; reason: ExitReason; gap: number }
  /** An exit of an incarnation that is no longer the child's (or of a stopped child): changes nothing. */
  | { kind: 'stale'; pick: number; gap: number }
  /** OTP's terminate_child / restart_child / delete_child on a child picked by index; start_child for a pool. */
  | { kind: 'call'; call: 'terminate' | 'restart' | 'delete' | 'start'; pick: number }
  /** A reload's new intensity and period for the running supervisor (OTP's code_change): later exits count by them. */
  | { kind: 'flags'; intensity: number; period: number };

interface Scenario {
  flags: RefFlags;
  children: Array<Omit<RefChild, 'running'>>;
  steps: Step[];
}

const kind = fc
  .record({ restart: fc.constantFrom(...RESTARTS), significant: fc.boolean() })
  .map(({ restart, significant }) => ({ restart, significant: significant && restart !== 'permanent' }));

const scenario: fc.Arbitrary<Scenario> = fc
  .record({
    strategy: fc.constantFrom(...STRATEGIES),
    intensity: fc.integer({ min: 0, max: 5 }),
    period: fc.integer({ min: 1, max: 10_000 }),
  })
  .chain(({ strategy, intensity, period }) => {
    const children =
      strategy === 'simple_one_for_one'
        ? fc
            .tuple(kind, fc.integer({ min: 1, max: 6 }))
            .map(([k, n]) => Array.from({ length: n }, (_, i) => ({ id: `w-${i + 1}`, ...k })))
        : fc
            .array(kind, { minLength: 1, maxLength: 6 })
            .map((kinds) => kinds.map((k, i) => ({ id: `c${i + 1}`, ...k })));
    return children.chain((list) => {
      const autoShutdowns: AutoShutdown[] = list.some((c) => c.significant)
        ? ['any_significant', 'all_significant']
        : ['never', 'any_significant', 'all_significant'];
      const gap = fc.oneof(
        fc.nat({ max: 50 }),
        fc.nat({ max: 12_000 }),
        fc.constantFrom(period - 1, period, period + 1),
      );
      const step: fc.Arbitrary<Step> = fc.oneof(
        {
          weight: 6,
          arbitrary: fc.record({
            kind: fc.constant('exit' as const),
            pick: fc.nat(7),
            reason: fc.constantFrom(...REASONS),
            gap,
            failAt: fc.oneof(
              { weight: 3, arbitrary: fc.constant<number[]>([]) },
              { weight: 2, arbitrary: fc.array(fc.nat(7), { maxLength: 4 }) },
            ),
          }),
        },
        {
          weight: 2,
          arbitrary: fc.record({
            kind: fc.constant('burst' as const),
            picks: fc.array(fc.nat(7), { minLength: 2, maxLength: 4 }),
            reason: fc.constantFrom(...REASONS),
            gap,
          }),
        },
        { weight: 1, arbitrary: fc.record({ kind: fc.constant('stale' as const), pick: fc.nat(7), gap }) },
        {
          weight: 1,
          arbitrary: fc.record({
            kind: fc.constant('flags' as const),
            intensity: fc.integer({ min: 0, max: 5 }),
            period: fc.integer({ min: 1, max: 10_000 }),
          }),
        },
        {
          weight: 2,
          arbitrary: fc.record({
            kind: fc.constant('call' as const),
            call: fc.constantFrom('terminate' as const, 'restart' as const, 'delete' as const, 'start' as const),
            pick: fc.nat(7),
          }),
        },
      );
      return fc.record({
        flags: fc.constantFrom(...autoShutdowns).map((autoShutdown) => ({ strategy, intensity, period, autoShutdown })),
        children: fc.constant(list),
        steps: fc.array(step, { minLength: 1, maxLength: 30 }),
      });
    });
  });

/** What the machine did for one exit, read from its events, in the model's words. */
interface Observed {
  decision: RefDecision['kind'];
  terminated: string[];
  restarted: string[];
}

const seen = {
  restart: 0,
  give_up: 0,
  auto_shutdown: 0,
  remove: 0,
  keep_stopped: 0,
  retries: 0,
  bursts: 0,
  stale: 0,
  calls: 0,
  terminations: 0,
  flags: 0,
};

async function runHistory({ flags, children, steps }: Scenario): Promise<void> {
  const clock = new ManualClock();
  const events: TreeEvent[] = [];
  /** Start outcomes to hand out, in order: undefined starts, a reason fails. */
  const outcomes: Array<ExitReason | undefined> = [];
  const dynamic = flags.strategy === 'simple_one_for_one';
  const spec: SupervisorSpec = supervisor({
    id: 'sup',
    ...flags,
    ...(dynamic
      ? {
          template: worker({
            id: 'w',
            module: MODULE,
            restart: children[0]!.restart,
            significant: children[0]!.significant,
          }),
        }
      : {
          children: children.map((c) =>
            worker({ id: c.id, module: MODULE, restart: c.restart, significant: c.significant }),
          ),
        }),
  });
  const sim = new SimulatedTree(
    supervisor({ id: 'root', intensity: 0, children: [{ ...spec, restart: 'temporary' }] }),
    {
      clock,
      onEvent: (event) => events.push(event),
      behaviour: { startOutcome: () => outcomes.shift() },
    },
  );
  await sim.start();
  const model = new ReferenceSupervisor(flags, dynamic ? [] : children);
  for (const child of children) {
    if (!dynamic) continue;
    await sim.startChild('root/sup', []);
    model.children.push({ ...child, running: true });
  }
  const settle = async (): Promise<void> => {
    for (let i = 0; i < 10_000 && !(sim.idle('root/sup') && sim.idle('root')); i++)
      await new Promise((resolve) => setImmediate(resolve));
  };
  const supGone = (): boolean => events.some((e) => e.event === 'supervisor_stopped' && e.supervisor === 'root/sup');
  const node = () => sim.node('root/sup');
  const listed = () =>
    node()
      .children.ordered()
      .map((r) => ({ id: r.spec.id, running: r.status === 'running' }));
  const agree = (step: string): void => {
    expect(listed(), `${step}: children and which run`).toEqual(
      model.children.map((c) => ({ id: c.id, running: c.running })),
    );
    const restarts = node().actor.getSnapshot().context.restarts.newestFirst();
    expect(restarts, `${step}: restart window`).toEqual(model.restarts);
  };
  /** The machine's events about `sup`'s children since `from`, as one exit's handling (up to the next exit). */
  const observe = (from: number, child: string): Observed => {
    const mine = events.slice(from).filter((e) => 'supervisor' in e && e.supervisor === 'root/sup');
    const at = mine.findIndex((e) => e.event === 'child_exited' && e.child === child);
    expect(at, `child_exited for ${child}`).toBeGreaterThanOrEqual(0);
    const exited = mine[at] as Extract<TreeEvent, { event: 'child_exited' }>;
    const rest = mine.slice(at + 1);
    const end = rest.findIndex((e) => e.event === 'child_exited');
    const own = end < 0 ? rest : rest.slice(0, end);
    return {
      decision: exited.action,
      terminated: own.filter((e) => e.event === 'child_terminated').map((e) => (e as { child: string }).child),
      restarted: own.filter((e) => e.event === 'child_restarting').map((e) => (e as { child: string }).child),
    };
  };

  for (const [n, step] of steps.entries()) {
    if (supGone()) return;
    const running = model.children.filter((c) => c.running);
    const label = `step ${n} ${JSON.stringify(step)}`;
    if (step.kind === 'exit' || step.kind === 'burst') {
      if (running.length === 0) continue;
      clock.advance(step.gap);
      const now = clock.now();
      const ids = [
        ...new Set((step.kind === 'exit' ? [step.pick] : step.picks).map((p) => running[p % running.length]!.id)),
      ];
      // The model, one exit after another (OTP handles one 'EXIT' at a time), with the failures the step scripts.
      // A child that an earlier exit's restart terminated (or removed) is not handled again: in OTP its queued
      // 'EXIT' is taken by that termination.
      const expected: Array<{ id: string; decision: RefDecision; retries: RefDecision[]; attempted: string[] }> = [];
      const replaced = new Set<string>();
      for (const id of ids) {
        if (replaced.has(id) || !model.children.find((c) => c.id === id)?.running) continue;
        const failAt = step.kind === 'exit' ? step.failAt : [];
        let attempt = 0;
        let out = model.exit(id, step.reason, now, failAt[attempt]);
        const record = { id, decision: out.decision, retries: [] as RefDecision[], attempted: [] as string[] };
        expected.push(record);
        record.attempted.push(...queueStarts(out.decision, out.failed));
        while (out.failed !== undefined) {
          attempt += 1;
          out = model.retry(out.failed, now, failAt[attempt]);
          record.retries.push(out.decision);
          record.attempted.push(...queueStarts(out.decision, out.failed));
          seen.retries += 1;
        }
        for (const d of [record.decision, ...record.retries])
          if (d.kind === 'restart') for (const t of [...d.terminate, ...d.remove]) replaced.add(t);
        const kinds = [record.decision.kind, ...record.retries.map((d) => d.kind)];
        if (kinds.includes('give_up') || kinds.includes('auto_shutdown')) break;
      }
      const from = events.length;
      for (const id of ids) sim.live.get(`root/sup/${id}`)?.exit(step.reason);
      if (ids.length > 1) seen.bursts += 1;
      await settle();
      for (const e of expected) {
        const got = observe(from, e.id);
        const decision = e.decision;
        seen[decision.kind] += 1;
        expect(got.decision, `${label}: ${e.id}'s exit`).toBe(decision.kind);
        if (decision.kind === 'restart') {
          const all = [decision, ...e.retries];
          const allStarts = e.attempted;
          const allTerminations = all.flatMap((d) => (d.kind === 'restart' ? d.terminate : []));
          // After a retry that gave up, the supervisor's shutdown terminates the rest: compare what came before.
          const gaveUp = all.some((d) => d.kind === 'give_up');
          const terminated = gaveUp ? got.terminated.slice(0, allTerminations.length) : got.terminated;
          expect(terminated, `${label}: ${e.id}: siblings terminated, in order`).toEqual(allTerminations);
          expect(got.restarted, `${label}: ${e.id}: children restarted, in order`).toEqual(allStarts);
          if (decision.terminate.length > 0) seen.terminations += 1;
        }
      }
      if (supGone()) {
        // It gave up or shut down: the model's last decision says so.
        const last = expected.at(-1)!;
        const kinds = [last.decision.kind, ...last.retries.map((d) => d.kind)];
        expect(kinds.includes('give_up') || kinds.includes('auto_shutdown'), `${label}: the supervisor stopped`).toBe(
          true,
        );
        return;
      }
      agree(label);
    } else if (step.kind === 'stale') {
      const candidates = node().children.ordered();
      if (candidates.length === 0) continue;
      const record = candidates[step.pick % candidates.length]!;
      clock.advance(step.gap);
      // An older incarnation's exit, or the current incarnation of a child that is not running.
      const incarnation = record.status === 'running' ? record.incarnation - 1 : record.incarnation;
      node().actor.send({
        type: 'CHILD_EXITED',
        id: record.spec.id,
        incarnation,
        reason: { code: 9 },
        at: clock.now(),
      });
      const from = events.length;
      await settle();
      expect(
        events.slice(from).filter((e) => e.event === 'child_exited'),
        `${label}: a stale exit is ignored`,
      ).toEqual([]);
      seen.stale += 1;
      agree(label);
    } else if (step.kind === 'flags') {
      seen.flags += 1;
      await sim.setFlags('root/sup', { intensity: step.intensity, period: step.period });
      model.flags.intensity = step.intensity;
      model.flags.period = step.period;
      await settle();
      agree(label);
    } else {
      seen.calls += 1;
      await callBoth(step, label);
      await settle();
      if (supGone()) return;
      agree(label);
    }
  }
  await sim.stop();

  /** Scripts the starts of one restart attempt (the failing one last); returns the children it tries to start. */
  function queueStarts(decision: RefDecision, failed: string | undefined): string[] {
    if (decision.kind !== 'restart') return [];
    const attempted: string[] = [];
    for (const id of decision.start) {
      attempted.push(id);
      if (id === failed) {
        outcomes.push({ startFailed: 'scripted' });
        break;
      }
      outcomes.push(undefined);
    }
    return attempted;
  }

  /** A call made on both: the model's outcome (OTP's answer) and the machine's must agree. */
  async function callBoth(step: Extract<Step, { kind: 'call' }>, label: string): Promise<void> {
    const list = model.children;
    if (step.call === 'start') {
      if (!dynamic) return;
      const info = await sim.startChild('root/sup', []);
      list.push({ id: info.id, restart: children[0]!.restart, significant: children[0]!.significant, running: true });
      return;
    }
    if (list.length === 0) return;
    const target = list[step.pick % list.length]!;
    const path = 'root/sup';
    const answer = await (
      step.call === 'terminate'
        ? sim.terminateChild(path, target.id)
        : step.call === 'restart'
          ? sim.restartChild(path, target.id)
          : sim.deleteChild(path, target.id)
    ).then(
      () => 'ok',
      (error: { code?: string }) => error.code ?? 'error',
    );
    // OTP's answers: terminate_child stops it (a temporary or dynamic child is deleted with it); restart_child
    // starts a stopped child (simple_one_for_one refuses); delete_child removes a stopped one.
    let expected: string;
    if (step.call === 'terminate') {
      expected = 'ok';
      target.running = false;
      if (target.restart === 'temporary' || dynamic) list.splice(list.indexOf(target), 1);
    } else if (step.call === 'restart') {
      expected = dynamic ? 'simple_one_for_one' : target.running ? 'running' : 'ok';
      if (expected === 'ok') target.running = true;
    } else {
      expected = dynamic ? 'simple_one_for_one' : target.running ? 'running' : 'ok';
      if (expected === 'ok') list.splice(list.indexOf(target), 1);
    }
    expect(answer, `${label}: ${step.call} ${target.id}`).toBe(expected);
  }
}

describe('the supervisor machine agrees with the OTP reference model, on a simulated clock', () => {
  test('2,000 random histories: exits one at a time and in bursts, failed restarts, stale exits, calls, new flags', async () => {
    const began = performance.now();
    await fc.assert(fc.asyncProperty(scenario, runHistory), { numRuns: 2000 });
    console.info(`2,000 histories in ${Math.round(performance.now() - began)} ms; seen ${JSON.stringify(seen)}`);
  }, 120_000);

  test('a child slower to stop than its shutdown value is killed when the simulated clock reaches it', async () => {
    const clock = new ManualClock();
    const events: TreeEvent[] = [];
    const sim = new SimulatedTree(
      supervisor({
        id: 'root',
        strategy: 'one_for_all',
        children: [
          worker({ id: 'slow', module: MODULE, shutdown: 5000 }),
          worker({ id: 'quick', module: MODULE, shutdown: 5000 }),
        ],
      }),
      {
        clock,
        onEvent: (e) => events.push(e),
        behaviour: { stopTakes: (path) => (path.endsWith('slow') ? 60_000 : 100) },
      },
    );
    await sim.start();
    sim.live.get('root/quick')!.exit({ code: 1 });
    await new Promise((resolve) => setImmediate(resolve));
    // one_for_all: `slow` is being terminated; nothing happens until the clock moves.
    expect(events.filter((e) => e.event === 'child_terminated')).toEqual([]);
    clock.advance(4999);
    await new Promise((resolve) => setImmediate(resolve));
    expect(events.filter((e) => e.event === 'child_terminated')).toEqual([]);
    clock.advance(1);
    for (let i = 0; i < 100 && !sim.idle(); i++) await new Promise((resolve) => setImmediate(resolve));
    expect(events.filter((e) => e.event === 'child_terminated')).toMatchObject([
      { child: 'slow', reason: { signal: 'SIGKILL' } },
    ]);
    expect(events.filter((e) => e.event === 'child_restarting').map((e) => (e as { child: string }).child)).toEqual([
      'slow',
      'quick',
    ]);
    // Stopping waits for `slow` on the same clock: it ends once the clock has moved its shutdown value on.
    let stopped = false;
    void sim.stop().then(() => (stopped = true));
    for (let i = 0; i < 20 && !stopped; i++) {
      await new Promise((resolve) => setImmediate(resolve));
      clock.advance(1000);
    }
    expect(stopped).toBe(true);
    expect(events.filter((e) => e.event === 'child_terminated').slice(1)).toMatchObject([
      { child: 'quick', reason: 'shutdown' },
      { child: 'slow', reason: { signal: 'SIGKILL' } },
    ]);
  });

  afterAll(() => {
    // Not vacuous: every kind of decision, bursts, retries, stale exits and calls were exercised.
    for (const [what, count] of Object.entries(seen)) expect(count, `${what} seen ${count} times`).toBeGreaterThan(20);
  });
});
