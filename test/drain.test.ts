// Graceful drain on every planned stop, for an http.Server given to serve() with no shutdown hook of its own:
// the worker stops accepting, requests in flight finish, keep-alive connections close after their response.
import http from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { listener, start, supervisor, worker, type ListenerMode, type Tree } from '../src/index.js';
import { get, pidOf, type Answer } from './support/http.js';
import { fixture, isAlive, reap, recorder, type Recorder } from './support/tree.js';

const running: Array<{ tree: Tree; rec: Recorder }> = [];
afterEach(async () => {
  for (const { tree, rec } of running.splice(0)) {
    await tree.stop({ brutal: true }).catch(() => undefined);
    reap(rec.of('child_started').map((e) => e.pid));
  }
});

async function run(mode: ListenerMode, options: { shutdown?: number; drainDelay?: number } = {}) {
  const rec = recorder();
  const tree = await start(
    supervisor({
      strategy: 'rest_for_one',
      ...(options.drainDelay !== undefined ? { drainDelay: options.drainDelay } : {}),
      children: [
        listener({ id: 'http', port: 0, mode }),
        supervisor({
          id: 'pool',
          intensity: 5,
          children: ['w1', 'w2'].map((id) =>
            worker({ id, module: fixture('drain-http.mjs'), listen: 'http', shutdown: options.shutdown ?? 20_000 }),
          ),
        }),
      ],
    }),
    { logger: rec.logger },
  );
  running.push({ tree, rec });
  const port = Number(tree.whichChildren()[0]!.listener!.address!.split(':').pop());
  return { tree, rec, port };
}

/** A keep-alive agent with one connection, so every request of a test reuses it. */
const keepAlive = () => new http.Agent({ keepAlive: true, maxSockets: 1 });

/** Sends slow requests until one lands on `pid`'s worker (both workers serve the socket). */
async function requestOn(
  port: number,
  pid: number,
  path: string,
): Promise<{ answer: Promise<Answer>; agent: http.Agent }> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const agent = keepAlive();
    const first = await get(port, '/', agent);
    if (pidOf(first) === pid) return { answer: get(port, path, agent), agent };
    agent.destroy();
  }
  throw new Error(`no connection reached worker ${pid}`);
}

describe.each<ListenerMode>(['shared', 'round_robin'])('drain, %s listener', (mode) => {
  it('stop-child during a 2 s request on a keep-alive connection: the request completes with 200 and Connection: close', async () => {
    const { tree, rec, port } = await run(mode);
    const w1 = tree.whichChildren('root/pool')[0]!.pid!;
    const entered = rec.next((e) => e.event === 'worker_message' && e.pid === w1, 'the request in the handler');
    const { answer, agent } = await requestOn(port, w1, '/slow?ms=2000&tell');
    await entered;
    const terminated = rec.next((e) => e.event === 'child_terminated' && e.child === 'w1', 'w1 terminated', 30_000);
    await tree.terminateChild('root/pool', 'w1');
    expect(await answer).toMatchObject({ status: 200, connection: 'close' });
    expect(pidOf(await answer)).toBe(w1);
    expect(await terminated).toMatchObject({ reason: 'shutdown', pid: w1 });
    expect(isAlive(w1)).toBe(false);
    // The socket stays open: the other worker serves new connections and the reused agent alike.
    const after = await get(port, '/', agent);
    expect(after.status).toBe(200);
    expect(pidOf(after)).toBe(tree.whichChildren('root/pool')[1]!.pid);
    agent.destroy();
  });

  it('a keep-alive client busy when the drain begins: its next request on the idle connection is answered (200, Connection: close), no reset, and the worker exits right after', async () => {
    const { tree, rec, port } = await run(mode);
    const w1 = tree.whichChildren('root/pool')[0]!.pid!;
    const { answer, agent } = await requestOn(port, w1, '/');
    await answer; // this client's connection is idle now
    const { answer: probed, agent: probe } = await requestOn(port, w1, '/');
    await probed;
    const terminated = rec.next((e) => e.event === 'child_terminated' && e.child === 'w1', 'w1 terminated');
    const stopped = tree.terminateChild('root/pool', 'w1');
    // The drain has begun once w1 answers another keep-alive client with Connection: close.
    for (let seen: Answer = {}; seen.connection !== 'close';) {
      seen = await get(port, '/', probe);
      expect(seen.error).toBeUndefined();
      expect(pidOf(seen)).toBe(w1);
    }
    // The client's event loop is busy for a while (GC, a burst of work): whatever the server does to the idle
    // connection meanwhile, the client sees only after it has sent its next request on it.
    const busyUntil = Date.now() + 400;
    while (Date.now() < busyUntil);
    const next = await get(port, '/', agent);
    expect(next).toMatchObject({ status: 200, connection: 'close' });
    expect(pidOf(next)).toBe(w1);
    // Its connections done, the worker exits long before its 20 s shutdown timeout (a SIGKILL would say so).
    await stopped;
    expect(await terminated).toMatchObject({ reason: 'shutdown', pid: w1 });
    agent.destroy();
    probe.destroy();
  });

  it('an idle keep-alive connection whose client stays silent is closed just before the shutdown timeout: the worker exits on its own', async () => {
    const { tree, rec, port } = await run(mode, { shutdown: 2000 });
    const w1 = tree.whichChildren('root/pool')[0]!.pid!;
    const { answer, agent } = await requestOn(port, w1, '/');
    await answer; // the connection is idle now
    const sockets = Object.values(agent.freeSockets).flat();
    expect(sockets).toHaveLength(1);
    const socketClosed = new Promise<void>((resolve) => sockets[0]!.once('close', () => resolve()));
    const terminated = rec.next((e) => e.event === 'child_terminated' && e.child === 'w1', 'w1 terminated');
    const began = Date.now();
    await tree.terminateChild('root/pool', 'w1');
    await socketClosed;
    // Held open for the client (nearly) until the deadline; the worker's keep-alive timeout is 60 s, so only the
    // drain closed it, and a SIGKILL would give { signal: 'SIGKILL' }.
    expect(Date.now() - began).toBeGreaterThanOrEqual(1500);
    expect(await terminated).toMatchObject({ reason: 'shutdown' });
    expect(rec.events.some((e) => (e as { event: string }).event === 'shutdown_timeout')).toBe(false);
    agent.destroy();
  });

  it('a request stuck past the shutdown timeout: the worker is SIGKILLed at the timeout', async () => {
    const { tree, rec, port } = await run(mode, { shutdown: 500 });
    const w1 = tree.whichChildren('root/pool')[0]!.pid!;
    const entered = rec.next((e) => e.event === 'worker_message' && e.pid === w1, 'the request in the handler');
    const { answer: stuck, agent } = await requestOn(port, w1, '/stuck?tell');
    await entered;
    await tree.terminateChild('root/pool', 'w1');
    expect(rec.of('child_terminated').find((e) => e.child === 'w1')).toMatchObject({ reason: { signal: 'SIGKILL' } });
    expect(rec.events.some((e) => (e as { event: string }).event === 'shutdown_timeout')).toBe(true);
    expect((await stuck).error).toBe('ECONNRESET');
    agent.destroy();
  });
});

describe('drainDelay', () => {
  it('the tree keeps serving new connections for drainDelay ms after stop(), then drains', async () => {
    const { tree, rec, port } = await run('shared', { drainDelay: 1500 });
    const stopped = tree.stop();
    await rec.waitFor((e) => e.event === 'drain_delay', 'drain_delay');
    // A moment into the delay (a fixed wait is the point: nothing may end within it), the tree still serves.
    await new Promise((r) => setTimeout(r, 300));
    expect(rec.of('child_terminated')).toEqual([]);
    expect(await get(port)).toMatchObject({ status: 200 });
    expect(await stopped).toBe('normal');
    expect(rec.of('child_terminated').map((e) => e.reason)).toEqual(['shutdown', 'shutdown', 'shutdown', 'shutdown']);
  });
});
