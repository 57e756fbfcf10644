// Model-based tests: random supervisors and random sequences of child exits (and failed restarts) are fed to
// the implementation's pure decisions and to the OTP reference model side by side; they must agree on every step.
import fc from 'fast-check';
import { afterAll, describe, expect, test } from 'vitest';
import {
  decideOnExit,
  decideOnRestartFailure,
  listView,
  type DecisionChild,
  type ExitDecision,
  type SupervisorView,
} from '../../src/supervisor/decide.js';
import { RestartWindow } from '../../src/supervisor/intensity.js';
import type { AutoShutdown, ExitReason, RestartType, Strategy } from '../../src/types.js';
import { ReferenceSupervisor, type RefChild, type RefDecision, type RefFlags, type RefOutcome } from './reference.js';

// ---------------------------------------------------------------------------------------------------------------
// Scenarios

interface FailedStart {
  /** Which start of the restart attempt fails: its position, modulo the number of starts. */
  at: number;
  /** ms until the supervisor tries again. */
  retryAfter: number;
}

interface ExitEvent {
  /** Which running child exits: an index among the running children, modulo their number. */
  pick: number;
  reason: ExitReason;
  /** ms since the previous event. */
  gap: number;
  /** Attempt k of the restart this exit causes fails as `failures[k]` says; attempts past the list succeed. */
  failures: FailedStart[];
}

interface Scenario {
  flags: RefFlags;
  children: Array<Omit<RefChild, 'running'>>;
  events: ExitEvent[];
}

const REASONS: ExitReason[] = [
  'normal',
  'shutdown',
  { shutdown: 'x' },
  { code: 1 },
  { signal: 'SIGKILL' },
  { error: 'boom' },
  { startFailed: 'timeout' },
  { hung: 100 },
  { memory: 1 },
];
const STRATEGIES: Strategy[] = ['one_for_one', 'rest_for_one', 'one_for_all', 'simple_one_for_one'];
const RESTARTS: RestartType[] = ['permanent', 'transient', 'temporary'];

const restartKind = fc
  .record({ restart: fc.constantFrom(...RESTARTS), significant: fc.boolean() })
  // A permanent child cannot be significant (the spec would not validate).
  .map(({ restart, significant }) => ({ restart, significant: significant && restart !== 'permanent' }));

/** Static children with their own restart types, or dynamic children that all share one template. */
const childrenFor = (strategy: Strategy) =>
  strategy === 'simple_one_for_one'
    ? fc
        .tuple(restartKind, fc.integer({ min: 1, max: 8 }))
        .map(([kind, n]) => Array.from({ length: n }, (_, i) => ({ id: `w-${i + 1}`, ...kind })))
    : fc
        .array(restartKind, { minLength: 1, maxLength: 8 })
        .map((kinds) => kinds.map((kind, i) => ({ id: `c${i + 1}`, ...kind })));

function scenario(failures: fc.Arbitrary<FailedStart[]>): fc.Arbitrary<Scenario> {
  return fc
    .record({
      strategy: fc.constantFrom(...STRATEGIES),
      intensity: fc.integer({ min: 0, max: 5 }),
      period: fc.integer({ min: 1, max: 10_000 }),
    })
    .chain(({ strategy, intensity, period }) =>
      childrenFor(strategy).chain((children) => {
        // Significant children need an autoShutdown other than 'never' (the spec would not validate).
        const autoShutdowns: AutoShutdown[] = children.some((c) => c.significant)
          ? ['any_significant', 'all_significant']
          : ['never', 'any_significant', 'all_significant'];
        // Gaps around the period hit the window's edges: a restart exactly `period` ago still counts.
        const gap = fc.oneof(
          fc.nat({ max: 50 }),
          fc.nat({ max: 12_000 }),
          fc.constantFrom(period - 1, period, period + 1),
        );
        const event = fc.record({ pick: fc.nat({ max: 7 }), reason: fc.constantFrom(...REASONS), gap, failures });
        return fc.record({
          flags: fc
            .constantFrom(...autoShutdowns)
            .map((autoShutdown) => ({ strategy, intensity, period, autoShutdown })),
          children: fc.constant(children),
          events: fc.array(event, { minLength: 1, maxLength: 40 }),
        });
      }),
    );
}

const failedStart = fc.record({ at: fc.nat({ max: 7 }), retryAfter: fc.oneof(fc.constant(0), fc.nat({ max: 3_000 })) });

// ---------------------------------------------------------------------------------------------------------------
// The implementation, driven over a plain state: decideOnExit / decideOnRestartFailure, then the decision applied.

interface ImplState {
  children: DecisionChild[];
  restarts: number[];
}

function view(flags: RefFlags, state: ImplState): SupervisorView {
  // Frozen: a pure decision must not change the supervisor it looks at.
  return {
    ...flags,
    children: listView(deepFreeze(structuredClone(state.children))),
    // Not frozen: a window shares its log with the windows made from it (it never changes what it holds).
    restarts: RestartWindow.of(state.restarts),
  };
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object') {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}

function implExit(flags: RefFlags, state: ImplState, id: string, reason: ExitReason, now: number, failAt?: number) {
  childOf(state, id).running = false;
  return apply(state, id, decideOnExit(view(flags, state), id, reason, now), failAt);
}

function implRetry(flags: RefFlags, state: ImplState, id: string, now: number, failAt?: number) {
  return apply(state, id, decideOnRestartFailure(view(flags, state), id, now), failAt);
}

function apply(
  state: ImplState,
  id: string,
  decision: ExitDecision,
  failAt: number | undefined,
): { decision: ExitDecision; failed?: string } {
  switch (decision.kind) {
    case 'keep_stopped':
      return { decision };
    case 'remove':
      state.children = state.children.filter((c) => c.id !== id);
      return { decision };
    case 'auto_shutdown':
      if (decision.remove) state.children = state.children.filter((c) => c.id !== id);
      return { decision };
    case 'give_up':
      state.restarts = decision.restarts.newestFirst();
      return { decision };
    case 'restart': {
      const { terminate, remove, start } = decision.plan;
      state.restarts = decision.restarts.newestFirst();
      for (const t of terminate) {
        expect(childOf(state, t).running, `terminate ${t}: it must be running`).toBe(true);
        childOf(state, t).running = false;
      }
      state.children = state.children.filter((c) => !remove.includes(c.id));
      for (const [position, s] of start.entries()) {
        expect(childOf(state, s).running, `start ${s}: it must be stopped`).toBe(false);
        if (failAt !== undefined && position === failAt % start.length) return { decision, failed: s };
        childOf(state, s).running = true;
      }
      return { decision };
    }
  }
}

function childOf(state: ImplState, id: string): DecisionChild {
  const child = state.children.find((c) => c.id === id);
  if (!child) throw new Error(`no child ${id}`);
  return child;
}

/** The implementation's decision in the model's words. */
function asRef(decision: ExitDecision): RefDecision {
  switch (decision.kind) {
    case 'restart':
      return {
        kind: 'restart',
        terminate: decision.plan.terminate,
        start: decision.plan.start,
        remove: [...decision.plan.remove].sort(),
      };
    case 'auto_shutdown':
      return { kind: 'auto_shutdown', remove: decision.remove };
    default:
      return { kind: decision.kind };
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Side by side

/** What the runs went through, so the properties are known not to pass vacuously. */
const seen = {
  keep_stopped: 0,
  remove: 0,
  restart: 0,
  give_up: 0,
  auto_shutdown: 0,
  siblingsTerminated: 0,
  temporarySiblingsRemoved: 0,
  retries: 0,
  gaveUpOnRetry: 0,
};

function runSideBySide({ flags, children, events }: Scenario): void {
  const model = new ReferenceSupervisor(flags, children);
  const impl: ImplState = { children: children.map((c) => ({ ...c, running: true })), restarts: [] };
  let now = 0;

  const agree = (step: string, implOut: { decision: ExitDecision; failed?: string }, refOut: RefOutcome): void => {
    expect(asRef(implOut.decision), `${step}: decision`).toEqual(refOut.decision);
    expect(implOut.failed, `${step}: failed start`).toEqual(refOut.failed);
    expect(impl.restarts, `${step}: restart timestamps`).toEqual(model.restarts);
    expect(impl.children, `${step}: children afterwards`).toEqual(model.children);
    seen[refOut.decision.kind] += 1;
    if (refOut.decision.kind === 'restart') {
      if (refOut.decision.terminate.length > 0) seen.siblingsTerminated += 1;
      if (refOut.decision.remove.length > 0) seen.temporarySiblingsRemoved += 1;
    }
  };

  for (const [n, event] of events.entries()) {
    const running = impl.children.filter((c) => c.running);
    if (running.length === 0) return; // nothing left that can exit
    const id = running[event.pick % running.length]!.id;
    now += event.gap;
    let attempt = 0;
    let failAt = event.failures[attempt]?.at;
    const step = `event ${n}: ${id} exits with ${JSON.stringify(event.reason)} at ${now}`;
    let implOut = implExit(flags, impl, id, event.reason, now, failAt);
    let refOut = model.exit(id, event.reason, now, failAt);
    agree(step, implOut, refOut);

    while (refOut.failed !== undefined) {
      const failed = refOut.failed;
      now += event.failures[attempt]!.retryAfter;
      attempt += 1;
      failAt = event.failures[attempt]?.at;
      const retryStep = `${step}, retry ${attempt} after start of ${failed} failed, at ${now}`;
      implOut = implRetry(flags, impl, failed, now, failAt);
      refOut = model.retry(failed, now, failAt);
      agree(retryStep, implOut, refOut);
      seen.retries += 1;
      if (refOut.decision.kind === 'give_up') seen.gaveUpOnRetry += 1;
    }
    if (refOut.decision.kind === 'give_up' || refOut.decision.kind === 'auto_shutdown') return; // the supervisor is gone
  }
}

describe('restart decisions agree with the OTP reference model', () => {
  test('random supervisors and random sequences of child exits: the same decision at every step', () => {
    const rarelyFailing = fc.oneof(
      { weight: 4, arbitrary: fc.constant<FailedStart[]>([]) },
      { weight: 1, arbitrary: fc.array(failedStart, { maxLength: 3 }) },
    );
    fc.assert(fc.property(scenario(rarelyFailing), runSideBySide), { numRuns: 500 });
  });

  test('failed restarts: each retry counts toward intensity and retries the way OTP does', () => {
    fc.assert(fc.property(scenario(fc.array(failedStart, { minLength: 1, maxLength: 4 })), runSideBySide), {
      numRuns: 500,
    });
  });

  afterAll(() => {
    // Not vacuous: every kind of decision, sibling terminations, removals and retries were exercised.
    for (const [what, count] of Object.entries(seen)) expect(count, `${what} seen ${count} times`).toBeGreaterThan(50);
  });
});
