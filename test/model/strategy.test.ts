// Restart decisions as named scenarios, in the words of DESIGN.md §3 and OTP's supervisor_SUITE.
import { describe, expect, test } from 'vitest';
import {
  decideOnExit,
  decideOnRestartFailure as decideOnRestartFailureOf,
  listView,
  type DecisionChild,
  type ExitDecision,
  type SupervisorView as View,
} from '../../src/supervisor/decide.js';

/** The view with its children as a plain list and its restart times newest first, as these scenarios write them. */
type SupervisorView = Omit<View, 'children' | 'restarts'> & { children: DecisionChild[]; restarts: number[] };
/** A decision with its restart window as a plain list, newest first. */
type Decision =
  | Exclude<ExitDecision, { restarts: unknown }>
  | { kind: 'restart'; plan: RestartPlan; restarts: number[] }
  | { kind: 'give_up'; restarts: number[] };
const plain = (decision: ExitDecision): Decision =>
  'restarts' in decision ? { ...decision, restarts: decision.restarts.newestFirst() } : decision;
const viewOf = (sup: SupervisorView, children: DecisionChild[]): View => ({
  ...sup,
  children: listView(children),
  restarts: RestartWindow.of(sup.restarts),
});
const decideOnRestartFailure = (sup: SupervisorView, id: string, now: number) =>
  plain(decideOnRestartFailureOf(viewOf(sup, sup.children), id, now));
import { RestartWindow } from '../../src/supervisor/intensity.js';
import { planRestart, shouldRestart, type RestartPlan } from '../../src/supervisor/strategy.js';
import type { AutoShutdown, ExitReason, RestartType, Strategy } from '../../src/types.js';

const NORMAL: ExitReason[] = ['normal', 'shutdown', { shutdown: 'done' }];
const ABNORMAL: ExitReason[] = [
  { code: 1 },
  { signal: 'SIGKILL' },
  { error: 'boom' },
  { startFailed: 'timeout' },
  { hung: 100 },
  { memory: 1 },
];
const show = (reason: ExitReason): string => JSON.stringify(reason);

interface Given {
  strategy?: Strategy;
  intensity?: number;
  period?: number;
  autoShutdown?: AutoShutdown;
  restarts?: number[];
  /** In start order; every child runs unless it says otherwise. */
  children: Array<{ id: string; restart?: RestartType; significant?: boolean; running?: boolean }>;
}

/** A supervisor with generous intensity unless told otherwise, so the scenarios are about the strategy. */
function supervisorWith(given: Given): SupervisorView {
  return {
    strategy: given.strategy ?? 'one_for_one',
    intensity: given.intensity ?? 10,
    period: given.period ?? 5000,
    autoShutdown: given.autoShutdown ?? 'never',
    restarts: given.restarts ?? [],
    children: given.children.map((c): DecisionChild => ({
      restart: 'permanent',
      significant: false,
      running: true,
      ...c,
    })),
  };
}

/** Children `1`..`n`, all permanent and running. */
const numbered = (n: number) => Array.from({ length: n }, (_, i) => ({ id: String(i + 1) }));

/** `id` exits by itself: it is still listed, no longer running, when the supervisor decides. */
function exits(sup: SupervisorView, id: string, reason: ExitReason = { signal: 'SIGKILL' }, now = 1000): Decision {
  const children = sup.children.map((c) => (c.id === id ? { ...c, running: false } : c));
  return plain(decideOnExit(viewOf(sup, children), id, reason, now));
}

function planOf(decision: Decision) {
  if (decision.kind !== 'restart') throw new Error(`expected a restart, got ${JSON.stringify(decision)}`);
  return decision.plan;
}

describe('one_for_one', () => {
  test('one_for_one: killing child 2 of 3 restarts only 2', () => {
    expect(planOf(exits(supervisorWith({ children: numbered(3) }), '2'))).toEqual({
      terminate: [],
      start: ['2'],
      remove: [],
    });
  });
});

describe('rest_for_one', () => {
  test('rest_for_one: killing child 3 of 5 terminates 5, 4 then starts 3, 4, 5', () => {
    const sup = supervisorWith({ strategy: 'rest_for_one', children: numbered(5) });
    expect(planOf(exits(sup, '3'))).toEqual({ terminate: ['5', '4'], start: ['3', '4', '5'], remove: [] });
  });

  test('rest_for_one: killing the last child restarts only it', () => {
    const sup = supervisorWith({ strategy: 'rest_for_one', children: numbered(3) });
    expect(planOf(exits(sup, '3'))).toEqual({ terminate: [], start: ['3'], remove: [] });
  });

  test('rest_for_one: the listener of [listener, w1, w2] failing terminates w2, w1 then starts listener, w1, w2', () => {
    const sup = supervisorWith({
      strategy: 'rest_for_one',
      children: [{ id: 'listener' }, { id: 'w1' }, { id: 'w2' }],
    });
    expect(planOf(exits(sup, 'listener'))).toEqual({
      terminate: ['w2', 'w1'],
      start: ['listener', 'w1', 'w2'],
      remove: [],
    });
  });

  test('rest_for_one: a temporary child started after it is terminated and removed, not restarted', () => {
    const sup = supervisorWith({
      strategy: 'rest_for_one',
      children: [{ id: '1' }, { id: '2' }, { id: '3', restart: 'temporary' }, { id: '4' }],
    });
    expect(planOf(exits(sup, '2'))).toEqual({ terminate: ['4', '3'], start: ['2', '4'], remove: ['3'] });
  });

  test('rest_for_one: a transient child after it that had stopped normally is not terminated but is started again, as OTP', () => {
    const sup = supervisorWith({
      strategy: 'rest_for_one',
      children: [{ id: '1' }, { id: '2' }, { id: '3', restart: 'transient', running: false }],
    });
    expect(planOf(exits(sup, '1'))).toEqual({ terminate: ['2'], start: ['1', '2', '3'], remove: [] });
  });
});

describe('one_for_all', () => {
  test('one_for_all: killing child 2 of 3 terminates 3, 1 then starts 1, 2, 3', () => {
    const sup = supervisorWith({ strategy: 'one_for_all', children: numbered(3) });
    expect(planOf(exits(sup, '2'))).toEqual({ terminate: ['3', '1'], start: ['1', '2', '3'], remove: [] });
  });

  test('temporary_bystander: one_for_all terminates a temporary sibling and removes it instead of restarting it', () => {
    const sup = supervisorWith({
      strategy: 'one_for_all',
      children: [{ id: 'bystander', restart: 'temporary' }, { id: 'worker' }],
    });
    expect(planOf(exits(sup, 'worker'))).toEqual({
      terminate: ['bystander'],
      start: ['worker'],
      remove: ['bystander'],
    });
  });

  test('one_for_all: a stopped transient sibling is started again with the others, as OTP', () => {
    const sup = supervisorWith({
      strategy: 'one_for_all',
      children: [{ id: '1', restart: 'transient', running: false }, { id: '2' }, { id: '3' }],
    });
    expect(planOf(exits(sup, '3'))).toEqual({ terminate: ['2'], start: ['1', '2', '3'], remove: [] });
  });

  test('one_for_all: a temporary child crashing triggers no sibling restart and does not count toward intensity', () => {
    const sup = supervisorWith({
      strategy: 'one_for_all',
      intensity: 0,
      children: [{ id: '1' }, { id: 'job', restart: 'temporary' }, { id: '3' }],
    });
    expect(exits(sup, 'job', { error: 'boom' })).toEqual({ kind: 'remove' });
  });
});

describe('simple_one_for_one', () => {
  const pool = (restart: RestartType) =>
    supervisorWith({
      strategy: 'simple_one_for_one',
      children: [
        { id: 'w-1', restart },
        { id: 'w-2', restart },
        { id: 'w-3', restart },
      ],
    });

  test('simple_one_for_one: a crashed dynamic child is restarted alone', () => {
    expect(planOf(exits(pool('permanent'), 'w-2'))).toEqual({ terminate: [], start: ['w-2'], remove: [] });
  });

  test('simple_one_for_one: a transient dynamic child that exits normally is removed, not kept stopped', () => {
    expect(exits(pool('transient'), 'w-2', 'normal')).toEqual({ kind: 'remove' });
  });
});

describe('restart types × exit reasons (OTP supervisor_SUITE)', () => {
  const one = (restart: RestartType) => supervisorWith({ children: [{ id: 'child', restart }, { id: 'other' }] });
  const restartsAlone = { kind: 'restart', plan: { terminate: [], start: ['child'], remove: [] }, restarts: [1000] };

  test.each(NORMAL.map((r) => [show(r), r] as const))(
    'permanent_normal: a permanent child exiting with %s is restarted',
    (_, reason) => {
      expect(exits(one('permanent'), 'child', reason)).toEqual(restartsAlone);
    },
  );
  test.each(ABNORMAL.map((r) => [show(r), r] as const))(
    'permanent_abnormal: a permanent child exiting with %s is restarted',
    (_, reason) => {
      expect(exits(one('permanent'), 'child', reason)).toEqual(restartsAlone);
    },
  );
  test.each(NORMAL.map((r) => [show(r), r] as const))(
    'transient_normal: a transient child exiting with %s is not restarted and stays listed, stopped',
    (_, reason) => {
      expect(exits(one('transient'), 'child', reason)).toEqual({ kind: 'keep_stopped' });
    },
  );
  test.each(ABNORMAL.map((r) => [show(r), r] as const))(
    'transient_abnormal: a transient child exiting with %s is restarted',
    (_, reason) => {
      expect(exits(one('transient'), 'child', reason)).toEqual(restartsAlone);
    },
  );
  test.each(NORMAL.map((r) => [show(r), r] as const))(
    'temporary_normal: a temporary child exiting with %s is removed',
    (_, reason) => {
      expect(exits(one('temporary'), 'child', reason)).toEqual({ kind: 'remove' });
    },
  );
  test.each(ABNORMAL.map((r) => [show(r), r] as const))(
    'temporary_abnormal: a temporary child exiting with %s is removed, not restarted',
    (_, reason) => {
      expect(exits(one('temporary'), 'child', reason)).toEqual({ kind: 'remove' });
    },
  );

  test('shouldRestart: permanent always, transient only after abnormal exits, temporary never', () => {
    for (const reason of NORMAL) {
      expect([
        shouldRestart('permanent', reason),
        shouldRestart('transient', reason),
        shouldRestart('temporary', reason),
      ]).toEqual([true, false, false]);
    }
    for (const reason of ABNORMAL) {
      expect([
        shouldRestart('permanent', reason),
        shouldRestart('transient', reason),
        shouldRestart('temporary', reason),
      ]).toEqual([true, true, false]);
    }
  });
});

describe('restart intensity', () => {
  test('permanent_normal counts too: with intensity 0 the first normal exit of a permanent child gives up', () => {
    expect(exits(supervisorWith({ intensity: 0, children: numbered(2) }), '1', 'normal', 7)).toEqual({
      kind: 'give_up',
      restarts: [7],
    });
  });

  test('one_for_all_escalation: intensity 1, the second crash within the period gives up instead of restarting', () => {
    const sup = supervisorWith({
      strategy: 'one_for_all',
      intensity: 1,
      period: 5000,
      restarts: [1000],
      children: numbered(3),
    });
    expect(exits(sup, '2', { code: 1 }, 6000)).toEqual({ kind: 'give_up', restarts: [6000, 1000] });
  });

  test('rest_for_one_escalation: intensity 1, a second crash more than a period later restarts', () => {
    const sup = supervisorWith({
      strategy: 'rest_for_one',
      intensity: 1,
      period: 5000,
      restarts: [1000],
      children: numbered(3),
    });
    expect(exits(sup, '2', { code: 1 }, 6001)).toEqual({
      kind: 'restart',
      plan: { terminate: ['3'], start: ['2', '3'], remove: [] },
      restarts: [6001],
    });
  });

  test('a transient child exiting normally does not count toward intensity', () => {
    const sup = supervisorWith({ intensity: 0, children: [{ id: 't', restart: 'transient' }] });
    expect(exits(sup, 't', { shutdown: 'bye' })).toEqual({ kind: 'keep_stopped' });
  });
});

describe('failed restarts: tried again, each try counting toward intensity', () => {
  test('one_for_one, intensity 2: the start fails twice: the first retry is allowed, the second gives up', () => {
    let sup = supervisorWith({ intensity: 2, children: [{ id: 'w', running: false }] });
    const first = exits(sup, 'w', { code: 1 }, 100);
    expect(first).toMatchObject({ kind: 'restart', restarts: [100] });
    sup = { ...sup, restarts: [100] };
    const retry = decideOnRestartFailure(sup, 'w', 150);
    expect(retry).toEqual({ kind: 'restart', plan: { terminate: [], start: ['w'], remove: [] }, restarts: [150, 100] });
    sup = { ...sup, restarts: [150, 100] };
    expect(decideOnRestartFailure(sup, 'w', 200)).toEqual({ kind: 'give_up', restarts: [200, 150, 100] });
  });

  test('one_for_all: the start of 2 fails after 1 started: the retry terminates 1, then starts 1, 2, 3', () => {
    const sup = supervisorWith({
      strategy: 'one_for_all',
      restarts: [100],
      children: [{ id: '1' }, { id: '2', running: false }, { id: '3', running: false }],
    });
    expect(planOf(decideOnRestartFailure(sup, '2', 100))).toEqual({
      terminate: ['1'],
      start: ['1', '2', '3'],
      remove: [],
    });
  });

  test('rest_for_one: killing 2 of 5, the start of 4 fails after 2 and 3 started: the retry starts 4, 5 and leaves 2, 3 running', () => {
    const sup = supervisorWith({
      strategy: 'rest_for_one',
      restarts: [100],
      children: [{ id: '1' }, { id: '2' }, { id: '3' }, { id: '4', running: false }, { id: '5', running: false }],
    });
    expect(planOf(decideOnRestartFailure(sup, '4', 100))).toEqual({ terminate: [], start: ['4', '5'], remove: [] });
  });
});

describe('autoShutdown (OTP 24+): significant children may stop their supervisor', () => {
  const withSignificant = (autoShutdown: AutoShutdown, restart: RestartType) =>
    supervisorWith({
      autoShutdown,
      children: [{ id: 'main', restart, significant: true }, { id: 'helper' }],
    });

  test('any_significant: a significant transient child exiting normally shuts the supervisor down', () => {
    expect(exits(withSignificant('any_significant', 'transient'), 'main', 'normal')).toEqual({
      kind: 'auto_shutdown',
      remove: false,
    });
  });

  test('any_significant: a significant transient child that crashes is restarted instead', () => {
    expect(exits(withSignificant('any_significant', 'transient'), 'main', { code: 1 })).toMatchObject({
      kind: 'restart',
    });
  });

  test('any_significant: a significant temporary child shuts the supervisor down even when it crashes, and is removed', () => {
    expect(exits(withSignificant('any_significant', 'temporary'), 'main', { error: 'boom' })).toEqual({
      kind: 'auto_shutdown',
      remove: true,
    });
  });

  test('any_significant: a child that is not significant exiting normally does not stop the supervisor', () => {
    const sup = supervisorWith({
      autoShutdown: 'any_significant',
      children: [
        { id: 'main', restart: 'transient', significant: true },
        { id: 'side', restart: 'transient' },
      ],
    });
    expect(exits(sup, 'side', 'normal')).toEqual({ kind: 'keep_stopped' });
  });

  const pair = (otherRunning: boolean) =>
    supervisorWith({
      autoShutdown: 'all_significant',
      children: [
        { id: 'a', restart: 'transient', significant: true },
        { id: 'b', restart: 'temporary', significant: true, running: otherRunning },
        { id: 'helper' },
      ],
    });

  test('all_significant: the first of two significant children to stop leaves the supervisor running', () => {
    expect(exits(pair(true), 'a', 'normal')).toEqual({ kind: 'keep_stopped' });
  });

  test('all_significant: the last significant child to stop shuts the supervisor down, though a helper still runs', () => {
    expect(exits(pair(false), 'a', 'normal')).toEqual({ kind: 'auto_shutdown', remove: false });
  });

  test('all_significant: the last dynamic child of a significant template to stop shuts a simple_one_for_one down', () => {
    const children = [
      { id: 'w-1', restart: 'transient' as const, significant: true },
      { id: 'w-2', restart: 'transient' as const, significant: true, running: false },
    ];
    const sup = supervisorWith({ strategy: 'simple_one_for_one', autoShutdown: 'all_significant', children });
    expect(exits(sup, 'w-1', 'normal')).toEqual({ kind: 'auto_shutdown', remove: true });
    expect(exits({ ...sup, children: children.map((c) => ({ ...c, running: true })) }, 'w-1', 'normal')).toEqual({
      kind: 'remove',
    });
  });
});

describe('planRestart', () => {
  test('planRestart (rest_for_one) refuses a child that is not in the list', () => {
    expect(() =>
      planRestart(
        'rest_for_one',
        listView([{ id: 'a', restart: 'permanent', significant: false, running: true }]),
        'b',
      ),
    ).toThrow(/no child b/);
  });
});
