// Model-based tests of run-time child management (DESIGN.md §3 "Dynamic children", §8) on real children of each
// kind: forked processes, threads and tasks (test/support/kinds.ts). fast-check generates a sequence of API calls and
// child deaths; each is applied to a running tree and to a small reference model of OTP's supervisor (written here,
// from supervisor.erl's start_child/terminate_child/restart_child/delete_child and do_restart, without importing
// src/supervisor). After every step, whichChildren and countChildren must say what the model says, and exactly the
// children that run must be alive.
import fc from 'fast-check';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { supervisor, type CallErrorCode, type RestartType } from '../src/index.js';
import { DRIVERS, KINDS, nothingLeftRunning } from './support/kinds.js';
import {
  argsOf,
  assertOptions,
  closeAll,
  identity,
  incarnationsAgree,
  kill,
  nth,
  PROPERTY_TIMEOUT,
  refusal,
  RUNS,
  runAgainstModel,
  type World,
} from './support/model-world.js';

afterEach(closeAll);
afterAll(nothingLeftRunning);

// ---------------------------------------------------------------------------------------------------------------
// (a) simple_one_for_one with a transient template.
//
// The model, as OTP: the supervisor holds only dynamic children, all running, in start order. start_child adds one
// (here named `<template id>-<n>`, n counting every start in the supervisor's life); terminate_child removes it,
// and of one already gone answers ok (OTP: a dead pid), of an id never handed out not_found;
// restart_child and delete_child answer {error, simple_one_for_one}; a child that crashes is restarted in place
// (transient, abnormal exit); one that exits normally is not restarted and, being dynamic, is removed.

const TEMPLATE = { id: 'job', restart: 'transient', args: ['--queue', 'mail'] } as const;

interface DynamicModel {
  ids: string[];
  /** Children started so far: the next id is `job-${starts + 1}`. */
  starts: number;
}

type DynamicCommand = fc.AsyncCommand<DynamicModel, World>;

function dynamicAgree(m: DynamicModel, w: World): void {
  const children = w.tree.whichChildren(w.path);
  expect(children.map((c) => c.id)).toEqual(m.ids);
  expect(children.map((c) => c.status)).toEqual(m.ids.map(() => 'running'));
  const n = m.ids.length;
  // As OTP's count_children: a simple_one_for_one supervisor has one spec, its template.
  expect(w.tree.countChildren(w.path)).toEqual({ specs: 1, active: n, supervisors: 0, workers: n, listeners: 0 });
  incarnationsAgree(w, children);
}

class DynamicStart implements DynamicCommand {
  constructor(readonly args: string[]) {}
  check = () => true;
  async run(m: DynamicModel, w: World): Promise<void> {
    const info = await w.tree.startChild(w.path, this.args);
    const id = `${TEMPLATE.id}-${m.starts + 1}`;
    expect(info).toMatchObject({ id, type: w.kind.type, status: 'running', restart: 'transient' });
    // The template's args, then startChild's extra args (OTP appends ExtraArgs to the template's start args).
    expect(await argsOf(w, `${w.path}/${id}`)).toEqual([...TEMPLATE.args, ...this.args]);
    m.starts += 1;
    m.ids.push(id);
    dynamicAgree(m, w);
  }
  toString = () => `startChild(${JSON.stringify(this.args)})`;
}

class DynamicTerminate implements DynamicCommand {
  constructor(readonly k: number) {}
  check = (m: Readonly<DynamicModel>) => m.ids.length > 0;
  async run(m: DynamicModel, w: World): Promise<void> {
    const id = nth(m.ids, this.k);
    await w.tree.terminateChild(w.path, id);
    m.ids = m.ids.filter((x) => x !== id);
    dynamicAgree(m, w);
  }
  toString = () => `terminateChild(#${this.k})`;
}

/**
 * terminate_child of a dynamic child that is already gone: OTP answers ok for a dead pid. Here ids stand for pids:
 * ok for an id the pool handed out (it ended or was terminated), not_found for one it never did (the next id).
 */
class DynamicTerminateGone implements DynamicCommand {
  constructor(
    readonly k: number,
    readonly handedOut: boolean,
  ) {}
  check = (m: Readonly<DynamicModel>) => !this.handedOut || gone(m).length > 0;
  async run(m: DynamicModel, w: World): Promise<void> {
    if (this.handedOut) await w.tree.terminateChild(w.path, nth(gone(m), this.k));
    else expect(await refusal(() => w.tree.terminateChild(w.path, `${TEMPLATE.id}-${m.starts + 1}`))).toBe('not_found');
    dynamicAgree(m, w);
  }
  toString = () => (this.handedOut ? `terminateChild(gone #${this.k})` : 'terminateChild(next id)');
}

/** Ids the pool handed out whose child is no longer there. */
const gone = (m: Readonly<DynamicModel>): string[] =>
  Array.from({ length: m.starts }, (_, i) => `${TEMPLATE.id}-${i + 1}`).filter((id) => !m.ids.includes(id));

class DynamicRefused implements DynamicCommand {
  constructor(
    readonly call: 'restartChild' | 'deleteChild' | 'terminateChild',
    readonly k: number | null,
  ) {}
  check = () => true;
  async run(m: DynamicModel, w: World): Promise<void> {
    const id = this.k === null || m.ids.length === 0 ? 'nope' : nth(m.ids, this.k);
    const expected: CallErrorCode = this.call === 'terminateChild' ? 'not_found' : 'simple_one_for_one';
    expect(await refusal(() => w.tree[this.call](w.path, id))).toBe(expected);
    dynamicAgree(m, w);
  }
  toString = () => `${this.call}(${this.k === null ? "'nope'" : `#${this.k}`})`;
}

class DynamicCrash implements DynamicCommand {
  constructor(readonly k: number) {}
  check = (m: Readonly<DynamicModel>) => m.ids.length > 0;
  async run(m: DynamicModel, w: World): Promise<void> {
    const id = nth(m.ids, this.k);
    const { exit, token } = await kill(w, id, 'crash', true);
    expect(exit).toMatchObject({ reason: w.kind.killReason, action: 'restart' });
    expect(await identity(w, `${w.path}/${id}`)).not.toBe(token);
    dynamicAgree(m, w);
  }
  toString = () => `crash(#${this.k})`;
}

class DynamicExitNormally implements DynamicCommand {
  constructor(readonly k: number) {}
  check = (m: Readonly<DynamicModel>) => m.ids.length > 0;
  async run(m: DynamicModel, w: World): Promise<void> {
    const id = nth(m.ids, this.k);
    const { exit } = await kill(w, id, 'normal', false);
    expect(exit).toMatchObject({ reason: 'normal', action: 'remove' });
    m.ids = m.ids.filter((x) => x !== id);
    dynamicAgree(m, w);
  }
  toString = () => `exitNormally(#${this.k})`;
}

/** Each run starts with two dynamic children, so that commands on existing children apply from the first one. */
async function startTwo(w: World): Promise<DynamicModel> {
  expect(w.tree.whichChildren(w.path)).toEqual([]);
  await w.tree.startChild(w.path, ['first']);
  await w.tree.startChild(w.path);
  return { ids: [`${TEMPLATE.id}-1`, `${TEMPLATE.id}-2`], starts: 2 };
}

const extraArgs = fc.array(fc.stringMatching(/^[a-z0-9][a-z0-9=.-]{0,7}$/), { maxLength: 3 });
const pick = fc.nat({ max: 15 });

const dynamicCommands = fc.commands<DynamicModel, World, false>(
  [
    extraArgs.map((args) => new DynamicStart(args)),
    extraArgs.map((args) => new DynamicStart(args)),
    pick.map((k) => new DynamicTerminate(k)),
    fc
      .record({ call: fc.constantFrom('restartChild' as const, 'deleteChild' as const), k: fc.option(pick) })
      .map(({ call, k }) => new DynamicRefused(call, k)),
    fc.constant(new DynamicRefused('terminateChild', null)),
    fc.tuple(pick, fc.boolean()).map(([k, handedOut]) => new DynamicTerminateGone(k, handedOut)),
    pick.map((k) => new DynamicCrash(k)),
    pick.map((k) => new DynamicExitNormally(k)),
  ],
  { maxCommands: RUNS.maxCommands },
);

// ---------------------------------------------------------------------------------------------------------------
// (b) a static one_for_one supervisor.
//
// The model, as OTP: children in start order, each running or stopped (OTP's pid =/= undefined), with its restart
// type. start_child: a new id (never used, or one whose spec went away) is started and appended; an existing id is
// {already_started, Pid} if it runs, already_present if not. terminate_child: the child stops and its spec is
// kept, except a temporary child's, which goes; a stopped child stays stopped; an unknown id is not_found.
// restart_child: a stopped child starts again; a running one is `running`. delete_child: a stopped child's spec
// goes; a running one is `running`. A child that dies: permanent always restarted; transient restarted unless the
// exit is normal (then kept, stopped); temporary never restarted, removed.

interface StaticChild {
  id: string;
  restart: RestartType;
  running: boolean;
}

interface StaticModel {
  children: StaticChild[];
  /** Ids handed out to new children so far: the next fresh id is `w${fresh + 1}`. */
  fresh: number;
  /** Ids whose spec is gone (deleted, or a temporary child that ended): free to be started again. */
  gone: string[];
}

type StaticCommand = fc.AsyncCommand<StaticModel, World>;

/** The spec's own children, one of each restart type. */
const INITIAL: StaticChild[] = [
  { id: 'a', restart: 'permanent', running: true },
  { id: 'b', restart: 'transient', running: true },
  { id: 'c', restart: 'temporary', running: true },
];

/** The supervisor starts its spec's children, in order. */
const asSpecified = async (): Promise<StaticModel> => ({
  children: INITIAL.map((c) => ({ ...c })),
  fresh: 0,
  gone: [],
});

function staticAgree(m: StaticModel, w: World): void {
  const children = w.tree.whichChildren(w.path);
  expect(children.map((c) => ({ id: c.id, restart: c.restart, status: c.status }))).toEqual(
    m.children.map((c) => ({ id: c.id, restart: c.restart, status: c.running ? 'running' : 'stopped' })),
  );
  const specs = m.children.length;
  const active = m.children.filter((c) => c.running).length;
  expect(w.tree.countChildren(w.path)).toEqual({ specs, active, supervisors: 0, workers: specs, listeners: 0 });
  incarnationsAgree(w, children);
}

/** Which child a call is about: the k-th running or the k-th stopped one (any child, if none is), or an unknown id. */
type Existing = { among: 'running' | 'stopped'; k: number };
type Target = Existing | 'missing';
function targetId(m: Readonly<StaticModel>, target: Target): string {
  if (target === 'missing' || m.children.length === 0) return 'nope';
  const among = m.children.filter((c) => c.running === (target.among === 'running'));
  return nth(among.length > 0 ? among : m.children, target.k).id;
}
const showTarget = (target: Target) => (target === 'missing' ? "'nope'" : `${target.among} #${target.k}`);
const childOf = (m: StaticModel, id: string) => m.children.find((c) => c.id === id);
const remove = (m: StaticModel, id: string) => {
  m.children = m.children.filter((c) => c.id !== id);
  m.gone.push(id);
};

/** startChild with an id no child has: a fresh one, or (reuse = k) the k-th id whose spec is gone. */
class StaticStartNew implements StaticCommand {
  constructor(
    readonly restart: RestartType,
    readonly reuse: number | null,
  ) {}
  check = () => true;
  async run(m: StaticModel, w: World): Promise<void> {
    const reused = this.reuse === null || m.gone.length === 0 ? undefined : nth(m.gone, this.reuse);
    const id = reused ?? `w${m.fresh + 1}`;
    const info = await w.tree.startChild(w.path, w.kind.child(id, { restart: this.restart }));
    expect(info).toMatchObject({ id, type: w.kind.type, status: 'running', restart: this.restart });
    if (reused === undefined) m.fresh += 1;
    else m.gone = m.gone.filter((x) => x !== id);
    m.children.push({ id, restart: this.restart, running: true });
    staticAgree(m, w);
  }
  toString = () => `startChild(${this.reuse === null ? 'fresh' : `gone #${this.reuse}`} ${this.restart})`;
}

class StaticStartExisting implements StaticCommand {
  constructor(readonly target: Existing) {}
  check = (m: Readonly<StaticModel>) => m.children.length > 0;
  async run(m: StaticModel, w: World): Promise<void> {
    const child = childOf(m, targetId(m, this.target))!;
    const code = await refusal(() => w.tree.startChild(w.path, w.kind.child(child.id, { restart: child.restart })));
    expect(code).toBe(child.running ? 'already_started' : 'already_present');
    staticAgree(m, w);
  }
  toString = () => `startChild(existing ${showTarget(this.target)})`;
}

class StaticTerminate implements StaticCommand {
  constructor(readonly target: Target) {}
  check = () => true;
  async run(m: StaticModel, w: World): Promise<void> {
    const id = targetId(m, this.target);
    const child = childOf(m, id);
    if (!child) {
      expect(await refusal(() => w.tree.terminateChild(w.path, id))).toBe('not_found');
    } else {
      await w.tree.terminateChild(w.path, id);
      if (child.restart === 'temporary') remove(m, id);
      else child.running = false;
    }
    staticAgree(m, w);
  }
  toString = () => `terminateChild(${showTarget(this.target)})`;
}

class StaticRestart implements StaticCommand {
  constructor(readonly target: Target) {}
  check = () => true;
  async run(m: StaticModel, w: World): Promise<void> {
    const id = targetId(m, this.target);
    const child = childOf(m, id);
    if (!child || child.running) {
      expect(await refusal(() => w.tree.restartChild(w.path, id))).toBe(child ? 'running' : 'not_found');
    } else {
      const info = await w.tree.restartChild(w.path, id);
      expect(info).toMatchObject({ id, status: 'running' });
      child.running = true;
    }
    staticAgree(m, w);
  }
  toString = () => `restartChild(${showTarget(this.target)})`;
}

class StaticDelete implements StaticCommand {
  constructor(readonly target: Target) {}
  check = () => true;
  async run(m: StaticModel, w: World): Promise<void> {
    const id = targetId(m, this.target);
    const child = childOf(m, id);
    if (!child || child.running) {
      expect(await refusal(() => w.tree.deleteChild(w.path, id))).toBe(child ? 'running' : 'not_found');
    } else {
      await w.tree.deleteChild(w.path, id);
      remove(m, id);
    }
    staticAgree(m, w);
  }
  toString = () => `deleteChild(${showTarget(this.target)})`;
}

/** A running child dies: killed (abnormal; see KindDriver.kill) or exiting normally. */
class StaticDies implements StaticCommand {
  constructor(
    readonly k: number,
    readonly how: 'crash' | 'exitNormally',
  ) {}
  check = (m: Readonly<StaticModel>) => m.children.some((c) => c.running);
  async run(m: StaticModel, w: World): Promise<void> {
    const child = nth(
      m.children.filter((c) => c.running),
      this.k,
    );
    const normal = this.how === 'exitNormally';
    const restarted = child.restart === 'permanent' || (child.restart === 'transient' && !normal);
    const { exit, token } = await kill(w, child.id, normal ? 'normal' : 'crash', restarted);
    const action = restarted ? 'restart' : child.restart === 'temporary' ? 'remove' : 'keep_stopped';
    expect(exit).toMatchObject({ reason: normal ? 'normal' : w.kind.killReason, action });
    if (restarted) expect(await identity(w, `${w.path}/${child.id}`)).not.toBe(token);
    else if (child.restart === 'temporary') remove(m, child.id);
    else child.running = false;
    staticAgree(m, w);
  }
  toString = () => `${this.how}(running #${this.k})`;
}

const restartType = fc.constantFrom<RestartType>('permanent', 'transient', 'temporary');
const existing: fc.Arbitrary<Existing> = fc.record({
  among: fc.constantFrom('running' as const, 'stopped' as const),
  k: pick,
});
const target: fc.Arbitrary<Target> = fc.oneof(
  { weight: 4, arbitrary: existing },
  { weight: 1, arbitrary: fc.constant('missing' as const) },
);

const staticCommands = fc.commands<StaticModel, World, false>(
  [
    restartType.map((r) => new StaticStartNew(r, null)),
    fc.tuple(restartType, fc.option(pick)).map(([r, reuse]) => new StaticStartNew(r, reuse)),
    existing.map((t) => new StaticStartExisting(t)),
    target.map((t) => new StaticTerminate(t)),
    target.map((t) => new StaticTerminate(t)),
    target.map((t) => new StaticRestart(t)),
    target.map((t) => new StaticDelete(t)),
    pick.map((k) => new StaticDies(k, 'crash')),
    pick.map((k) => new StaticDies(k, 'exitNormally')),
  ],
  { maxCommands: RUNS.maxCommands },
);

describe.each(KINDS)('run-time child management against an OTP model, on real %s children', (kind) => {
  const d = DRIVERS[kind];

  it(
    'simple_one_for_one: startChild, terminateChild, refused restart/delete, crashes and normal exits',
    async () => {
      const spec = supervisor({
        id: 'jobs',
        strategy: 'simple_one_for_one',
        intensity: 100,
        period: 5000,
        template: d.child(TEMPLATE.id, { restart: TEMPLATE.restart, args: [...TEMPLATE.args] }),
      });
      await fc.assert(
        fc.asyncProperty(dynamicCommands, (cmds) =>
          runAgainstModel<DynamicModel>(d, spec, startTwo, dynamicAgree, cmds),
        ),
        assertOptions(d),
      );
    },
    PROPERTY_TIMEOUT,
  );

  it(
    'one_for_one: startChild, terminateChild, restartChild, deleteChild, crashes and normal exits',
    async () => {
      const spec = supervisor({
        id: 'pool',
        strategy: 'one_for_one',
        intensity: 100,
        period: 5000,
        children: INITIAL.map((c) => d.child(c.id, { restart: c.restart })),
      });
      await fc.assert(
        fc.asyncProperty(staticCommands, (cmds) =>
          runAgainstModel<StaticModel>(d, spec, asSpecified, staticAgree, cmds),
        ),
        assertOptions(d),
      );
    },
    PROPERTY_TIMEOUT,
  );
});
