// Who guards a forked worker against outliving its supervisor. On Linux with perl (x86_64, arm64) and a group
// watcher, the launcher does: it asks the kernel to SIGKILL the worker when its supervisor dies, so not even a worker
// stuck in a busy loop with its watcher stopped lives on, and node starts with no guard preloaded (~2.5 ms less per
// start). Where there is no watcher (no awk), the guard is preloaded as before, and it ends the worker's whole group,
// grandchildren included. Needs the build: `arbor run` runs from dist/.
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { chooseGroupLaunch, groupLaunch } from '../src/worker/group-fork.js';
import { arborRunScope, repo, spawnArborRun, type ArborRun } from './support/arbor-run.js';
import { commandOf, familyPids, isRunning, procStat, treeMembers } from './support/process-tree.js';
import { eventually, fixture } from './support/tree.js';

const ARBOR = pathToFileURL(join(repo, 'dist/index.js')).href;
const GUARD = 'runtime/guard.cjs';
const launch = groupLaunch();
const launcherGuards = launch.kind === 'group' && launch.prctl !== undefined;
/** The guarantee of the hardening tests: every process of the tree is gone this long after the supervisor died. */
const GONE_WITHIN_MS = 1000;

const { runs, tempDir } = arborRunScope('arbor-launcher-guard-');
/** Processes a test started beyond what killArborRun finds (grandchildren, a stopped watcher): SIGKILLed after it. */
const strays = new Set<number>();
afterEach(() => {
  for (const pid of strays) {
    try {
      process.kill(pid, 'SIGCONT');
      if (isRunning(pid)) process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  strays.clear();
});

describe('which forks the launcher guards', () => {
  it('on Linux through perl, where prctl’s number is known for the CPU; never in a session of its own', () => {
    const perl = () => '/usr/bin/perl';
    expect(chooseGroupLaunch('linux', undefined, perl, 'x64')).toEqual({
      kind: 'group',
      perl: '/usr/bin/perl',
      prctl: 157,
    });
    expect(chooseGroupLaunch('linux', undefined, perl, 'arm64')).toEqual({
      kind: 'group',
      perl: '/usr/bin/perl',
      prctl: 167,
    });
    expect(chooseGroupLaunch('linux', undefined, perl, 'mips')).toEqual({
      kind: 'group',
      perl: '/usr/bin/perl',
      prctl: undefined,
    });
    expect(chooseGroupLaunch('linux', 'session', perl, 'x64')).toEqual({ kind: 'session' });
  });
});

/** `arbor run` of one family.mjs worker (a `sleep` child of its own), with `env` for the run and the worker. */
async function familyRun(
  runEnv: Record<string, string>,
  workerEnv: Record<string, string>,
): Promise<{ run: ArborRun; supervisorPid: number; worker: number; grandchild: number }> {
  const dir = tempDir();
  const pidsFile = join(dir, 'pids.jsonl');
  const options = { id: 'w', module: fixture('family.mjs'), env: { FIXTURE_PIDS_FILE: pidsFile, ...workerEnv } };
  const spec = join(dir, 'spec.mjs');
  writeFileSync(
    spec,
    `import { supervisor, worker } from '${ARBOR}';
export default supervisor({ id: 'root', children: [worker(${JSON.stringify({ ...options, startTimeout: 30_000 })})] });
`,
  );
  const run = spawnArborRun(spec, dir, runEnv);
  runs.push(run);
  await eventually(() => familyPids(pidsFile).length > 0, 'the worker has started its child', 30_000);
  const [{ pid: worker, grandchild }] = familyPids(pidsFile) as [{ pid: number; grandchild: number }];
  strays.add(worker).add(grandchild);
  return { run, supervisorPid: run.proc.pid!, worker, grandchild };
}

const exited = (run: ArborRun) => run.exited.then(() => Date.now());

describe.skipIf(!launcherGuards)('Linux with perl and a group watcher: the launcher guards', () => {
  it('the worker runs without the preloaded guard, and the kernel ends it with its supervisor even when it spins and the watcher is stopped', async () => {
    const { run, supervisorPid, worker, grandchild } = await familyRun({}, { FIXTURE_SPIN: '1' });
    expect(commandOf(worker)).not.toContain(GUARD);
    await eventually(() => procStat(worker)?.state === 'R', 'the worker is running its loop');
    const watcher = treeMembers(supervisorPid).find(
      (m) => m.ppid === supervisorPid && commandOf(m.pid).startsWith('awk'),
    );
    expect(watcher).toBeDefined();
    strays.add(watcher!.pid);
    // With the watcher stopped, nothing of user space can end a worker in a busy loop: only the kernel.
    process.kill(watcher!.pid, 'SIGSTOP');
    await eventually(() => procStat(watcher!.pid)?.state === 'T', 'the watcher is stopped');
    process.kill(supervisorPid, 'SIGKILL');
    const diedAt = await exited(run);
    await eventually(() => !isRunning(worker), 'the spinning worker is gone', GONE_WITHIN_MS);
    const goneMs = Date.now() - diedAt;
    // Its child is the watcher's to end, once it runs again.
    expect(isRunning(grandchild)).toBe(true);
    process.kill(watcher!.pid, 'SIGCONT');
    await eventually(() => !isRunning(grandchild), "the worker's child is gone once the watcher runs", 5000);
    console.info(`spinning worker, watcher stopped: gone ${goneMs} ms after its supervisor`);
  });
});

describe.skipIf(launch.kind !== 'group')('no awk on PATH: no watcher, so the guard is preloaded', () => {
  it('the run says so at once, and when it is SIGKILLed the guard ends the worker’s whole group', async () => {
    // A PATH with what the worker's module runs (sleep) and no awk.
    const bin = join(tempDir(), 'bin');
    mkdirSync(bin);
    symlinkSync('/bin/sleep', join(bin, 'sleep'));
    // The worker waits before importing the runtime: only the guard can end it and its child meanwhile.
    const { run, supervisorPid, worker, grandchild } = await familyRun({ PATH: bin }, { FIXTURE_LAZY_MS: '30000' });
    const unavailable = await run.line((l) => l.event === 'group_watcher_unavailable', 'no watcher');
    expect(String(unavailable.error)).toContain('awk');
    expect(commandOf(worker)).toContain(GUARD);
    expect(treeMembers(supervisorPid).some((m) => commandOf(m.pid).startsWith('awk'))).toBe(false);
    process.kill(supervisorPid, 'SIGKILL');
    await exited(run);
    await eventually(
      () => !isRunning(worker) && !isRunning(grandchild),
      'the worker and its child are gone',
      GONE_WITHIN_MS,
    );
  });
});
