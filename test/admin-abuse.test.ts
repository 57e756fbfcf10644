// The admin endpoint against clients that misbehave, on a real `arbor run --admin`: pipelining requests and never
// reading the answers, holding idle connections, scraping a tree of thousands of dynamic subtrees. The supervisor
// must keep answering probes and the control socket, and keep restarting workers. Needs the build (dist/).
import { readdirSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ControlClient } from '../src/control/client.js';
import { parsePrometheusText } from './support/prometheus.js';
import { arborRunScope, repo, spawnArborRun, type ArborRun } from './support/arbor-run.js';

const SPEC = join(repo, 'test/fixtures/engines/admin-dynamic-spec.mjs');
const { runs, tempDir } = arborRunScope('arbor-admin-abuse-');
const sockets: net.Socket[] = [];

async function runArbor(args: string[] = []): Promise<{ arbor: ArborRun; address: string; control: ControlClient }> {
  const arbor = spawnArborRun(SPEC, tempDir(), {}, { args: ['--admin', '127.0.0.1:0', ...args] });
  runs.push(arbor);
  const address = (await arbor.line((l) => l.event === 'admin_listening', 'admin_listening')).address as string;
  await arbor.line((l) => l.event === 'supervisor_started' && l.supervisor === 'root', 'root started');
  const control = new ControlClient(arbor.control, 60_000);
  return { arbor, address, control };
}

function get(address: string, path: string, timeoutMs = 20_000): Promise<{ status: number; body: string; ms: number }> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const req = http.get(`http://${address}${path}`, { agent: false, timeout: timeoutMs }, (res) => {
      let body = '';
      res.on('data', (chunk: Buffer) => (body += chunk.toString()));
      res.on('end', () => resolve({ status: res.statusCode!, body, ms: performance.now() - started }));
    });
    req.on('timeout', () => req.destroy(new Error(`no answer to ${path} within ${timeoutMs} ms`)));
    req.on('error', reject);
  });
}

/** A raw connection that writes `count` pipelined GETs of `path` and never reads an answer. */
function pipelineWithoutReading(address: string, path: string, count: number): net.Socket {
  const [host, port] = address.split(':');
  const socket = net.connect(Number(port), host);
  sockets.push(socket);
  socket.on('error', () => undefined);
  socket.pause();
  socket.once('connect', () => socket.write(`GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`.repeat(count)));
  return socket;
}

function idleConnection(address: string): Promise<net.Socket> {
  const [host, port] = address.split(':');
  return new Promise((resolve) => {
    const socket = net.connect(Number(port), host, () => resolve(socket));
    sockets.push(socket);
    socket.on('error', () => resolve(socket));
  });
}

/** Resumes a paused connection; resolves with the number of HTTP answers it had received when it closes. */
function answersUntilClosed(socket: net.Socket): Promise<number> {
  return new Promise((resolve, reject) => {
    let text = '';
    const timer = setTimeout(() => reject(new Error('the server kept the abusive connection open')), 20_000);
    socket.on('data', (chunk: Buffer) => (text += chunk.toString('latin1')));
    socket.once('close', () => (clearTimeout(timer), resolve(text.split('HTTP/1.1 ').length - 1)));
    socket.resume();
  });
}

const proc = async (control: ControlClient) =>
  (await control.request('proc')) as { pid: number; rss: number; fds: number };
const closeSockets = (): void => sockets.splice(0).forEach((s) => s.destroy());

/** A worker of `arbor` is SIGKILLed; resolves with the ms until its replacement is ready. */
async function restartLatency(arbor: ArborRun, child: string, deadlineMs: number): Promise<number> {
  const before = arbor.lines.filter((l) => l.event === 'child_started' && l.child === child);
  const started = performance.now();
  process.kill(before.at(-1)!.pid!, 'SIGKILL');
  await arbor.line(
    (l) => l.event === 'child_started' && l.child === child && !before.includes(l),
    `${child} restarted`,
    deadlineMs,
  );
  return performance.now() - started;
}

async function startRooms(control: ControlClient, count: number): Promise<void> {
  for (let i = 0; i < count; i += 100) {
    await Promise.all(
      Array.from({ length: Math.min(100, count - i) }, () => control.request('start-child', { path: 'root/rooms' })),
    );
  }
}

describe('arbor run --admin against misbehaving clients', () => {
  it('20 connections pipelining 2,000 /metrics each and never reading: probes, the control socket and restarts carry on; descriptors stay bounded', async () => {
    const { arbor, address, control } = await runArbor();
    const fdsBefore = (await proc(control)).fds;
    try {
      const abusers = Array.from({ length: 20 }, () => pipelineWithoutReading(address, '/metrics', 2000));
      for (let probe = 0; probe < 5; probe++) {
        const healthz = await get(address, '/healthz', 5_000);
        expect(healthz.status).toBe(200);
      }
      const { fds } = await proc(control);
      expect(fds).toBeLessThan(fdsBefore + 60);
      expect(await restartLatency(arbor, 'w', 10_000)).toBeLessThan(10_000);
      // Each abuser was dropped for pipelining that deep rather than served 2,000 answers: reading now, it finds a
      // handful of answers, then the end.
      const answers = await Promise.all(abusers.map(answersUntilClosed));
      expect(Math.max(...answers)).toBeLessThanOrEqual(5);
    } finally {
      closeSockets();
    }
  });

  it('200 idle connections: /healthz still answers every probe, the idle ones make room', async () => {
    const { address } = await runArbor();
    try {
      await Promise.all(Array.from({ length: 200 }, () => idleConnection(address)));
      for (let probe = 0; probe < 10; probe++) {
        const healthz = await get(address, '/healthz', 3_000);
        expect(healthz.status).toBe(200);
      }
    } finally {
      closeSockets();
    }
  });

  it('/tree of 2,000 dynamic subtrees is paged and bounded; non-readers of it cannot grow the supervisor', async () => {
    const { arbor, address, control } = await runArbor();
    await startRooms(control, 2000);
    const first = await get(address, '/tree');
    expect(first.status).toBe(200);
    expect(first.body.length).toBeLessThan(1024 * 1024);
    const tree = JSON.parse(first.body) as {
      children: Array<{ id: string; supervisor?: { children: unknown[]; page?: { total: number; next?: string } } }>;
    };
    const rooms = tree.children.find((c) => c.id === 'rooms')!.supervisor!;
    expect(rooms.children).toHaveLength(100);
    expect(rooms.page).toMatchObject({
      offset: 0,
      shown: 100,
      total: 2000,
      next: '/tree?path=root%2Frooms&offset=100',
    });
    const last = JSON.parse((await get(address, '/tree?path=root%2Frooms&offset=1950')).body) as {
      path: string;
      children: Array<{ id: string }>;
      page: object;
    };
    expect(last.path).toBe('root/rooms');
    expect(last.children).toHaveLength(50);
    expect(last.page).toEqual({ offset: 1950, shown: 50, total: 2000 });
    expect((await get(address, '/tree?path=root%2Fnope')).status).toBe(404);

    const rssBefore = (await proc(control)).rss;
    try {
      for (let i = 0; i < 20; i++) pipelineWithoutReading(address, '/tree', 500);
      for (let probe = 0; probe < 5; probe++) expect((await get(address, '/healthz', 5_000)).status).toBe(200);
      const { rss } = await proc(control);
      expect(rss - rssBefore).toBeLessThan(150 * 1024 * 1024);
      expect(await restartLatency(arbor, 'w', 10_000)).toBeLessThan(10_000);
    } finally {
      closeSockets();
    }
  });

  it('/metrics series follow the spec, not the number of dynamic children', async () => {
    const { address, control } = await runArbor();
    const series = async (): Promise<string[]> => {
      const text = (await get(address, '/metrics')).body;
      return [...parsePrometheusText(text).values()]
        .filter((f) => f.name.startsWith('arbor_'))
        .flatMap((f) => f.samples.map((s) => `${s.name}${JSON.stringify(s.labels)}`));
    };
    await startRooms(control, 10);
    const few = await series();
    await startRooms(control, 1990);
    // Answers are rebuilt from a new snapshot once it is older than the interval.
    const deadline = Date.now() + 30_000;
    let many = await series();
    const rooms = (text: string[]) =>
      text.find((s) => s.startsWith('arbor_dynamic_children{"supervisor":"root/rooms"}'));
    while (
      Date.now() < deadline &&
      !/2000/.test(
        String(
          (await get(address, '/metrics')).body.match(/arbor_dynamic_children\{supervisor="root\/rooms"\} (\d+)/)?.[1],
        ),
      )
    ) {
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    many = await series();
    expect(rooms(many)).toBeDefined();
    expect(many.sort()).toEqual(few.sort());
    const text = (await get(address, '/metrics')).body;
    expect(text).toMatch(/arbor_dynamic_children\{supervisor="root\/rooms"\} 2000/);
    expect(text).toMatch(/arbor_supervisor_state\{supervisor="root\/rooms\/\*",state="running"\} 2000/);
  });
});

describe('the admin endpoint speaks plain HTTP/1.1', () => {
  it('a keep-alive client (as Prometheus) gets every answer on one connection; HEAD gets the head only; a body or a trickled head is refused', async () => {
    const { address } = await runArbor();
    const [host, port] = address.split(':');
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const sockets = new Set<net.Socket>();
    try {
      for (let i = 0; i < 10; i++) {
        const answer = await new Promise<{ status: number; body: string }>((resolve, reject) => {
          http
            .get({ host, port: Number(port), path: i % 2 ? '/metrics' : '/readyz', agent }, (res) => {
              sockets.add(res.socket);
              let body = '';
              res.on('data', (chunk: Buffer) => (body += chunk.toString()));
              res.on('end', () => resolve({ status: res.statusCode!, body }));
            })
            .on('error', reject);
        });
        expect(answer.status).toBe(200);
        expect(answer.body.length).toBeGreaterThan(0);
      }
      expect(sockets.size).toBe(1);
    } finally {
      agent.destroy();
    }

    const raw = (text: string): Promise<string> =>
      new Promise((resolve) => {
        const socket = net.connect(Number(port), host, () => socket.write(text));
        let got = '';
        socket.on('data', (chunk: Buffer) => (got += chunk.toString()));
        socket.on('error', () => undefined);
        socket.on('close', () => resolve(got));
      });
    const head = await raw('HEAD /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    expect(head).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(head).toMatch(/\r\nContent-Length: \d+\r\n/);
    expect(head.endsWith('\r\n\r\n')).toBe(true);
    expect(await raw('POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello')).toMatch(
      /^HTTP\/1\.1 400 /,
    );
    // A head over 8 KiB: 431 and closed (the client may see only the reset, as it was still sending).
    const oversized = await raw(`GET /healthz HTTP/1.1\r\nX: ${'y'.repeat(20_000)}\r\n\r\n`);
    expect(oversized).not.toContain('200 OK');
    if (oversized) expect(oversized).toMatch(/^HTTP\/1\.1 431 /);

    // Slowloris: a head sent a byte at a time never completes within the headers timeout (2 s): closed.
    const trickled = await new Promise<{ closedAfterMs: number; got: string }>((resolve) => {
      const begun = performance.now();
      const socket = net.connect(Number(port), host);
      let got = '';
      const text = `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ${'z'.repeat(100)}`;
      let sent = 0;
      const timer = setInterval(() => (sent < text.length ? socket.write(text[sent++]!) : undefined), 100);
      socket.on('data', (chunk: Buffer) => (got += chunk.toString()));
      socket.on('error', () => undefined);
      socket.on('close', () => (clearInterval(timer), resolve({ closedAfterMs: performance.now() - begun, got })));
    });
    expect(trickled.got).toBe('');
    expect(trickled.closedAfterMs).toBeLessThan(10_000);
  });
});

describe('/tree and crash text', () => {
  const crashDb = async (arbor: ArborRun): Promise<void> => {
    const db = arbor.lines.find((l) => l.event === 'child_started' && l.child === 'db')!;
    process.kill(db.pid!, 'SIGUSR1');
    await arbor.line((l) => l.event === 'child_started' && l.child === 'db' && l.pid !== db.pid, 'db restarted');
  };
  const dbOf = (body: string) =>
    (JSON.parse(body) as { children: Array<{ id: string; lastExit?: unknown }> }).children.find((c) => c.id === 'db')!;

  it('by default shows the kind of an exit, never its error text or stack', async () => {
    const { arbor, address } = await runArbor();
    await crashDb(arbor);
    let body = '';
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline && dbOf(body || '{"children":[]}')?.lastExit === undefined) {
      body = (await get(address, '/tree')).body;
      if (dbOf(body)?.lastExit === undefined) await new Promise((resolve) => setTimeout(resolve, 200));
    }
    expect(dbOf(body).lastExit).toEqual({ error: '[hidden]' });
    expect(body).not.toContain('hunter2');
    expect(body).not.toContain('stack');
  });

  it('--admin-errors shows them', async () => {
    const { arbor, address } = await runArbor(['--admin-errors']);
    await crashDb(arbor);
    let lastExit: unknown;
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline && lastExit === undefined) {
      lastExit = dbOf((await get(address, '/tree')).body).lastExit;
      if (lastExit === undefined) await new Promise((resolve) => setTimeout(resolve, 200));
    }
    expect(lastExit).toMatchObject({
      error: 'connect failed: postgres://app:hunter2@db.internal:5432/app',
      stack: expect.stringContaining('crash-on-signal.mjs'),
    });
  });
});

describe('metric series of dynamic children', () => {
  const restartSeries = (text: string) =>
    [...parsePrometheusText(text).values()].find((f) => f.name === 'arbor_child_restarts_total')?.samples ?? [];

  it('--admin-child-metrics: a removed dynamic child takes its series with it', async () => {
    const { arbor, address, control } = await runArbor(['--admin-child-metrics']);
    const jobs = await Promise.all(
      [1, 2, 3, 4].map(
        () => control.request('start-child', { path: 'root/jobs' }) as Promise<{ id: string; pid: number }>,
      ),
    );
    for (const job of jobs) {
      process.kill(job.pid, 'SIGHUP');
      await arbor.line(
        (l) => l.event === 'child_started' && l.child === job.id && l.pid !== job.pid,
        `${job.id} restarted`,
      );
    }
    const until = async (check: (text: string) => boolean): Promise<string> => {
      const deadline = Date.now() + 30_000;
      for (;;) {
        const text = (await get(address, '/metrics')).body;
        if (check(text) || Date.now() > deadline) return text;
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    };
    const withSeries = await until(
      (text) => restartSeries(text).filter((s) => s.labels.supervisor === 'root/jobs').length === 4,
    );
    expect(
      restartSeries(withSeries)
        .filter((s) => s.labels.supervisor === 'root/jobs')
        .map((s) => s.labels.child)
        .sort(),
    ).toEqual(jobs.map((j) => j.id).sort());
    for (const job of jobs) await control.request('stop-child', { path: `root/jobs/${job.id}` });
    const after = await until((text) => restartSeries(text).every((s) => s.labels.supervisor !== 'root/jobs'));
    expect(restartSeries(after).filter((s) => s.labels.supervisor === 'root/jobs')).toEqual([]);
    expect(after).not.toMatch(/child="job-/);
  });

  it('by default: restarts of dynamic children are summed under child="*"; none is left per child', async () => {
    const { arbor, address, control } = await runArbor();
    const jobs = await Promise.all(
      [1, 2].map(() => control.request('start-child', { path: 'root/jobs' }) as Promise<{ id: string; pid: number }>),
    );
    for (const job of jobs) {
      process.kill(job.pid, 'SIGHUP');
      await arbor.line(
        (l) => l.event === 'child_started' && l.child === job.id && l.pid !== job.pid,
        `${job.id} restarted`,
      );
    }
    for (const job of jobs) await control.request('stop-child', { path: `root/jobs/${job.id}` });
    const text = (await get(address, '/metrics')).body;
    expect(restartSeries(text).filter((s) => s.labels.supervisor === 'root/jobs')).toEqual([
      expect.objectContaining({ labels: { supervisor: 'root/jobs', child: '*', reason: 'code' }, value: 2 }),
    ]);
    expect(text).not.toMatch(/child="job-/);
  });
});

it('readdir of /proc/self/fd works here (the descriptor counts above are real)', () => {
  expect(readdirSync('/proc/self/fd').length).toBeGreaterThan(0);
});
