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
  const tree = await start(supervisor({
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
  }), { logger: rec.logger });
  running.push({ tree, rec });
  const port = Number(tree.whichChildren()[0]!.listener!.address!.split(':').pop());
  return { tree, rec, port };
}

/** A keep-alive agent with one connection, so every request of a test reuses it. */
const keepAlive = () => new http.Agent({ keepAlive: true, maxSockets: 1 });

/** Sends slow requests until one lands on `pid`'s worker (both workers serve the socket). */
async function requestOn(port: number, pid: number, path: string): Promise<{ answer: Promise<Answer>; agent: http.Agent }> {
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
    const { answer, agent } = await requestOn(port, w1, '/slow?ms=2000');
    await new Promise((r) => setTimeout(r, 300)); // the request is in the handler
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

  it('an idle keep-alive connection is closed and the worker exits long before its shutdown timeout', async () => {
    const { tree, rec, port } = await run(mode);
    const w1 = tree.whichChildren('root/pool')[0]!.pid!;
    const { answer, agent } = await requestOn(port, w1, '/');
    await answer; // the connection is idle now
    const socketClosed = new Promise<void>((resolve) => {
      const sockets = Object.values(agent.freeSockets).flat();
      expect(sockets).toHaveLength(1);
      sockets[0]!.once('close', () => resolve());
    });
    const terminated = rec.next((e) => e.event === 'child_terminated' && e.child === 'w1', 'w1 terminated');
    // shutdown is 20 s and the worker's keep-alive timeout 60 s: only the drain can close the connection this
    // soon, and a SIGKILL would give { signal: 'SIGKILL' }.
    await tree.terminateChild('root/pool', 'w1');
    await socketClosed;
    expect(await terminated).toMatchObject({ reason: 'shutdown' });
    agent.destroy();
  });

  it('a request stuck past the shutdown timeout: the worker is SIGKILLed at the timeout', async () => {
    const { tree, rec, port } = await run(mode, { shutdown: 500 });
    const w1 = tree.whichChildren('root/pool')[0]!.pid!;
    const { answer: stuck, agent } = await requestOn(port, w1, '/stuck');
    await new Promise((r) => setTimeout(r, 200));
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
    await new Promise((r) => setTimeout(r, 300));
    expect(rec.of('child_terminated')).toEqual([]);
    expect(await get(port)).toMatchObject({ status: 200 });
    expect(await stopped).toBe('normal');
    expect(rec.of('child_terminated').map((e) => e.reason)).toEqual(['shutdown', 'shutdown', 'shutdown', 'shutdown']);
  });
});
