// Test support for model-based runs on real workers: one tree per run (root → the supervisor under test), the
// calls and kills a command makes, and the checks that pids agree with the child list. Used by the dynamic and
// static child-management models (test/dynamic.model.test.ts, test/dynamic-subtrees.model.test.ts).
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { expect } from 'vitest';
import {
  CallError,
  start,
  supervisor,
  type CallErrorCode,
  type ChildInfo,
  type SupervisorSpec,
  type Tree,
  type TreeEvent,
} from '../../src/index.js';
import { fixture, isAlive, reap, recorder, type Recorder } from './tree.js';

export const CONTROLLED = fixture('controlled.mjs');
/** Long enough for a fork on a loaded 2-core machine; every wait is for an event, never a sleep. */
export const EVENT_TIMEOUT = 30_000;

export interface World {
  tree: Tree;
  rec: Recorder;
  /** The supervisor under test. */
  path: string;
}

const worlds = new Set<World>();

/** Starts `root` (intensity 0: any escalation from the supervisor under test would stop the whole tree). */
export async function open(underTest: SupervisorSpec): Promise<World> {
  const rec = recorder();
  const tree = await start(supervisor({ intensity: 0, children: [underTest] }), { logger: rec.logger });
  const world = { tree, rec, path: `root/${underTest.id}` };
  worlds.add(world);
  return world;
}

/** Stops the tree however the run ended, and kills any worker of it that is somehow still alive. */
export async function close(world: World): Promise<void> {
  worlds.delete(world);
  await world.tree.stop({ brutal: true }).catch(() => undefined);
  reap(startedPids(world).filter((pid) => commandLine(pid).includes(CONTROLLED)));
}

/** For afterEach: closes every world a failed run left open. */
export async function closeAll(): Promise<void> {
  for (const world of [...worlds]) await close(world);
}

/** Every pid a child of the supervisor under test ever had, in subtrees below it too. */
export const startedPids = (world: World): number[] =>
  world.rec
    .of('child_started')
    .filter((e) => e.supervisor === world.path || e.supervisor.startsWith(`${world.path}/`))
    .flatMap((e) => (e.pid === undefined ? [] : [e.pid]));

/** argv of a live process (Linux), [] once it is gone. */
export function commandLine(pid: number): string[] {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').slice(0, -1);
  } catch {
    return [];
  }
}

export const childIn = (world: World, id: string): ChildInfo => {
  const child = world.tree.whichChildren(world.path).find((c) => c.id === id);
  if (!child) throw new Error(`${world.path} has no child ${id}`);
  return child;
};

export const pidOf = (world: World, id: string): number => {
  const pid = childIn(world, id).pid;
  if (pid === undefined) throw new Error(`${world.path}/${id} has no pid`);
  return pid;
};

export const started = (world: World, id: string) => (e: TreeEvent) =>
  e.event === 'child_started' && e.supervisor === world.path && e.child === id;
export const exited = (world: World, id: string) => (e: TreeEvent) =>
  e.event === 'child_exited' && e.supervisor === world.path && e.child === id;

/** The CallError code of a refused call; fails if the call succeeds or fails otherwise. */
export async function refusal(call: () => Promise<unknown>): Promise<CallErrorCode> {
  try {
    await call();
  } catch (error) {
    if (error instanceof CallError) return error.code;
    throw error;
  }
  throw new Error('the call succeeded; the model expected a refusal');
}

/** Kills a running child's process and waits until the supervisor has dealt with it (exit, then restart if any). */
export async function kill(
  world: World,
  id: string,
  signal: 'SIGKILL' | 'SIGUSR2',
  restarts: boolean,
): Promise<{ exit: TreeEvent; pid: number }> {
  const pid = pidOf(world, id);
  const exit = world.rec.next(exited(world, id), `${id} exited`, EVENT_TIMEOUT);
  const back = restarts ? world.rec.next(started(world, id), `${id} restarted`, EVENT_TIMEOUT) : undefined;
  process.kill(pid, signal);
  const event = await exit;
  await back;
  return { exit: event, pid };
}

/**
 * Pids agree with the child list: each child that runs has a live pid of its own, and every pid the supervisor's
 * children ever had that is no longer listed is gone (terminated, crashed or exited: never left behind).
 */
export function pidsAgree(world: World, children: ChildInfo[]): void {
  const live = children.filter((c) => c.status === 'running').map((c) => c.pid);
  for (const child of children) {
    if (child.status === 'running') expect(isAlive(child.pid), `${child.id} (pid ${child.pid}) is alive`).toBe(true);
    else expect(child.pid, `${child.id} is ${child.status} and has no pid`).toBeUndefined();
  }
  expect(new Set(live).size, 'running children have distinct pids').toBe(live.length);
  const leftBehind = startedPids(world).filter((pid) => !live.includes(pid) && isAlive(pid));
  expect(leftBehind, 'pids of former incarnations still alive').toEqual([]);
}

/** A pick among existing things: the k-th, modulo how many there are. */
export const nth = <T>(items: readonly T[], k: number): T => items[k % items.length]!;

/** Few runs of few commands: each command forks, kills or stops real processes. */
export const RUNS = { numRuns: 10, maxCommands: 8 };
export const PROPERTY_TIMEOUT = 150_000;
/** Stops shrinking (and reports the failure found) before the test itself times out. */
export const assertOptions = {
  numRuns: RUNS.numRuns,
  plugins: [fc.interruptAfterTimeLimit(110_000, { failOnInterrupt: true })],
};

/**
 * One run: its own tree, brought to the model's initial state by `given`, then the commands, then a graceful stop
 * that must leave no worker behind.
 */
export async function runAgainstModel<M extends object>(
  spec: SupervisorSpec,
  given: (w: World) => Promise<M>,
  agree: (m: M, w: World) => void,
  cmds: Iterable<fc.AsyncCommand<M, World>>,
): Promise<void> {
  const world = await open(spec);
  try {
    const model = await given(world);
    agree(model, world);
    await fc.asyncModelRun(() => ({ model, real: world }), cmds);
    expect(await world.tree.stop()).toBe('normal');
    const survivors = startedPids(world).filter(isAlive);
    expect(survivors, 'workers alive after stop()').toEqual([]);
  } finally {
    await close(world);
  }
}
