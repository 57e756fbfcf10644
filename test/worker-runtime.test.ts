// The worker side (`arbor-otp/worker`) on real processes: serving a listener's socket in both modes, pings,
// chaos faults, leaving when the channel closes, and running alone without a supervisor.
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { createInterface } from 'node:readline';
import { afterEach, describe, expect, it } from 'vitest';
import type { ListenerLink } from '../src/child.js';
import { parseWorkerMessage, type ParentMessage, type WorkerMessage } from '../src/protocol.js';
import { eventually, newWorker, reapAll, signalZero, track, workerFixture } from './support/worker.js';

interface RawServerHandle {
  getsockname(out: { port?: number }): number;
  close(): void;
}

const cleanups: Array<() => void> = [];
afterEach(async () => {
  await reapAll();
  for (const cleanup of cleanups.splice(0)) cleanup();
});

/** A bound, not listening, TCP handle: what a shared listener keeps and sends (DESIGN §6). */
function bindRawHandle(): { raw: RawServerHandle; port: number } {
  const create = (
    net as unknown as { _createServerHandle(host: string, port: number, family: number): RawServerHandle | number }
  )._createServerHandle;
  const raw = create('127.0.0.1', 0, 4);
  if (typeof raw === 'number') throw new Error(`bind failed: errno ${raw}`);
  cleanups.push(() => raw.close());
  const address: { port?: number } = {};
  raw.getsockname(address);
  return { raw, port: address.port! };
}

/** A stand-in for a listener child: records what the WorkerHandle does with it and what the worker says. */
function fakeListener(
  id: string,
  sendGrant: (worker: ChildProcess) => void,
  onReady: (worker: ChildProcess) => void = () => {},
) {
  const calls: string[] = [];
  const heard: WorkerMessage[] = [];
  const link: ListenerLink = {
    id,
    address: { host: '127.0.0.1', port: 0 },
    attach(worker) {
      calls.push('attach');
      worker.on('message', (raw: unknown) => {
        const message = parseWorkerMessage(raw);
        if (message !== undefined) heard.push(message);
      });
      sendGrant(worker);
      return { ready: () => (calls.push('ready'), onReady(worker)), detach: () => void calls.push('detach') };
    },
  };
  return { link, calls, heard };
}

function rssOf(pid: number): number | undefined {
  const kib = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
  return kib === undefined ? undefined : Number(kib) * 1024;
}

function get(port: number, path = '/'): Promise<{ status: number | undefined; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path, agent: false }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => resolve({ status: res.statusCode, body }));
      })
      .on('error', reject);
  });
}

describe('serve(): a listener in shared mode', () => {
  it('the worker listens on the handle it was sent, says so, and serves HTTP; the attachment follows its life', async () => {
    const { raw, port } = bindRawHandle();
    const listener = fakeListener('web', (worker) =>
      worker.send({ type: 'arbor:handle', listener: 'web', mode: 'shared', backlog: 128 }, raw as never),
    );
    const { handle, exited } = newWorker('http-echo.mjs', { listen: 'web' }, { resolveListener: () => listener.link });
    await handle.start();
    expect(listener.calls).toEqual(['attach', 'ready']);
    expect(listener.heard).toContainEqual({ type: 'arbor:listening', listener: 'web' });
    expect(await get(port)).toEqual({ status: 200, body: String(handle.pid) });

    // An exception in a request handler is the worker's death, reported with its message.
    await get(port, '/crash').catch(() => undefined);
    expect(await exited).toEqual({ error: 'crash requested', stack: expect.stringContaining('http-echo.mjs') });
    expect(listener.calls).toEqual(['attach', 'ready', 'detach']);
  });
});

/** A round_robin stand-in: accepts (paused) and sends each connection to the worker once it is ready. */
async function roundRobinWorker() {
  let seq = 0;
  let readyWorker: ChildProcess | undefined;
  const acceptor = net.createServer({ pauseOnConnect: true }, (socket) => {
    const message: ParentMessage = { type: 'arbor:connection', listener: 'web', seq: seq++ };
    readyWorker?.send(message, socket);
  });
  await new Promise<void>((resolve) => acceptor.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => acceptor.close());
  const listener = fakeListener(
    'web',
    (worker) => worker.send({ type: 'arbor:handle', listener: 'web', mode: 'round_robin' }),
    (worker) => (readyWorker = worker),
  );
  const { handle } = newWorker('http-echo.mjs', { listen: 'web' }, { resolveListener: () => listener.link });
  await handle.start();
  const acks = () => listener.heard.filter((m) => m.type === 'arbor:connection-ack');
  return { handle, listener, acks, port: (acceptor.address() as net.AddressInfo).port };
}

describe('serve(): a listener in round_robin mode', () => {
  it('each connection sent is acknowledged with its seq, then served', async () => {
    const { handle, listener, acks, port } = await roundRobinWorker();
    expect(await get(port)).toEqual({ status: 200, body: String(handle.pid) });
    expect(await get(port)).toEqual({ status: 200, body: String(handle.pid) });
    // The acks travel on the IPC channel, the responses on TCP: either may arrive first.
    await eventually(() => acks().length === 2, 'both acks to arrive');
    expect(acks()).toEqual([
      { type: 'arbor:connection-ack', listener: 'web', seq: 0 },
      { type: 'arbor:connection-ack', listener: 'web', seq: 1 },
    ]);
    expect(await handle.terminate()).toBe('shutdown');
    expect(listener.calls).toEqual(['attach', 'ready', 'detach']);
  });

  it('a graceful stop waits for the requests in progress: server.close() counts routed connections', async () => {
    const { handle, acks, port } = await roundRobinWorker();
    const slow = get(port, '/slow');
    await eventually(() => acks().length === 1, 'the connection to reach the worker');
    expect(await handle.terminate()).toBe('shutdown');
    expect(await slow).toEqual({ status: 200, body: String(handle.pid) });
  });
});

/** A worker forked by hand, so the test speaks the protocol itself. */
function forkRaw(fixtureName: string, env: Record<string, string> = {}, stderr: 'inherit' | 'pipe' = 'inherit') {
  const child = fork(workerFixture(fixtureName), [], {
    env: { ...process.env, ARBOR_WORKER: '1', ...env },
    stdio: ['ignore', 'inherit', stderr, 'ipc'],
  });
  track(child);
  // 'exit', not 'close': node emits no 'close' once this side has disconnected the channel.
  const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
  const nextMessage = (type: string): Promise<Record<string, unknown>> =>
    new Promise((resolve) => {
      const listener = (message: Record<string, unknown>): void => {
        if (message?.type !== type) return;
        child.off('message', listener);
        resolve(message);
      };
      child.on('message', listener);
    });
  return { child, exited, nextMessage };
}

describe('the runtime', () => {
  it('answers a ping with a pong of the same seq', async () => {
    const { child, nextMessage } = forkRaw('ready.mjs');
    await nextMessage('arbor:ready');
    const pong = nextMessage('arbor:pong');
    child.send({ type: 'arbor:ping', seq: 7 });
    expect(await pong).toEqual({ type: 'arbor:pong', seq: 7 });
  });

  it('ignores chaos faults unless ARBOR_CHAOS=1, and says so on stderr', async () => {
    const { child, nextMessage } = forkRaw('ready.mjs', {}, 'pipe');
    let stderr = '';
    child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    await nextMessage('arbor:ready');
    const pong = nextMessage('arbor:pong');
    child.send({ type: 'arbor:chaos', fault: 'exit' });
    child.send({ type: 'arbor:ping', seq: 1 });
    // Messages are handled in order: the pong proves the fault was seen and ignored.
    await pong;
    expect(child.exitCode).toBeNull();
    expect(stderr).toContain('chaos fault "exit" ignored');
  });

  it.each([
    ['throw', 1, true],
    ['exit', 1, false],
    ['sigterm-self', 0, false],
  ] as const)('with ARBOR_CHAOS=1, fault %s ends the worker with code %i', async (fault, code, reportsError) => {
    const { child, exited, nextMessage } = forkRaw('ready.mjs', { ARBOR_CHAOS: '1' }, 'pipe');
    await nextMessage('arbor:ready');
    const report = nextMessage('arbor:error');
    child.send({ type: 'arbor:chaos', fault });
    expect(await exited).toEqual([code, null]);
    if (reportsError) expect(await report).toMatchObject({ message: 'arbor chaos: injected uncaught exception' });
  });

  it('with ARBOR_CHAOS=1, fault hang blocks the worker: pings go unanswered', async () => {
    const { child, nextMessage } = forkRaw('ready.mjs', { ARBOR_CHAOS: '1' });
    await nextMessage('arbor:ready');
    let answered = false;
    void nextMessage('arbor:pong').then(() => (answered = true));
    child.send({ type: 'arbor:chaos', fault: 'hang' });
    child.send({ type: 'arbor:ping', seq: 1 });
    // A fixed wait is the point: no answer may come within it (a worker answers a ping within milliseconds).
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(answered).toBe(false);
  });

  it('with ARBOR_CHAOS=1, fault memory grows the resident memory until killed', async () => {
    const { child, nextMessage } = forkRaw('ready.mjs', { ARBOR_CHAOS: '1' });
    await nextMessage('arbor:ready');
    child.send({ type: 'arbor:chaos', fault: 'memory' });
    await eventually(() => (rssOf(child.pid!) ?? 0) > 512 * 1024 * 1024, 'RSS above 512 MiB');
  });

  it('exits when its IPC channel closes', async () => {
    const { child, exited, nextMessage } = forkRaw('ready.mjs');
    await nextMessage('arbor:ready');
    child.disconnect();
    expect(await exited).toEqual([0, null]);
  });

  it('loads no node module at start-up that an HTTP server has not loaded already', async () => {
    // Each one costs every start (restarts included) its compile time: node:util, node:os and node:module are
    // loaded only on the paths that use them.
    const { nextMessage, exited } = forkRaw('startup-modules.mjs');
    const { added } = await nextMessage('startup-modules');
    expect(added).toEqual([]);
    expect(await exited).toEqual([0, null]);
  });

  it.runIf((process.features as { require_module?: boolean }).require_module === true)(
    'can be required from CommonJS, where node loads ES modules that do not await at their top level',
    async () => {
      const { ARBOR_WORKER: _unused, ...env } = process.env;
      const child = spawn(process.execPath, ['-e', "require('arbor-otp/worker')"], { env, stdio: 'inherit' });
      track(child);
      expect(await once(child, 'exit')).toEqual([0, null]);
    },
  );

  it('does not keep a worker alive: one whose work is done exits normally', async () => {
    const { handle, exited } = newWorker('done.mjs');
    await handle.start();
    expect(await exited).toBe('normal');
    expect(signalZero(handle.pid)).toBe('ESRCH');
  });

  it('run alone, serve() listens on $PORT and shutdown hooks run on SIGTERM', async () => {
    const { ARBOR_WORKER: _unused, ...env } = process.env;
    const alone = spawn(process.execPath, [workerFixture('http-echo.mjs')], {
      env: { ...env, PORT: '0' },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    track(alone);
    const exited = once(alone, 'exit');
    const line = await new Promise<string>((resolve) =>
      createInterface({ input: alone.stdout! }).once('line', resolve),
    );
    const { port } = JSON.parse(line) as { port: number };
    expect(await get(port)).toEqual({ status: 200, body: String(alone.pid) });
    alone.kill('SIGTERM');
    expect(await exited).toEqual([0, null]);
  });
});
