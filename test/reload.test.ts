// Rolling reload: every worker is replaced by a new process loading the code now on disk, each started beside the
// old one; only once it is ready and serving is the old one drained. A bad deploy leaves the old workers serving.
import { execFileSync } from 'node:child_process';
import http from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { listener, ReloadError, start, supervisor, worker, type ListenerMode, type Tree } from '../src/index.js';
import { clientLoop, failures, get, pidOf, versionOf } from './support/http.js';
import { eventually, fixture, isAlive, reap, recorder, type Recorder } from './support/tree.js';
import { processGroups } from '../src/worker/groups.js';

const running: Array<{ tree: Tree; rec: Recorder; dir: string }> = [];
afterEach(async () => {
  for (const { tree, rec, dir } of running.splice(0)) {
    await tree.stop({ brutal: true }).catch(() => undefined);
    reap(rec.of('child_started').map((e) => e.pid));
    reap(rec.of('child_replaced').map((e) => e.newPid));
    rmSync(dir, { recursive: true, force: true });
  }
});

/** The worker module "on disk": each deploy rewrites it. */
function deploy(dir: string, code: { version: string; startDelay?: number } | 'throws' | 'throws-after-serve'): string {
  const file = join(dir, 'server.mjs');
  const fixtureUrl = pathToFileURL(fixture('drain-http.mjs')).href;
  writeFileSync(
    file,
    code === 'throws'
      ? "throw new Error('bad deploy: this code throws at import');\n"
      : code === 'throws-after-serve'
        ? `await import(${JSON.stringify(pathToFileURL(fixture('throws-after-serve.mjs')).href)});\n`
        : [
            code.startDelay ? `await new Promise((r) => setTimeout(r, ${code.startDelay}));` : '',
            `globalThis.FIXTURE_VERSION = ${JSON.stringify(code.version)};`,
            `await import(${JSON.stringify(fixtureUrl)});`,
          ].join('\n'),
  );
  return file;
}

async function run(mode: ListenerMode, options: { pool?: Partial<Parameters<typeof supervisor>[0]> } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'arbor-reload-'));
  const module = deploy(dir, { version: 'v1' });
  const rec = recorder();
  const tree = await start(
    supervisor({
      strategy: 'rest_for_one',
      children: [
        listener({ id: 'http', port: 0, mode }),
        supervisor({
          id: 'pool',
          intensity: 1,
          period: 60_000,
          children: ['w1', 'w2'].map((id) => worker({ id, module, listen: 'http', shutdown: 20_000 })),
          ...options.pool,
        }),
      ],
    }),
    { logger: rec.logger },
  );
  running.push({ tree, rec, dir });
  const port = Number(tree.whichChildren()[0]!.listener!.address!.split(':').pop());
  const pids = () => tree.whichChildren('root/pool').map((c) => c.pid!);
  return { tree, rec, port, dir, pids };
}

/** Processes forked by this test process (the tree's workers), from ps: scoped to our own children, ps aside. */
/** This process's children, but for `ps` itself and the process-group watcher, which lives as long as we do. */
function ourChildren(): number[] {
  const out = execFileSync('ps', ['-o', 'pid=,comm=', '--ppid', String(process.pid)], { encoding: 'utf8' });
  return out
    .split('\n')
    .map((l) => l.trim().split(/\s+/))
    .filter(([, comm]) => comm !== undefined && comm !== 'ps')
    .map(([pid]) => Number(pid))
    .filter((pid) => pid !== processGroups.watcherPid);
}

describe.each<ListenerMode>(['shared', 'round_robin'])('reload, %s listener', (mode) => {
  it('under keep-alive and new-connection clients: both workers run the new code, 0 failed, a 2 s request completes', async () => {
    const { tree, rec, port, dir, pids } = await run(mode);
    const before = pids();
    const loop = clientLoop(port, 8, '/slow?ms=50');
    const entered = rec.next((e) => e.event === 'worker_message', 'the slow request in its handler');
    const slow = get(port, '/slow?ms=2000&tell');
    await entered;
    deploy(dir, { version: 'v2' });
    const result = await tree.reload();

    const answers = await loop.stop();
    expect(failures(answers)).toEqual([]);
    expect(answers.length).toBeGreaterThan(20);
    expect(await slow).toMatchObject({ status: 200 });
    expect(before).toContain(pidOf(await slow));

    const after = pids();
    expect(result.replaced.map((r) => [r.child, r.oldPid, r.newPid])).toEqual([
      ['w1', before[0], after[0]],
      ['w2', before[1], after[1]],
    ]);
    for (const pid of before) expect(isAlive(pid)).toBe(false);
    const fresh = await Promise.all(Array.from({ length: 6 }, () => get(port)));
    expect(new Set(fresh.map(versionOf))).toEqual(new Set(['v2']));
    // An operator's action, not a crash: no restart counted, the listener and supervisors untouched.
    expect(tree.whichChildren('root/pool').map((c) => c.restarts)).toEqual([0, 0]);
    expect(rec.of('child_started').map((e) => e.child)).toEqual(['http', 'w1', 'w2', 'pool']);
    expect(rec.events.map((e) => e.event).filter((e) => e.startsWith('reload') || e === 'child_replaced')).toEqual([
      'reload_started',
      'child_replaced',
      'child_replaced',
      'reload_finished',
    ]);
    expect(
      rec
        .of('child_drained')
        .map((e) => [e.pid, e.reason])
        .sort(),
    ).toEqual(
      [
        [before[0], 'shutdown'],
        [before[1], 'shutdown'],
      ].sort(),
    );
  });

  it('a bad deploy (throws at import): the reload fails, the failed process is gone, the old workers keep serving', async () => {
    const { tree, rec, port, dir, pids } = await run(mode);
    const before = pids();
    const loop = clientLoop(port, 4, '/slow?ms=50');
    deploy(dir, 'throws');
    const error = await tree.reload().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ReloadError);
    // The module throws before it loads arbor's runtime: the reason is its exit (its stack went to stderr).
    expect(error).toMatchObject({ code: 'start_failed', message: 'start_failed: root/pool/w1: exited with code 1' });
    expect(rec.of('reload_failed')).toMatchObject([{ path: 'root', child: 'root/pool/w1', replaced: 0 }]);

    expect(failures(await loop.stop())).toEqual([]);
    expect(pids()).toEqual(before);
    expect(new Set(ourChildren())).toEqual(new Set(before));
    expect(new Set((await Promise.all(Array.from({ length: 6 }, () => get(port)))).map(versionOf))).toEqual(
      new Set(['v1']),
    );
    // Intensity 1 in 60 s: had the failed start counted, the pool would have given up.
    expect(tree.status().state).toBe('running');
    expect(tree.status('root/pool').state).toBe('running');
    expect(rec.of('max_intensity_reached')).toEqual([]);

    // Fixed code: the next reload goes through.
    deploy(dir, { version: 'v3' });
    await tree.reload();
    expect(versionOf(await get(port))).toBe('v3');
  });
});

describe('reload semantics', () => {
  it('a release that throws right after serve() is a failed start: the reload fails with its error, the old workers serve', async () => {
    const { tree, rec, port, dir, pids } = await run('shared');
    const before = pids();
    deploy(dir, 'throws-after-serve');
    await expect(tree.reload()).rejects.toMatchObject({
      code: 'start_failed',
      message: expect.stringContaining('throws after serve()'),
    });
    expect(pids()).toEqual(before);
    expect(versionOf(await get(port))).toBe('v1');
    expect(rec.of('child_replaced')).toEqual([]);
    expect(rec.of('child_exited')).toEqual([]);
  });

  it('a dynamic pool: each child is replaced with its own args', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'arbor-reload-'));
    const module = deploy(dir, { version: 'v1' });
    const rec = recorder();
    const tree = await start(
      supervisor({
        children: [
          listener({ id: 'http', port: 0 }),
          supervisor({
            id: 'jobs',
            strategy: 'simple_one_for_one',
            template: { id: 'job', module, listen: 'http', args: ['--base'] },
          }),
        ],
      }),
      { logger: rec.logger },
    );
    running.push({ tree, rec, dir });
    await tree.startChild('root/jobs', ['--tag', 'a']);
    await tree.startChild('root/jobs', ['--tag', 'b']);
    const before = tree.whichChildren('root/jobs');
    deploy(dir, { version: 'v2' });
    await tree.reload('root/jobs');
    const after = tree.whichChildren('root/jobs');
    expect(after.map((c) => c.id)).toEqual(['job-1', 'job-2']);
    expect(after.map((c) => c.pid)).not.toContain(before[0]!.pid);
    const port = Number(tree.whichChildren()[0]!.listener!.address!.split(':').pop());
    const argvs = new Set<string>();
    for (let i = 0; i < 40 && argvs.size < 2; i++) argvs.add((await get(port, '/argv')).body!);
    expect(argvs).toEqual(
      new Set([JSON.stringify(['--base', '--tag', 'a']), JSON.stringify(['--base', '--tag', 'b'])]),
    );
  });

  it('status shows the reload in progress and the old worker draining; a second reload is refused meanwhile', async () => {
    const { tree, rec, port, dir, pids } = await run('shared');
    const before = pids();
    deploy(dir, { version: 'v2', startDelay: 800 });
    const reloading = tree.reload();
    await rec.waitFor((e) => e.event === 'reload_started', 'reload_started');
    expect(tree.status().reload).toMatchObject({ path: 'root', workers: 2, replaced: 0, starting: ['root/pool/w1'] });
    await expect(tree.reload('root/pool')).rejects.toMatchObject({ code: 'reload_in_progress' });

    // A request held by the old w2 keeps it draining after its replacement took over.
    let slow: ReturnType<typeof get> | undefined;
    for (let i = 0; i < 50 && slow === undefined; i++) {
      const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
      if (pidOf(await get(port, '/', agent)) === before[1]) slow = get(port, '/slow?ms=3000', agent);
      // An idle keep-alive connection would hold its old worker until its shutdown deadline: these clients leave.
      else agent.destroy();
    }
    await rec.waitFor((e) => e.event === 'child_replaced' && e.child === 'w2', 'w2 replaced', 20_000);
    expect(tree.status('root/pool').draining).toMatchObject([{ child: 'w2', pid: before[1] }]);
    await reloading;
    expect(await slow).toMatchObject({ status: 200 });
    expect(tree.status().reload).toBeUndefined();
    expect(tree.status('root/pool').draining).toBeUndefined();
  });

  it('hot standby spares hold the old code: a reload renews them, and the new worker runs the new code', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'arbor-reload-'));
    const module = deploy(dir, { version: 'v1' });
    const rec = recorder();
    const tree = await start(
      supervisor({
        children: [listener({ id: 'http', port: 0 }), worker({ id: 'w1', module, listen: 'http', standby: 'hot' })],
      }),
      { logger: rec.logger },
    );
    running.push({ tree, rec, dir });
    const port = Number(tree.whichChildren()[0]!.listener!.address!.split(':').pop());
    await eventually(() => tree.standby.parkedPids().length === 1, 'a hot spare parked (with v1 loaded)');
    const oldSpare = tree.standby.parkedPids()[0]!;
    deploy(dir, { version: 'v2' });
    await tree.reload();
    expect(versionOf(await get(port))).toBe('v2');
    await eventually(() => !isAlive(oldSpare), 'the old spare gone');
    // A crash after the reload is taken over by a spare with the new code too.
    await eventually(() => tree.standby.parkedPids().length === 1, 'a new hot spare parked');
    const back = rec.next((e) => e.event === 'child_started' && e.child === 'w1', 'w1 restarted');
    process.kill(tree.whichChildren()[1]!.pid!, 'SIGKILL');
    await back;
    expect(versionOf(await get(port))).toBe('v2');
  });

  it('maxSurge 2: both workers of the pool start their replacements at once, beside the old ones', async () => {
    const { tree, rec, dir, pids } = await run('round_robin');
    const before = pids();
    deploy(dir, { version: 'v2', startDelay: 800 });
    const reloading = tree.reload('root/pool', { maxSurge: 2 });
    await rec.waitFor((e) => e.event === 'reload_started', 'reload_started');
    expect(rec.of('reload_started')).toMatchObject([{ path: 'root/pool', workers: 2, maxSurge: 2 }]);
    expect(tree.status().reload).toMatchObject({ starting: ['root/pool/w1', 'root/pool/w2'] });
    const result = await reloading;
    expect(result.replaced.map((r) => r.oldPid)).toEqual(before);
    expect(pids()).not.toContain(before[0]);
    expect(pids()).not.toContain(before[1]);
  });

  it('the old worker crashes while its replacement starts: the replacement takes over, no restart is counted', async () => {
    const { tree, rec, dir, pids } = await run('shared');
    const before = pids();
    deploy(dir, { version: 'v2', startDelay: 800 });
    const reloading = tree.reload('root/pool/w1');
    await rec.waitFor((e) => e.event === 'reload_started', 'reload_started');
    process.kill(before[0]!, 'SIGKILL');
    const result = await reloading;
    expect(result.replaced).toMatchObject([{ child: 'w1', oldPid: before[0] }]);
    expect(tree.whichChildren('root/pool')[0]).toMatchObject({ status: 'running', restarts: 0 });
    expect(pids()[1]).toBe(before[1]);
    expect(rec.of('child_restarting')).toEqual([]);
  });

  it('a stop during a reload: the replacement starting is killed, the reload fails with stopped, the tree stops', async () => {
    const { tree, rec, dir } = await run('round_robin');
    deploy(dir, { version: 'v2', startDelay: 5000 });
    const reloading = tree.reload().then(
      () => undefined,
      (e: unknown) => e,
    );
    await rec.waitFor((e) => e.event === 'reload_started', 'reload_started');
    await new Promise((r) => setTimeout(r, 200));
    expect(await tree.stop()).toBe('normal');
    expect(await reloading).toMatchObject({ code: 'stopped' });
    expect(ourChildren()).toEqual([]);
  });
});
