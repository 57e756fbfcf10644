// Test support for model-based runs on real children of any kind (processes, threads, tasks: test/support/kinds.ts):
// one tree per run (root → the supervisor under test), the calls and kills a command makes, and the checks that the
// live incarnations agree with the child list. Used by the dynamic and static child-management models
// (test/dynamic.model.test.ts, test/dynamic-subtrees.model.test.ts).
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
import type { KindDriver } from './kinds.js';
import { eventually, isAlive, reap, recorder, type Recorder } from './tree.js';

/** Long enough for a fork on a loaded 2-core machine; every wait is for an event, never a sleep. */
export const EVENT_TIMEOUT = 30_000;

export interface World {
  tree: Tree;
  rec: Recorder;
  /** The supervisor under test. */
  path: string;
  /** The kind of every worker child in it. */
  kind: KindDriver;
}

const worlds = new Set<World>();

/** Starts `root` (intensity 0: any escalation from the supervisor under test would stop the whole tree). */
export async function open(underTest: SupervisorSpec, kind: KindDriver): Promise<World> {
  const rec = recorder();
  const tree = await start(supervisor({ intensity: 0, children: [underTest] }), { logger: rec.logger });
  const world = { tree, rec, path: `root/${underTest.id}`, kind };
  worlds.add(world);
  return world;
}

/**
 * Stops the tree however the run ended, kills any worker process of it that is somehow still alive, and waits until
 * no incarnation is left (a brutal stop terminates threads and aborts tasks; both end a moment later).
 */
export async function close(world: World): Promise<void> {
  worlds.delete(world);
  await world.tree.stop({ brutal: true }).catch(() => undefined);
  const { module } = world.kind;
  if (world.kind.hasPid && module) reap(startedPids(world).filter((pid) => commandLine(pid).includes(module)));
  await eventually(() => world.kind.alive(startedPids(world)) === 0, `no ${world.kind.kind} child left`, EVENT_TIMEOUT);
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

/** The token of the incarnation running at `path` (every kind answers `whoami`). */
export const identity = (world: World, path: string): Promise<string> =>
  world.tree.call(path, 'whoami', { timeout: EVENT_TIMEOUT }) as Promise<string>;

/** The args the child at `path` runs with (argv after the module for a process or thread, `context.args` for a task). */
export const argsOf = (world: World, path: string): Promise<string[]> =>
  world.tree.call(path, 'args', { timeout: EVENT_TIMEOUT }) as Promise<string[]>;

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

/**
 * A running child of the supervisor under test ends — `crash`: killed from outside (the kind's harshest end, see
 * KindDriver.kill), `normal`: told to exit normally — and the supervisor deals with it (exit, then restart if any).
 * Returns the exit event and the token of the incarnation that ended.
 */
export async function kill(
  world: World,
  id: string,
  how: 'crash' | 'normal',
  restarts: boolean,
  path = world.path,
): Promise<{ exit: TreeEvent; token: string }> {
  const token = await identity(world, `${path}/${id}`);
  const exit = world.rec.next(childEvent('child_exited', path, id), `${id} exited`, EVENT_TIMEOUT);
  const back = restarts
    ? world.rec.next(childEvent('child_started', path, id), `${id} restarted`, EVENT_TIMEOUT)
    : undefined;
  if (how === 'crash') world.kind.kill(world.tree, path, id);
  else world.tree.cast(`${path}/${id}`, 'normal');
  const event = await exit;
  await back;
  return { exit: event, token };
}

export const childEvent = (name: TreeEvent['event'], supervisor: string, child: string) => (e: TreeEvent) =>
  e.event === name && e.supervisor === supervisor && 'child' in e && e.child === child;

/**
 * Live incarnations agree with the child list (`children`: every worker child of the world): exactly as many of the
 * kind are alive as children run, so none is left behind (terminated, crashed or exited) and none is missing: the
 * supervisor reports an exit only once the child has ended. A process child also has a live pid of its own while it
 * runs, none otherwise, and no two share one.
 */
export function incarnationsAgree(world: World, children: ChildInfo[]): void {
  const running = children.filter((c) => c.status === 'running');
  for (const child of children) {
    if (child.status === 'running' && world.kind.hasPid)
      expect(isAlive(child.pid), `${child.id} (pid ${child.pid}) is alive`).toBe(true);
    else expect(child.pid, `${child.id} (${child.status}) has no pid of its own`).toBeUndefined();
  }
  if (world.kind.hasPid) expect(new Set(running.map((c) => c.pid)).size, 'distinct pids').toBe(running.length);
  expect(world.kind.alive(startedPids(world)), `${world.kind.kind} children alive`).toBe(running.length);
}

/** A pick among existing things: the k-th, modulo how many there are. */
export const nth = <T>(items: readonly T[], k: number): T => items[k % items.length]!;

/** Few commands per run: each command may start, kill or stop real children. Runs per kind: KindDriver.modelRuns. */
export const RUNS = { maxCommands: 8 };
export const PROPERTY_TIMEOUT = 150_000;
/** Stops shrinking (and reports the failure found) before the test itself times out. */
export const assertOptions = (kind: KindDriver) => ({
  numRuns: kind.modelRuns,
  plugins: [fc.interruptAfterTimeLimit(110_000, { failOnInterrupt: true })],
});

/**
 * One run: its own tree, brought to the model's initial state by `given`, then the commands, then a graceful stop
 * that must leave no worker behind.
 */
export async function runAgainstModel<M extends object>(
  kind: KindDriver,
  spec: SupervisorSpec,
  given: (w: World) => Promise<M>,
  agree: (m: M, w: World) => void | Promise<void>,
  cmds: Iterable<fc.AsyncCommand<M, World>>,
): Promise<void> {
  const world = await open(spec, kind);
  try {
    const model = await given(world);
    await agree(model, world);
    await fc.asyncModelRun(() => ({ model, real: world }), cmds);
    expect(await world.tree.stop()).toBe('normal');
    expect(kind.alive(startedPids(world)), `${kind.kind} children alive after stop()`).toBe(0);
  } finally {
    await close(world);
  }
}
