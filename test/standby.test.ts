// Standby workers: spares forked as the worker they will become take over restarts (warm: node booted; hot: the
// module loaded and waiting in serve()/ready()). Each spare is keyed on the worker's whole start-up.
import { fork } from 'node:child_process';
import { existsSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { get } from 'node:http';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { renderStatus } from '../src/cli/status-view.js';
import { listener, supervisor, worker, type Tree } from '../src/index.js';
import { IDENTITY, hotListeningWorker, identityDirs, standbyTreeScope } from './support/standby.js';
import { eventually, fixture, isAlive, reap, type Recorder } from './support/tree.js';

/** Processes a test started outside any tree: reaped after its trees are (vitest runs after-hooks last-first). */
const stray: number[] = [];
afterEach(() => reap(stray.splice(0)));
const { run } = standbyTreeScope();

const identityDir = identityDirs('arbor-standby-');
/** What the worker wrote once it became the worker (just after its `ready`, so possibly after child_started). */
async function identity(dir: string, pid: number | undefined): Promise<Record<string, unknown>> {
  const file = join(dir, `${pid}.json`);
  await eventually(() => existsSync(file), `${file} written`);
  await eventually(() => readFileSync(file, 'utf8').endsWith('}'), `${file} complete`);
  return JSON.parse(readFileSync(file, 'utf8'));
}
const loaded = (dir: string, pid: number | undefined) => existsSync(join(dir, `${pid}.loaded`));
const procFile = (pid: number, file: string) => readFileSync(`/proc/${pid}/${file}`, 'utf8').split('\0');

async function killAndAwaitReplacement(rec: Recorder, tree: Tree, id: string, path = 'root'): Promise<number> {
  const pid = tree.whichChildren(path).find((c) => c.id === id)!.pid!;
  const back = rec.next((e) => e.event === 'child_started' && e.child === id, `${id} restarted`);
  process.kill(pid, 'SIGKILL');
  return ((await back) as { pid: number }).pid;
}

function httpGet(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    get({ host: '127.0.0.1', port, path: '/' }, (res) => {
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve(body));
    }).on('error', reject);
  });
}

describe('standby workers', () => {
  it('warm: a restart is taken over by a spare forked with the worker’s module, args, env (NODE_OPTIONS too), execArgv and cwd', async () => {
    const dir = identityDir();
    const cwd = identityDir();
    const env = { IDENTITY_DIR: dir, FOO: 'bar', NODE_OPTIONS: '--stack-trace-limit=7' };
    const { tree, rec } = await run(
      supervisor({
        intensity: 5,
        children: [
          worker({
            id: 'w',
            module: IDENTITY,
            args: ['--flag', 'x'],
            env,
            execArgv: ['--no-warnings'],
            cwd,
            standby: true,
          }),
        ],
      }),
    );
    await eventually(() => tree.standby.parkedPids().length === 1, 'a spare is parked');
    const [spare] = tree.standby.parkedPids();
    // Seen as the worker it will become: its command line names the module and args, its environment marks it.
    expect(procFile(spare!, 'cmdline')).toEqual(expect.arrayContaining([IDENTITY, '--flag', 'x', '--no-warnings']));
    expect(procFile(spare!, 'environ')).toEqual(
      expect.arrayContaining(['ARBOR_WORKER=1', 'FOO=bar', 'NODE_OPTIONS=--stack-trace-limit=7']),
    );
    expect(loaded(dir, spare), 'a warm spare runs none of the module before takeover').toBe(false);

    expect(await killAndAwaitReplacement(rec, tree, 'w')).toBe(spare);
    expect(await identity(dir, spare)).toEqual({
      argv: [IDENTITY, '--flag', 'x'],
      execArgv: ['--no-warnings'],
      cwd,
      path: 'root/w',
      worker: '1',
      standby: null,
      foo: 'bar',
      stackTraceLimit: 7,
      version: null,
    });
    // The shelf is refilled once the replacement is ready; stopping the tree kills the new spare too.
    await eventually(
      () => tree.standby.parkedPids().length === 1 && tree.standby.parkedPids()[0] !== spare,
      'a new spare',
    );
    const next = tree.standby.parkedPids()[0];
    await tree.stop();
    await eventually(() => !isAlive(next) && !isAlive(spare), 'no process left');
  });

  it('spares are kept per start-up: workers that differ in env or args never take each other’s spares', async () => {
    const dir = identityDir();
    const { tree, rec } = await run(
      supervisor({
        intensity: 10,
        children: [
          worker({
            id: 'a',
            module: IDENTITY,
            args: ['a'],
            env: { IDENTITY_DIR: dir, NODE_OPTIONS: '--stack-trace-limit=3' },
            standby: true,
          }),
          worker({
            id: 'b',
            module: IDENTITY,
            args: ['b'],
            env: { IDENTITY_DIR: dir, NODE_OPTIONS: '--stack-trace-limit=5' },
            standby: true,
          }),
          worker({
            id: 'c',
            module: IDENTITY,
            args: ['b'],
            env: { IDENTITY_DIR: dir, NODE_OPTIONS: '--stack-trace-limit=5' },
            standby: true,
          }),
        ],
      }),
    );
    // a's start-up is its own; b and c are identical, so they share one shelf of one spare.
    await eventually(() => tree.standby.parkedPids().length === 2, 'two spares parked');
    // Status lists them, one entry per start-up: the tree's status only, not a subtree's.
    const shelves = tree.status().spares!;
    expect(shelves.map((s) => s.args).sort()).toEqual([['a'], ['b']]);
    for (const shelf of shelves)
      expect(shelf).toMatchObject({
        mode: 'warm',
        module: IDENTITY,
        count: 1,
        parked: [expect.any(Number)],
        booting: [],
      });
    expect(shelves.flatMap((s) => s.parked).sort()).toEqual(tree.standby.parkedPids().sort());
    expect(renderStatus(tree.status())).toMatch(
      /\nspares {2}warm {2}1 of 1 parked \(pid \d+\) {2}for \S+standby-identity\.mjs a\n/,
    );
    for (const [id, arg, limit] of [
      ['a', 'a', 3],
      ['b', 'b', 5],
      ['c', 'b', 5],
      ['a', 'a', 3],
    ] as const) {
      const pid = await killAndAwaitReplacement(rec, tree, id);
      expect(await identity(dir, pid)).toMatchObject({
        argv: [IDENTITY, arg],
        path: `root/${id}`,
        stackTraceLimit: limit,
      });
      await eventually(() => tree.standby.parkedPids().length === 2, 'both shelves refilled');
    }
  });

  it('execArgv and cwd are part of the key too: a worker that differs only in one of them has a shelf of its own', async () => {
    const dir = identityDir();
    const other = identityDir();
    const env = { IDENTITY_DIR: dir };
    const { tree } = await run(
      supervisor({
        children: [
          worker({ id: 'base', module: IDENTITY, env, standby: true }),
          worker({ id: 'flags', module: IDENTITY, env, execArgv: ['--no-warnings'], standby: true }),
          worker({ id: 'elsewhere', module: IDENTITY, env, cwd: other, standby: true }),
          worker({ id: 'twin', module: IDENTITY, env, standby: true }),
        ],
      }),
    );
    await eventually(() => tree.standby.parkedPids().length === 3, 'three spares parked (base and twin share one)');
    const spares = tree.standby.parkedPids().map((pid) => ({
      cwd: readlinkSync(`/proc/${pid}/cwd`),
      flagged: procFile(pid, 'cmdline').includes('--no-warnings'),
    }));
    expect(spares.filter((s) => s.cwd === other && !s.flagged)).toHaveLength(1);
    expect(spares.filter((s) => s.cwd !== other && s.flagged)).toHaveLength(1);
    expect(spares.filter((s) => s.cwd !== other && !s.flagged)).toHaveLength(1);
  });

  it('dynamic children: spares follow the child’s whole start-up (template args + extra args), and go once no child has that start-up', async () => {
    const dir = identityDir();
    const { tree, rec } = await run(
      supervisor({
        children: [
          supervisor({
            id: 'jobs',
            strategy: 'simple_one_for_one',
            intensity: 5,
            template: { id: 'job', module: IDENTITY, args: ['job'], env: { IDENTITY_DIR: dir }, standby: true },
          }),
        ],
      }),
    );
    const child = await tree.startChild('root/jobs', ['42']);
    await eventually(() => tree.standby.parkedPids().length === 1, 'a spare for job 42');
    const [spare] = tree.standby.parkedPids();
    expect(procFile(spare!, 'cmdline')).toEqual(expect.arrayContaining([IDENTITY, 'job', '42']));
    const back = rec.next((e) => e.event === 'child_started' && e.child === child.id, 'job restarted');
    process.kill(child.pid!, 'SIGKILL');
    expect(((await back) as { pid: number }).pid).toBe(spare);
    expect(await identity(dir, spare)).toMatchObject({ argv: [IDENTITY, 'job', '42'], path: `root/jobs/${child.id}` });
    await eventually(
      () => tree.standby.parkedPids().length === 1 && tree.standby.parkedPids()[0] !== spare,
      'the shelf refilled',
    );
    const next = tree.standby.parkedPids()[0];
    // The only child with that start-up is gone: its spare is killed after a grace period.
    await tree.terminateChild('root/jobs', child.id);
    await eventually(() => !isAlive(next), 'the spare of a start-up nobody runs is gone', 20_000);
  });

  it('hot: the spare has run the module up to serve(), and takes over with the current handle after a one_for_all restart re-bound the socket', async () => {
    const dir = identityDir();
    const { tree, rec } = await run(
      supervisor({
        strategy: 'one_for_all',
        intensity: 5,
        children: [
          listener({ id: 'http', port: 0 }),
          worker({
            id: 'w',
            module: IDENTITY,
            listen: 'http',
            args: ['hot'],
            env: { IDENTITY_DIR: dir, LISTEN: '1', FOO: 'hot' },
            standby: 'hot',
          }),
        ],
      }),
    );
    const portOf = () => Number(tree.whichChildren()[0]!.listener!.address!.split(':').pop());
    const firstPort = portOf();
    await eventually(() => tree.standby.parkedPids().length === 1, 'a hot spare is parked');
    const [spare] = tree.standby.parkedPids();
    expect(loaded(dir, spare), 'a hot spare has loaded its module').toBe(true);
    expect(existsSync(join(dir, `${spare}.json`)), 'and waits in serve()').toBe(false);

    // The worker dies: one_for_all closes the listener and binds a new socket (port 0: a new port).
    const pid = await killAndAwaitReplacement(rec, tree, 'w');
    expect(pid).toBe(spare);
    const port = portOf();
    expect(port).not.toBe(firstPort);
    expect(JSON.parse(await httpGet(port))).toEqual({ pid: spare, path: 'root/w' });
    expect(await identity(dir, spare)).toMatchObject({
      argv: [IDENTITY, 'hot'],
      path: 'root/w',
      worker: '1',
      standby: null,
      foo: 'hot',
    });
    // A takeover is an ordinary restart for events and intensity.
    expect(rec.of('child_restarting').filter((e) => e.child === 'w')).toHaveLength(1);
  });

  it('hot, round_robin: the spare takes over and is handed the listener’s connections', async () => {
    const dir = identityDir();
    const { tree, rec } = await run(
      supervisor({
        intensity: 5,
        children: [listener({ id: 'http', port: 0, mode: 'round_robin' }), hotListeningWorker(dir)],
      }),
    );
    const port = Number(tree.whichChildren()[0]!.listener!.address!.split(':').pop());
    await eventually(() => tree.standby.parkedPids().length === 1, 'a hot spare is parked');
    const [spare] = tree.standby.parkedPids();
    expect(await killAndAwaitReplacement(rec, tree, 'w')).toBe(spare);
    expect(JSON.parse(await httpGet(port))).toEqual({ pid: spare, path: 'root/w' });
  });

  it('hot: a reload never takes over a hot spare (it holds the code of before); the new worker loads what is on disk now', async () => {
    const dir = identityDir();
    writeFileSync(join(dir, 'version'), 'v1');
    const { tree } = await run(
      supervisor({
        children: [worker({ id: 'w', module: IDENTITY, env: { IDENTITY_DIR: dir }, standby: 'hot' })],
      }),
    );
    await eventually(() => tree.standby.parkedPids().length === 1, 'a hot spare is parked');
    const [stale] = tree.standby.parkedPids();
    writeFileSync(join(dir, 'version'), 'v2');
    const result = await tree.reload();
    const newPid = result.replaced[0]!.newPid;
    expect(newPid).not.toBe(stale);
    expect(await identity(dir, newPid)).toMatchObject({ version: 'v2', path: 'root/w' });
    await eventually(() => !isAlive(stale), 'the stale spare is gone');
    // The shelf is refilled with the new code.
    await eventually(() => tree.standby.parkedPids().length === 1, 'a new hot spare');
    const fresh = tree.standby.parkedPids()[0]!;
    expect(JSON.parse(readFileSync(join(dir, `${fresh}.loaded`), 'utf8'))).toBeTruthy();
  });

  it('several spares: killing every worker of a pool is served by one takeover each', async () => {
    const dir = identityDir();
    const { tree, rec } = await run(
      supervisor({
        intensity: 10,
        children: [1, 2, 3].map((n) =>
          worker({ id: `w${n}`, module: IDENTITY, env: { IDENTITY_DIR: dir }, standby: { mode: 'hot', count: 3 } }),
        ),
      }),
    );
    await eventually(() => tree.standby.parkedPids().length === 3, 'three hot spares parked');
    const spares = tree.standby.parkedPids();
    const back = Promise.all(
      [1, 2, 3].map((n) => rec.next((e) => e.event === 'child_started' && e.child === `w${n}`, `w${n} restarted`)),
    );
    for (const child of tree.whichChildren()) process.kill(child.pid!, 'SIGKILL');
    const replacements = (await back).map((e) => (e as { pid: number }).pid);
    expect(replacements.sort()).toEqual([...spares].sort());
  });

  it('spares never outlive their supervisor: SIGKILL of the supervisor takes parked warm and hot spares with it', async () => {
    const dir = identityDir();
    const host = fork(fixture('standby-host.mjs'), [], { env: { ...process.env, IDENTITY_DIR: dir }, stdio: 'ignore' });
    const report = await new Promise<{ workers: number[]; spares: number[] }>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('standby host did not report')), 30_000);
      host.once('message', (m) => (clearTimeout(timer), resolve(m as { workers: number[]; spares: number[] })));
    });
    stray.push(...report.workers, ...report.spares);
    expect(report.spares).toHaveLength(4);
    // Two of them are hot: their module ran and waits in ready().
    expect(report.spares.filter((pid) => loaded(dir, pid))).toHaveLength(2);
    host.kill('SIGKILL');
    await eventually(
      () => [...report.workers, ...report.spares].every((pid) => !isAlive(pid)),
      'every worker and spare gone',
      10_000,
    );
  });

  it('without standby no process is parked', async () => {
    const { tree } = await run(supervisor({ children: [worker({ id: 'w', module: fixture('controlled.mjs') })] }));
    expect(tree.standby.parkedPids()).toEqual([]);
  });
});
