// A listener inside a supervision tree: workers that name it get its socket at every (re)start, through the tree.
import http from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { listener, start, supervisor, worker, type ListenerMode, type Tree } from '../src/index.js';
import { fixture, isAlive, reap, recorder, type Recorder } from './support/tree.js';

const running: Array<{ tree: Tree; rec: Recorder }> = [];
afterEach(async () => {
  for (const { tree, rec } of running.splice(0)) {
    await tree.stop({ brutal: true }).catch(() => undefined);
    reap(rec.of('child_started').map((e) => e.pid));
  }
});

/** One GET on a new connection: the answering worker's pid, or the error code. */
function get(port: number, path = '/'): Promise<{ pid?: number; error?: string }> {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path, agent: false, timeout: 20_000 }, (res) => {
      let body = '';
      res.on('data', (chunk) => (body += chunk)).on('end', () => resolve({ pid: Number(body) }));
    });
    req.on('timeout', () => req.destroy(Object.assign(new Error('timeout'), { code: 'TIMEOUT' })));
    req.on('error', (error: NodeJS.ErrnoException) => resolve({ error: error.code ?? error.message }));
  });
}

async function run(spec: ReturnType<typeof supervisor>) {
  const rec = recorder();
  const tree = await start(spec, { logger: rec.logger });
  running.push({ tree, rec });
  const port = tree
    .whichChildren()
    .find((c) => c.type === 'listener')!
    .listener!.address!.split(':')
    .pop();
  return { tree, rec, port: Number(port) };
}

const web = (id: string) => worker({ id, module: fixture('http-echo.mjs'), listen: 'http' });

describe.each<ListenerMode>(['shared', 'round_robin'])('a %s listener in a tree', (mode) => {
  it('rest_for_one [listener, pool]: the pool serves; when every worker dies, requests wait and are answered by the replacements', async () => {
    const { tree, rec, port } = await run(
      supervisor({
        strategy: 'rest_for_one',
        children: [
          listener({ id: 'http', port: 0, mode }),
          supervisor({ id: 'pool', intensity: 10, children: [web('w1'), web('w2')] }),
        ],
      }),
    );
    const before = tree.whichChildren('root/pool').map((c) => c.pid!);
    expect(before).toContain((await get(port)).pid);

    const back = Promise.all(
      ['w1', 'w2'].map((id) => rec.next((e) => e.event === 'child_started' && e.child === id, `${id} back`)),
    );
    for (const pid of before) process.kill(pid, 'SIGKILL');
    // Sent while no worker may be alive: waits in the backlog (shared) or the listener's queue (round_robin).
    const during = await Promise.all(Array.from({ length: 10 }, () => get(port)));
    await back;
    const after = tree.whichChildren('root/pool').map((c) => c.pid!);
    // Only a connection a dying worker had already accepted may be reset; none is refused or times out.
    expect(during.filter((r) => r.error !== undefined && r.error !== 'ECONNRESET')).toEqual([]);
    for (const r of during.filter((x) => x.pid !== undefined)) expect([...before, ...after]).toContain(r.pid);
    expect(after).toContain((await get(port)).pid);
    expect(tree.whichChildren()[0]).toMatchObject({ restarts: 0, listener: { mode, serving: 2 } });
  });

  it('one_for_all [listener, worker]: a worker crash restarts the listener, and the new worker gets the new socket', async () => {
    const { tree, rec, port } = await run(
      supervisor({
        strategy: 'one_for_all',
        intensity: 3,
        children: [listener({ id: 'http', port: 0, mode }), web('w1')],
      }),
    );
    const first = tree.whichChildren()[1]!.pid!;
    const back = rec.next((e) => e.event === 'child_started' && e.child === 'w1', 'w1 back');
    process.kill(first, 'SIGKILL');
    await back;
    expect(rec.of('child_started').map((e) => e.child)).toEqual(['http', 'w1', 'http', 'w1']);
    // The port was bound anew (port 0 → possibly another one): read it again and be served there.
    const newPort = Number(tree.whichChildren()[0]!.listener!.address!.split(':').pop());
    const answer = await get(newPort);
    expect(answer.pid).toBe(tree.whichChildren()[1]!.pid);
    expect(isAlive(first)).toBe(false);
    expect(port).toBeGreaterThan(0);
  });
});
