// Hot standby promotion: when a worker serving a shared listener dies by itself, and its supervisor will restart it
// alone and at once, a hot spare is given the listener's handle and told it is that worker as soon as the death is
// certain (the worker's IPC channel closed and /proc says it is exiting), before the supervisor has decided anything;
// the restart then takes that very spare. Planned stops and strategies that restart siblings never promote.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { listener, supervisor } from '../src/index.js';
import type { Strategy } from '../src/types.js';
import { hotListeningWorker, identityDirs, standbyTreeScope } from './support/standby.js';
import { eventually, fixture, type Recorder } from './support/tree.js';

const { run } = standbyTreeScope();

const KILL_AND_GET = fixture('kill-and-get.mjs');

const tempDir = identityDirs('arbor-promote-');

/** A shared listener and one hot-standby worker under `strategy`, its spare parked. */
async function hotTree(strategy: Strategy, intensity = 5) {
  const { tree, rec } = await run(
    supervisor({
      id: 'root',
      strategy: 'one_for_one',
      intensity: 10,
      children: [
        listener({ id: 'http', port: 0 }),
        supervisor({ id: 'pool', strategy, intensity, children: [hotListeningWorker(tempDir())] }),
      ],
    }),
  );
  await eventually(() => tree.standby.parkedPids().length === 1, 'a hot spare is parked');
  const port = Number(tree.whichChildren()[0]!.listener!.address!.split(':').pop());
  const pid = tree.whichChildren('root/pool')[0]!.pid!;
  return { tree, rec, port, pid, spare: tree.standby.parkedPids()[0]! };
}

/** One GET on a new connection; resolves with the body or the error code. */
function fetchOnce(port: number): Promise<string> {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path: '/', agent: false }, (res) => {
      let body = '';
      res.on('data', (chunk) => (body += chunk));
      res.on('end', () => resolve(body));
    });
    req.on('error', (err: NodeJS.ErrnoException) => resolve(`error ${err.code ?? err.message}`));
    req.end();
  });
}

/** The process has a descriptor of the socket listening on 127.0.0.1:port (/proc: its fds, the kernel's TCP table). */
function holdsListeningSocket(pid: number, port: number): boolean {
  const hex = port.toString(16).toUpperCase().padStart(4, '0');
  const listening = readFileSync('/proc/net/tcp', 'utf8')
    .split('\n')
    .map((line) => line.trim().split(/\s+/))
    .filter((cols) => cols[1] === `0100007F:${hex}` && cols[3] === '0A')
    .map((cols) => `socket:[${cols[9]}]`);
  let fds: string[] = [];
  try {
    fds = readdirSync(`/proc/${pid}/fd`).map((fd) => {
      try {
        return readlinkSync(`/proc/${pid}/fd/${fd}`);
      } catch {
        return '';
      }
    });
  } catch {
    return false;
  }
  return fds.some((target) => listening.includes(target));
}

/** The `socket:[inode]` targets of a process's descriptors. */
function socketsOf(pid: number | 'self'): Set<string> {
  const targets = new Set<string>();
  let fds: string[] = [];
  try {
    fds = readdirSync(`/proc/${pid}/fd`);
  } catch {
    return targets;
  }
  for (const fd of fds) {
    try {
      const target = readlinkSync(`/proc/${pid}/fd/${fd}`);
      if (target.startsWith('socket:')) targets.add(target);
    } catch {
      // closed meanwhile
    }
  }
  return targets;
}

/**
 * The spare holds a copy of a Unix socket this (the supervisor's) process holds too: the death socket of the worker
 * it watches. Nothing else is shared so: its IPC channel and output pipes are the other ends of pairs, and the
 * listener's handle is a TCP socket.
 */
function watchesADeathSocket(spare: number): boolean {
  const unix = new Set(
    readFileSync('/proc/net/unix', 'utf8')
      .split('\n')
      .slice(1)
      .map((line) => line.trim().split(/\s+/)[6])
      .filter((inode) => inode !== undefined)
      .map((inode) => `socket:[${inode}]`),
  );
  const mine = socketsOf('self');
  return [...socketsOf(spare)].some((socket) => unix.has(socket) && mine.has(socket));
}

/** What the spare made of the end of its watch: it took the worker's place, or says why not. */
const watchEnded = (e: { event: string; pid?: number }, spare: number) =>
  (e.event === 'standby_unwatched' || e.event === 'standby_promoted') && e.pid === spare;

/** Blocks this process's event loop (the supervisor's) until `done()` or `ms`; true when `done()` ended it. */
function stallUntil(done: () => boolean, ms: number): boolean {
  const cell = new Int32Array(new SharedArrayBuffer(4));
  const end = performance.now() + ms;
  while (performance.now() < end) {
    if (done()) return true;
    Atomics.wait(cell, 0, 0, 5);
  }
  return done();
}

const promoted = (rec: Recorder) => rec.events.filter((e) => (e as { event: string }).event === 'standby_promoted');

describe('hot standby promotion', () => {
  it('one_for_one: a SIGKILLed worker’s spare is promoted before the supervisor sees the exit, answers the request sent at the kill, and is the restart', async () => {
    const { tree, rec, port, pid, spare } = await hotTree('one_for_one');
    const started = rec.next((e) => e.event === 'child_started' && e.child === 'w', 'the restart');
    process.kill(pid, 'SIGKILL');
    const answer = await fetchOnce(port);
    expect(JSON.parse(answer)).toEqual({ pid: spare, path: 'root/pool/w' });
    expect(((await started) as { pid: number }).pid).toBe(spare);

    // The promotion came first: the supervisor learnt of the exit (child_exited) after the spare had been told.
    const order = rec.events.map((e) => e as { event: string; pid?: number; path?: string });
    const promotedAt = order.findIndex((e) => e.event === 'standby_promoted' && e.pid === spare);
    const exitedAt = order.findIndex((e) => e.event === 'child_exited' && e.pid === pid);
    expect(promotedAt).toBeGreaterThanOrEqual(0);
    expect(order[promotedAt]!.path).toBe('root/pool/w');
    expect(promotedAt).toBeLessThan(exitedAt);
    // An ordinary restart for the tree: one restart counted, the spare is the child's new incarnation.
    expect(rec.of('child_restarting').filter((e) => e.child === 'w')).toHaveLength(1);
    expect(tree.whichChildren('root/pool')[0]!.pid).toBe(spare);
    // And the shelf is refilled behind it.
    await eventually(
      () => tree.standby.parkedPids().length === 1 && tree.standby.parkedPids()[0] !== spare,
      'a new spare',
    );
  });

  it('a supervisor that gives up at the crash: its parent restarts it, and the new worker is the promoted spare', async () => {
    const { tree, rec, port, pid, spare } = await hotTree('one_for_one', 0);
    const started = rec.next((e) => e.event === 'child_started' && e.child === 'w', 'the restart');
    process.kill(pid, 'SIGKILL');
    expect(JSON.parse(await fetchOnce(port))).toEqual({ pid: spare, path: 'root/pool/w' });
    expect(((await started) as { pid: number }).pid).toBe(spare);
    // The pool gave up (max_intensity_reached) and was restarted by the root: the worker's start took the spare.
    expect(rec.of('child_restarting').map((e) => e.child)).toEqual(['pool']);
    expect(tree.whichChildren('root/pool')[0]!.pid).toBe(spare);
  });

  it('planned stops never promote: terminateChild, restartChild, then stopping the tree', async () => {
    const { tree, rec, port, spare } = await hotTree('one_for_one');
    // Terminated, then restarted on request: a takeover too, but by the restart, once the old worker is gone.
    await tree.terminateChild('root/pool', 'w');
    const info = await tree.restartChild('root/pool', 'w');
    expect(info.pid).toBe(spare);
    expect(JSON.parse(await fetchOnce(port))).toEqual({ pid: spare, path: 'root/pool/w' });
    await eventually(() => tree.standby.parkedPids().some((p) => p !== spare), 'a new spare');
    await tree.stop();
    expect(promoted(rec)).toEqual([]);
  });

  it('a parked hot spare holds the listener’s handle; when the listener restarts on its fixed port, the spare gives the old socket back, so the port binds again, and the spare is armed with the new one', async () => {
    // A fixed port: a free one, found by binding port 0 once.
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const fixed = (probe.address() as AddressInfo).port;
    await new Promise((resolve) => probe.close(resolve));
    const { tree, rec } = await run(
      supervisor({
        id: 'root',
        strategy: 'one_for_all',
        intensity: 10,
        children: [listener({ id: 'http', port: fixed }), hotListeningWorker(tempDir())],
      }),
    );
    await eventually(() => tree.standby.parkedPids().length === 1, 'a hot spare is parked');
    const [spare] = tree.standby.parkedPids();
    // Armed: the spare holds a copy of the listening socket among its descriptors.
    await eventually(() => holdsListeningSocket(spare!, fixed), 'the spare holds the listening socket');

    // one_for_all: the listener is restarted with the worker, and must bind the same port again.
    const pid = tree.whichChildren()[1]!.pid!;
    const started = rec.next((e) => e.event === 'child_started' && e.child === 'w', 'the restart');
    process.kill(pid, 'SIGKILL');
    expect(((await started) as { pid: number }).pid).toBe(spare);
    expect(rec.of('start_failed')).toEqual([]);
    expect(JSON.parse(await fetchOnce(fixed))).toEqual({ pid: spare, path: 'root/w' });
    // The next spare parks armed with the new socket, and a second crash is served by it on the same port.
    await eventually(() => tree.standby.parkedPids().some((p) => p !== spare), 'a new spare');
    const [next] = tree.standby.parkedPids();
    await eventually(() => holdsListeningSocket(next!, fixed), 'the new spare holds the new socket');
    const again = rec.next((e) => e.event === 'child_started' && e.child === 'w', 'the second restart');
    process.kill(spare!, 'SIGKILL');
    expect(((await again) as { pid: number }).pid).toBe(next);
    expect(JSON.parse(await fetchOnce(fixed))).toEqual({ pid: next, path: 'root/w' });
  });

  it('one_for_all and rest_for_one: a crash is not promoted (siblings stop first); the restart still takes the spare', async () => {
    for (const strategy of ['one_for_all', 'rest_for_one'] as const) {
      const { rec, port, pid, spare } = await hotTree(strategy);
      const started = rec.next((e) => e.event === 'child_started' && e.child === 'w', 'the restart');
      process.kill(pid, 'SIGKILL');
      expect(JSON.parse(await fetchOnce(port))).toEqual({ pid: spare, path: 'root/pool/w' });
      expect(((await started) as { pid: number }).pid).toBe(spare);
      expect(promoted(rec), strategy).toEqual([]);
    }
  });
  it('a hot spare holding the worker’s death socket takes its place by itself: killed while the supervisor’s event loop is blocked, the request sent at the kill is answered by the spare before the loop runs again', async () => {
    const { tree, rec, port, pid, spare } = await hotTree('one_for_one');
    await eventually(() => watchesADeathSocket(spare), 'the spare watches the worker’s death socket');
    const dir = tempDir();
    const resultFile = join(dir, 'answer.json');
    const client = spawn(process.execPath, [KILL_AND_GET, String(pid), String(port), resultFile], {
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    const clientGone = new Promise((resolve) => client.once('exit', resolve));
    await new Promise<void>((resolve) => client.stdout!.once('data', () => resolve()));
    const started = rec.next((e) => e.event === 'child_started' && e.child === 'w', 'the restart');

    // From here until the answer, this process (the supervisor) runs no event loop: no exit, no message is read.
    client.stdin!.write('go\n');
    expect(client.stdin!.writableLength).toBe(0); // written to the pipe already, not queued for the loop
    const answeredInStall = stallUntil(() => existsSync(resultFile), 20_000);
    const stallEnded = Number(process.hrtime.bigint()) / 1e6;

    expect(answeredInStall).toBe(true);
    const result = JSON.parse(readFileSync(resultFile, 'utf8')) as { body: string; answeredAt: number };
    expect(JSON.parse(result.body)).toEqual({ pid: spare, path: 'root/pool/w' });
    expect(result.answeredAt).toBeLessThanOrEqual(stallEnded);
    await clientGone;
    // Then the supervisor catches up: an ordinary restart that takes the spare, which said it had taken the place.
    expect(((await started) as { pid: number }).pid).toBe(spare);
    expect(rec.of('child_restarting').filter((e) => e.child === 'w')).toHaveLength(1);
    expect(tree.whichChildren('root/pool')[0]!.pid).toBe(spare);
  });

  it('a death socket closed by a worker that lives on is no death: the spare stays parked, the worker keeps serving, and its later crash is still served by the spare', async () => {
    const { tree, rec, port, pid, spare } = await hotTree('one_for_one');
    await eventually(() => watchesADeathSocket(spare), 'the spare watches the worker’s death socket');
    const ended = rec.next((e) => watchEnded(e, spare), 'the end of the watch');
    await tree.call('root/pool/w', 'close-fd-4');
    // The spare read the end, found the worker running (/proc), and let the socket go.
    expect(await ended).toMatchObject({ event: 'standby_unwatched', path: 'root/pool/w', reason: 'alive' });
    expect(JSON.parse(await fetchOnce(port))).toEqual({ pid, path: 'root/pool/w' });
    expect(promoted(rec)).toEqual([]);
    expect(tree.standby.parkedPids()).toContain(spare);

    // The supervisor still promotes it at the worker's death.
    const started = rec.next((e) => e.event === 'child_started' && e.child === 'w', 'the restart');
    process.kill(pid, 'SIGKILL');
    expect(JSON.parse(await fetchOnce(port))).toEqual({ pid: spare, path: 'root/pool/w' });
    expect(((await started) as { pid: number }).pid).toBe(spare);
  });

  it('a planned stop disarms the death socket first: the spare watching the worker reads a reset, not a death, and stays parked', async () => {
    const { tree, rec, spare } = await hotTree('one_for_one');
    await eventually(() => watchesADeathSocket(spare), 'the spare watches the worker’s death socket');
    const ended = rec.next((e) => watchEnded(e, spare), 'the end of the watch');
    await tree.terminateChild('root/pool', 'w');
    expect(await ended).toMatchObject({ event: 'standby_unwatched', path: 'root/pool/w', reason: 'reset' });
    expect(promoted(rec)).toEqual([]);
    expect(tree.standby.parkedPids()).toContain(spare);
    // And the spare is taken by the child's next start, as any parked spare.
    expect((await tree.restartChild('root/pool', 'w')).pid).toBe(spare);
  });
});
