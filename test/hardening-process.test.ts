// No process of a tree outlives it: not when `arbor run` is SIGKILLed at any moment of a worker's start (a module
// that imports arbor-otp/worker late, a preload with a top-level await, a standby process that just took over),
// not after a second Ctrl-C during start, not a worker's own children when the worker dies, restarts or is stopped.
// And under memory pressure the kernel's OOM killer prefers workers to their supervisor.
// Needs the build: `arbor run` runs from dist/, and every fork preloads dist/runtime/guard.cjs.
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { start, supervisor, worker, type Tree } from '../src/index.js';
import { repo, spawnArborRun, type ArborRun } from './support/arbor-run.js';
import { commandOf, describeMembers, familyPids, isRunning, procStat, treeMembers } from './support/process-tree.js';
import { eventually, fixture, recorder } from './support/tree.js';

const ARBOR = pathToFileURL(join(repo, 'dist/index.js')).href;
/** The guarantee: every process of the tree is gone this long after the supervisor died. */
const GONE_WITHIN_MS = 1000;

const dirs: string[] = [];
const runs: ArborRun[] = [];
const trees: Tree[] = [];
const known = new Set<number>();

afterEach(async () => {
  for (const tree of trees.splice(0)) await tree.stop({ brutal: true }).catch(() => undefined);
  for (const run of runs.splice(0)) {
    const pid = run.proc.pid!;
    for (const member of treeMembers(pid, known)) known.add(member.pid);
    if (run.proc.exitCode === null && run.proc.signalCode === null) process.kill(pid, 'SIGKILL');
  }
  // The last line of defence: whatever a failed test left behind, scoped to pids this file started.
  for (const pid of known) if (isRunning(pid)) process.kill(pid, 'SIGKILL');
  known.clear();
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'arbor-hardening-'));
  dirs.push(dir);
  return dir;
}

type Scenario = 'lazy import' | 'preload with top-level await' | 'standby takeover';

/** A one-worker tree whose worker is slow to start in the way `scenario` says, and has a child of its own. */
function writeSpec(dir: string, scenario: Scenario, extraEnv: Record<string, string> = {}): string {
  const pidsFile = join(dir, 'pids.jsonl');
  const env: Record<string, string> = { FIXTURE_PIDS_FILE: pidsFile, FIXTURE_LAZY_MS: '3000', ...extraEnv };
  const options: Record<string, unknown> = { id: 'w', module: fixture('family.mjs'), env, startTimeout: 30_000 };
  if (scenario === 'preload with top-level await') {
    options.execArgv = ['--import', pathToFileURL(fixture('slow-preload.mjs')).href];
    env.FIXTURE_LAZY_MS = '0';
    env.FIXTURE_PRELOAD_MS = '3000';
  }
  if (scenario === 'standby takeover') {
    options.standby = true;
    env.FIXTURE_LAZY_AFTER_FIRST = '1';
  }
  const file = join(dir, 'spec.mjs');
  writeFileSync(
    file,
    `import { supervisor, worker } from '${ARBOR}';
export default supervisor({ id: 'root', intensity: 10, children: [worker(${JSON.stringify(options)})] });
`,
  );
  return file;
}

const exitOf = (run: ArborRun) =>
  new Promise<void>((resolve) => {
    if (run.proc.exitCode !== null || run.proc.signalCode !== null) return resolve();
    run.proc.once('exit', () => resolve());
  });

/**
 * When the supervisor is killed: `delayMs` into the worker's (re)start, or (`'child'`) once the worker's module has
 * run and its own child exists, which on a loaded machine may be any time.
 */
type Moment = number | 'child';

/**
 * Starts `arbor run`, brings the worker to `moment` of its (re)start, SIGKILLs the supervisor, and resolves with
 * how long the last process of the tree took to go, and how many there were.
 */
async function killSupervisorDuringStart(
  scenario: Scenario,
  moment: Moment,
): Promise<{ goneMs: number; members: number }> {
  const dir = tempDir();
  const run = spawnArborRun(writeSpec(dir, scenario), dir);
  runs.push(run);
  const supervisorPid = run.proc.pid!;
  await run.line((l) => l.event === 'control_listening', 'control_listening');
  let parked: number | undefined;
  if (scenario === 'standby takeover') {
    const first = await run.line((l) => l.event === 'child_started', 'the first start', 30_000);
    await eventually(() => {
      parked = treeMembers(supervisorPid).find((m) => commandOf(m.pid).includes('standby-entry'))?.pid;
      return parked !== undefined;
    }, 'a process is parked');
    // Once the parked node has booted, the restart below is a takeover (checked after).
    await run.line((l) => l.event === 'standby_parked' && l.pid === parked, 'the spare parked');
    process.kill(first.pid!, 'SIGKILL');
    await run.line((l) => l.event === 'child_exited', 'the exit of the first worker');
    await run.line((l) => l.event === 'child_restarting', 'the restart of the first worker');
  }
  const pidsFile = join(dir, 'pids.jsonl');
  if (moment === 'child') {
    const starts = scenario === 'standby takeover' ? 2 : 1;
    await eventually(() => familyPids(pidsFile).length >= starts, "the worker's own child", 30_000);
  } else {
    await new Promise((resolve) => setTimeout(resolve, moment));
  }
  const before = treeMembers(supervisorPid);
  for (const member of before) known.add(member.pid);
  // Read now, while they run: which processes were running the worker's module when the supervisor died, and
  // which of them were forked as spares (a new spare may be parked by then, once the takeover is ready).
  const workers = before.filter((m) => commandOf(m.pid).includes('family.mjs')).map((m) => m.pid);
  const forkedCold = workers.filter((pid) => !commandOf(pid).includes('standby-entry'));
  process.kill(supervisorPid, 'SIGKILL');
  await exitOf(run);
  const killedAt = Date.now();
  const family = familyPids(pidsFile);
  for (const { pid, grandchild } of family) known.add(pid).add(grandchild);
  let left = treeMembers(supervisorPid, known);
  while (left.length > 0 && Date.now() - killedAt < 5000) {
    await new Promise((resolve) => setTimeout(resolve, 10));
    left = treeMembers(supervisorPid, known);
  }
  const goneMs = Date.now() - killedAt;
  expect(left, `${scenario}, supervisor killed at ${moment}; still running:\n${describeMembers(left)}`).toEqual([]);
  if (scenario === 'standby takeover') {
    // The restarted worker is the process that was parked before the first worker died, whether or not its
    // module had run yet (the restart began before the moment was counted): no other process ran the module.
    expect(workers).toContain(parked);
    expect(forkedCold).toEqual([]);
    if (family[1] !== undefined) expect(family[1].pid).toBe(parked);
  }
  return { goneMs, members: before.length };
}

describe('no orphan when the supervisor is SIGKILLed while a worker starts', () => {
  it(`lazy import, preload with top-level await, standby takeover: every descendant gone within ${GONE_WITHIN_MS} ms, at several moments`, async () => {
    const scenarios: Scenario[] = ['lazy import', 'preload with top-level await', 'standby takeover'];
    // 0: the fork is under way; 60: node is booting, before any module; 400: inside the slow start (on a quiet
    // machine); 'child': once the worker's module has run and its own child exists.
    const moments: Moment[] = [0, 60, 400, 'child'];
    const results: string[] = [];
    for (const moment of moments) {
      const outcomes = await Promise.all(scenarios.map((scenario) => killSupervisorDuringStart(scenario, moment)));
      outcomes.forEach(({ goneMs, members }, i) => {
        results.push(
          `${scenarios[i]} @${moment === 'child' ? 'its child started' : `${moment} ms`}: ${members} processes, gone in ${goneMs} ms`,
        );
        expect(goneMs, results.at(-1)).toBeLessThanOrEqual(GONE_WITHIN_MS);
        // The kill landed while the worker and its child were alive (the watcher, the worker, its sleep).
        if (moment === 'child') expect(members, results.at(-1)).toBeGreaterThanOrEqual(3);
      });
    }
    console.info(`orphan check, time from the supervisor's death to its last process gone:\n${results.join('\n')}`);
  }, 120_000);

  /** `arbor run` of one worker that spins in a busy loop (its guard cannot run) with a child of its own. */
  async function startSpinningWorker() {
    const dir = tempDir();
    const pidsFile = join(dir, 'pids.jsonl');
    const spec = join(dir, 'spec.mjs');
    const options = {
      id: 'w',
      module: fixture('family.mjs'),
      env: { FIXTURE_PIDS_FILE: pidsFile, FIXTURE_SPIN: '1' },
      startTimeout: 30_000,
    };
    writeFileSync(
      spec,
      `import { supervisor, worker } from '${ARBOR}';
export default supervisor({ id: 'root', children: [worker(${JSON.stringify(options)})] });
`,
    );
    const run = spawnArborRun(spec, dir);
    runs.push(run);
    const supervisorPid = run.proc.pid!;
    await eventually(() => familyPids(pidsFile).length > 0, 'the worker spins, its child started');
    const [{ pid, grandchild }] = familyPids(pidsFile) as [{ pid: number; grandchild: number }];
    known.add(pid).add(grandchild);
    await eventually(() => procStat(pid)?.state === 'R', 'the worker is running its loop');
    return { run, supervisorPid };
  }

  it('a worker stuck in a busy loop (its guard cannot run): the watcher ends its group', async () => {
    const { run, supervisorPid } = await startSpinningWorker();
    process.kill(supervisorPid, 'SIGKILL');
    await exitOf(run);
    await eventually(
      () => treeMembers(supervisorPid, known).length === 0,
      'the spinning worker and its child are gone',
      GONE_WITHIN_MS,
    );
  });

  it('the watcher SIGKILLed: a new one takes over the live groups, so a SIGKILL of the supervisor still ends a busy-looping worker', async () => {
    const { run, supervisorPid } = await startSpinningWorker();
    const watchers = () =>
      treeMembers(supervisorPid).filter((m) => m.ppid === supervisorPid && commandOf(m.pid).startsWith('awk'));
    const [watcher] = watchers();
    expect(watcher).toBeDefined();
    process.kill(watcher!.pid, 'SIGKILL');
    const restarted = await run.line((l) => l.event === 'group_watcher_restarted', 'a new watcher');
    expect(restarted.pid).not.toBe(watcher!.pid);
    expect(restarted.groups).toBe(1);
    await eventually(
      () => watchers().some((w) => w.pid === restarted.pid && procStat(w.pid)?.state !== 'Z'),
      'the new watcher runs',
    );
    process.kill(supervisorPid, 'SIGKILL');
    await exitOf(run);
    await eventually(
      () => treeMembers(supervisorPid, known).length === 0,
      'the spinning worker and its child are gone',
      GONE_WITHIN_MS,
    );
  });

  it('a second SIGINT while the first stops the start: arbor exits 130 and leaves nothing running', async () => {
    const dir = tempDir();
    // The worker ignores SIGTERM: the stop that the first signal begins waits out its shutdown value (5 s).
    const run = spawnArborRun(writeSpec(dir, 'lazy import', { FIXTURE_IGNORE_SIGTERM: '1' }), dir);
    runs.push(run);
    const supervisorPid = run.proc.pid!;
    await eventually(() => familyPids(join(dir, 'pids.jsonl')).length > 0, 'the worker is forked and has a child');
    for (const member of treeMembers(supervisorPid)) known.add(member.pid);
    process.kill(supervisorPid, 'SIGINT');
    await run.line((l) => l.event === 'stop_requested', 'the first signal is seen');
    process.kill(supervisorPid, 'SIGINT');
    const exited = await new Promise<number | null>((resolve) => run.proc.once('exit', (code) => resolve(code)));
    expect(exited).toBe(130);
    for (const { pid, grandchild } of familyPids(join(dir, 'pids.jsonl'))) known.add(pid).add(grandchild);
    await eventually(
      () => treeMembers(supervisorPid, known).length === 0,
      'every process of the tree is gone',
      GONE_WITHIN_MS + 500,
    );
  });
});

describe('a worker leads its process group, and the group goes with the worker', () => {
  async function familyTree(dir: string, env: Record<string, string> = {}) {
    const rec = recorder();
    const pidsFile = join(dir, 'pids.jsonl');
    const tree = await start(
      supervisor({
        id: 'root',
        intensity: 10,
        children: [worker({ id: 'w', module: fixture('family.mjs'), env: { FIXTURE_PIDS_FILE: pidsFile, ...env } })],
      }),
      { logger: rec.logger },
    );
    trees.push(tree);
    const current = () => {
      const all = familyPids(pidsFile);
      for (const { pid, grandchild } of all) known.add(pid).add(grandchild);
      return all.at(-1)!;
    };
    return { tree, rec, current };
  }

  it('each worker leads its own group, which its children join', async () => {
    const { current } = await familyTree(tempDir());
    const { pid, grandchild } = current();
    expect(procStat(pid)?.pgrp).toBe(pid);
    expect(procStat(grandchild)?.pgrp).toBe(pid);
  });

  it('SIGKILL of the worker: its child is gone too, and the restarted worker has a new one', async () => {
    const { rec, current } = await familyTree(tempDir());
    const first = current();
    expect(isRunning(first.grandchild)).toBe(true);
    process.kill(first.pid, 'SIGKILL');
    await rec.waitFor((e) => e.event === 'child_started' && e.pid !== first.pid, 'the restart');
    await eventually(
      () => !isRunning(first.grandchild),
      `the first worker's sleep (${first.grandchild}) is gone`,
      5000,
    );
    expect(isRunning(current().grandchild)).toBe(true);
  });

  it("the worker's own node children live on (the guard is the worker's alone), and go with it", async () => {
    const dir = tempDir();
    const aliveFile = join(dir, 'alive.txt');
    const { current, rec } = await familyTree(dir, { FIXTURE_NODE_CHILD: aliveFile });
    const { pid, grandchild } = current();
    await eventually(
      () => existsSync(aliveFile) && readFileSync(aliveFile, 'utf8').trim() === String(grandchild),
      'the node child has run 500 ms',
    );
    expect(isRunning(grandchild)).toBe(true);
    process.kill(pid, 'SIGKILL');
    await rec.waitFor((e) => e.event === 'child_started' && e.pid !== pid, 'the restart');
    await eventually(() => !isRunning(grandchild), 'the node child is gone with its worker', 5000);
  });

  it('terminateChild and tree.stop(): the stopped worker takes its child with it', async () => {
    const { tree, current } = await familyTree(tempDir());
    const first = current();
    await tree.terminateChild('root', 'w');
    await eventually(() => !isRunning(first.grandchild), `the first worker's sleep is gone after terminateChild`, 5000);
    await tree.restartChild('root', 'w');
    const second = current();
    expect(second.pid).not.toBe(first.pid);
    await tree.stop();
    await eventually(() => !isRunning(second.grandchild), `the sleep is gone after stop()`, 5000);
    expect(isRunning(second.pid)).toBe(false);
  });
});

describe('memory pressure: workers are the OOM killer first choice', () => {
  it("a worker's oom_score_adj is its supervisor's + 500 (capped at 1000), a parked standby process's too", async () => {
    const dir = tempDir();
    const tree = await start(
      supervisor({
        id: 'root',
        children: [
          worker({
            id: 'w',
            module: fixture('family.mjs'),
            env: { FIXTURE_PIDS_FILE: join(dir, 'pids.jsonl') },
            standby: true,
          }),
        ],
      }),
      { logger: false },
    );
    trees.push(tree);
    const readAdj = (pid: number | 'self') => Number(readFileSync(`/proc/${pid}/oom_score_adj`, 'utf8'));
    const expected = Math.min(1000, readAdj('self') + 500);
    const pid = tree.whichChildren('root')[0]!.pid!;
    known.add(pid);
    expect(readAdj(pid)).toBe(expected);
    await eventually(() => tree.standby.parkedPids().length === 1, 'a process is parked');
    const [parked] = tree.standby.parkedPids() as [number];
    known.add(parked);
    expect(readAdj(parked)).toBe(expected);
  });
});
