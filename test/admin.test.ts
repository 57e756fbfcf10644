// The admin endpoint of `arbor run --admin`: probes and metrics over real HTTP while the tree starts, crashes,
// gives up and stops. Needs the build (the CLI runs from dist/).
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { liveness, readiness, type ProbeInput } from '../src/admin/probes.js';
import { parseAdminAddress } from '../src/admin/server.js';
import type { SupervisorStatus } from '../src/index.js';
import { parsePrometheusText, type Family } from './support/prometheus.js';
import { repo, spawnArborRun, type ArborRun, killArborRun } from './support/arbor-run.js';

const SPEC = join(repo, 'test/fixtures/engines/admin-spec.mjs');

const cleanups: Array<() => void | Promise<unknown>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function runArbor(env: Record<string, string> = {}): ArborRun {
  const dir = mkdtempSync(join(tmpdir(), 'arbor-admin-'));
  const arbor = spawnArborRun(SPEC, dir, env, { args: ['--admin', '127.0.0.1:0'] });
  cleanups.push(async () => {
    await killArborRun(arbor);
    rmSync(dir, { recursive: true, force: true });
  });
  return arbor;
}

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

function request(address: string, path: string, method = 'GET'): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request(`http://${address}${path}`, { method, agent: false, timeout: 20_000 }, (res) => {
      let body = '';
      res.on('data', (chunk: Buffer) => (body += chunk.toString()));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
    });
    req.on('timeout', () => req.destroy(new Error(`timeout ${path}`)));
    req.on('error', reject);
    req.end();
  });
}

const json = (answer: Answer): { status: string; reasons: string[] } => JSON.parse(answer.body);

async function adminAddress(arbor: ArborRun): Promise<string> {
  return (await arbor.line((l) => l.event === 'admin_listening', 'admin_listening')).address as string;
}

async function metrics(address: string): Promise<Map<string, Family>> {
  const answer = await request(address, '/metrics');
  expect(answer.status).toBe(200);
  expect(answer.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
  return parsePrometheusText(answer.body);
}

/** The value of the sample `name` (a histogram's `_count` too) with these labels. */
const value = (families: Map<string, Family>, name: string, labels: Record<string, string>): number | undefined =>
  [...families.values()]
    .flatMap((f) => f.samples)
    .find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value;

async function until<T>(probe: () => Promise<T | undefined>, what: string, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = await probe();
    if (found !== undefined) return found;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

describe('arbor run --admin', () => {
  it('starting: /readyz 503 until the tree runs, /healthz 200 meanwhile; then ready', async () => {
    const arbor = runArbor({ SLOW_READY_MS: '3000' });
    const address = await adminAddress(arbor);
    const starting = await request(address, '/readyz');
    expect(arbor.lines.some((l) => l.event === 'supervisor_started' && l.supervisor === 'root')).toBe(false);
    expect(starting.status).toBe(503);
    expect(json(starting)).toEqual({ status: 'not_ready', reasons: ['the tree is starting'] });
    expect((await request(address, '/healthz')).status).toBe(200);
    await arbor.line((l) => l.event === 'supervisor_started' && l.supervisor === 'root', 'root started');
    const ready = await until(async () => {
      const answer = await request(address, '/readyz');
      return answer.status === 200 ? answer : undefined;
    }, 'ready');
    expect(json(ready)).toEqual({ status: 'ready', reasons: [] });
  });

  it('crashes: readiness holds while a worker restarts (its connections wait in the backlog); restart counters match the event log', async () => {
    const arbor = runArbor();
    const address = await adminAddress(arbor);
    await arbor.line((l) => l.event === 'supervisor_started' && l.supervisor === 'root', 'root started');

    let probing = true;
    const readyz: number[] = [];
    const prober = (async () => {
      while (probing) readyz.push((await request(address, '/readyz')).status);
    })();
    for (let crash = 0; crash < 3; crash += 1) {
      const child = `w${(crash % 2) + 1}`;
      const before = arbor.lines.filter((l) => l.event === 'child_started' && l.child === child);
      process.kill(before.at(-1)!.pid!, 'SIGKILL');
      await arbor.line(
        (l) => l.event === 'child_started' && l.child === child && !before.includes(l),
        `${child} restarted`,
      );
    }
    probing = false;
    await prober;
    expect(readyz.length).toBeGreaterThan(0);
    expect(readyz.filter((s) => s !== 200)).toEqual([]);

    // Answers are built from a status snapshot at most a second old: wait for one taken after the last restart.
    const families = await until(async () => {
      const found = await metrics(address);
      return value(found, 'arbor_child_up', { supervisor: 'root/pool', child: 'w1', type: 'worker' }) === 1 &&
        value(found, 'arbor_supervisor_state', { supervisor: 'root/pool', state: 'running' }) === 1 &&
        Math.abs(value(found, 'arbor_restart_intensity_ratio', { supervisor: 'root/pool' })! - 0.3) < 1e-9 &&
        value(found, 'arbor_restart_seconds_count', { supervisor: 'root/pool' }) === 3
        ? found
        : undefined;
    }, 'metrics after the last restart');
    // One counter increment per child_restarting event, labelled with the exit that caused it.
    const restarting = arbor.lines.filter((l) => l.event === 'child_restarting');
    for (const child of ['w1', 'w2']) {
      const events = restarting.filter((l) => l.supervisor === 'root/pool' && l.child === child).length;
      expect(value(families, 'arbor_child_restarts_total', { supervisor: 'root/pool', child, reason: 'signal' })).toBe(
        events,
      );
    }
    expect(families.get('arbor_child_restarts_total')!.samples.reduce((sum, s) => sum + s.value, 0)).toBe(
      restarting.length,
    );
    expect(value(families, 'arbor_restart_seconds_count', { supervisor: 'root/pool' })).toBe(3);
    const sum = value(families, 'arbor_restart_seconds_sum', { supervisor: 'root/pool' })!;
    expect(sum).toBeGreaterThan(0);
    expect(sum).toBeLessThan(30);
    expect(value(families, 'arbor_child_up', { supervisor: 'root/pool', child: 'w1', type: 'worker' })).toBe(1);
    expect(value(families, 'arbor_supervisor_state', { supervisor: 'root/pool', state: 'running' })).toBe(1);
    expect(value(families, 'arbor_supervisor_state', { supervisor: 'root/pool', state: 'failed' })).toBe(0);
    expect(value(families, 'arbor_restart_intensity_ratio', { supervisor: 'root/pool' })).toBeCloseTo(3 / 10);
    expect(value(families, 'arbor_restart_intensity_ratio', { supervisor: 'root' })).toBe(0);
    expect(value(families, 'arbor_listener_connections', { listener: 'root/web', state: 'queued' })).toBe(0);
    expect(value(families, 'arbor_worker_rss_bytes', { supervisor: 'root/pool', child: 'w2' })).toBeGreaterThan(
      10 * 1024 * 1024,
    );
    // prom-client's default process metrics describe the supervisor's own process.
    expect(families.get('process_resident_memory_bytes')?.samples[0]?.value).toBeGreaterThan(0);
    expect(families.get('nodejs_eventloop_lag_seconds')?.type).toBe('gauge');
  });

  it('give-up: readiness and liveness turn 503 with the reason while the root terminates its children', async () => {
    const arbor = runArbor({ INTENSITY: '0', STUBBORN: '1', STUBBORN_MS: '3000' });
    const address = await adminAddress(arbor);
    await arbor.line((l) => l.event === 'supervisor_started' && l.supervisor === 'root', 'root started');
    const w1 = arbor.lines.find((l) => l.event === 'child_started' && l.child === 'w1')!;
    process.kill(w1.pid!, 'SIGKILL');
    await arbor.line((l) => l.event === 'max_intensity_reached' && l.supervisor === 'root', 'the root gave up');
    const readyz = await request(address, '/readyz');
    const healthz = await request(address, '/healthz');
    expect(readyz.status).toBe(503);
    expect(json(readyz).reasons).toEqual(['the root supervisor gave up (max restart intensity)']);
    expect(healthz.status).toBe(503);
    expect(json(healthz).reasons).toEqual(['the root supervisor gave up (max restart intensity)']);
    const families = await metrics(address);
    expect(value(families, 'arbor_supervisor_state', { supervisor: 'root', state: 'shuttingDown' })).toBe(1);
    expect((await arbor.exited).code).toBe(1);
  });

  it('SIGTERM: readiness is 503 at once while the workers keep serving through drainDelay; liveness stays 200', async () => {
    const arbor = runArbor({ DRAIN_DELAY: '2000' });
    const address = await adminAddress(arbor);
    const service = (await arbor.line((l) => l.event === 'listener_bound', 'listener_bound')).address as string;
    await arbor.line((l) => l.event === 'supervisor_started' && l.supervisor === 'root', 'root started');
    expect((await request(address, '/readyz')).status).toBe(200);

    process.kill(arbor.proc.pid!, 'SIGTERM');
    await arbor.line((l) => l.event === 'tree_stopping', 'tree_stopping');
    const readyz = await request(address, '/readyz');
    expect(readyz.status).toBe(503);
    expect(json(readyz).reasons).toEqual(['the tree is stopping (draining)']);
    expect((await request(address, '/healthz')).status).toBe(200);
    // Still inside the drain delay: the service answers.
    const served = await request(service, '/');
    expect(served.status).toBe(200);
    expect(arbor.lines.some((l) => l.event === 'child_terminated')).toBe(false);
    expect((await arbor.exited).code).toBe(0);
  });

  it('a blocked supervisor loop makes /healthz 503 with the lag; other paths 404, other methods 405; /tree is the status', async () => {
    const marks = mkdtempSync(join(tmpdir(), 'arbor-admin-block-'));
    cleanups.push(() => rmSync(marks, { recursive: true, force: true }));
    const blocking = join(marks, 'blocking');
    const arbor = runArbor({ BLOCK_MS: '2600', BLOCK_MARK: blocking });
    const address = await adminAddress(arbor);
    await arbor.line((l) => l.event === 'supervisor_started' && l.supervisor === 'root', 'root started');

    process.kill(arbor.proc.pid!, 'SIGUSR2');
    await until(async () => (existsSync(blocking) ? true : undefined), 'the block begun');
    const during = await request(address, '/healthz'); // answered once the loop turns again
    expect(during.status).toBe(503);
    expect(json(during).reasons[0]).toMatch(/^event loop lag \d+ ms exceeds 2000 ms$/);
    await until(async () => ((await request(address, '/healthz')).status === 200 ? true : undefined), 'healthy again');

    expect((await request(address, '/nope')).status).toBe(404);
    const post = await request(address, '/healthz', 'POST');
    expect(post.status).toBe(405);
    expect(post.headers.allow).toBe('GET, HEAD');
    const tree = JSON.parse((await request(address, '/tree')).body) as SupervisorStatus;
    expect(tree).toMatchObject({ path: 'root', state: 'running', strategy: 'rest_for_one' });
    expect(tree.children.map((c) => c.id)).toEqual(['web', 'pool', 'slow']);
  });
});

describe('probe decisions', () => {
  const status = (state: string, listening = true): SupervisorStatus => ({
    path: 'root',
    state,
    strategy: 'one_for_one',
    intensity: { restarts: 0, limit: 1, period: 5000 },
    children: [
      {
        id: 'web',
        type: 'listener',
        pid: undefined,
        status: 'running',
        restarts: 0,
        uptime: 1,
        restart: 'permanent',
        listener: { address: '127.0.0.1:1', mode: 'shared', listening, serving: 0 },
      },
    ],
  });
  const input = (over: Partial<ProbeInput>): ProbeInput => ({
    phase: 'running',
    status: status('running'),
    lagMs: 0,
    maxLagMs: 2000,
    ...over,
  });

  it('a listener whose workers are all restarting is ready; one nobody has listened on yet is not', () => {
    expect(readiness(input({})).ok).toBe(true);
    expect(readiness(input({ status: status('restarting') })).ok).toBe(true);
    expect(readiness(input({ status: status('running', false) })).body.reasons).toEqual([
      'listener root/web is not listening yet (no worker has served it)',
    ]);
  });

  it('liveness: alive while restarting and while stopping; not after giving up or with a lagging loop', () => {
    expect(liveness(input({ status: status('restarting') })).ok).toBe(true);
    expect(liveness(input({ phase: 'stopping', status: status('shuttingDown') })).ok).toBe(true);
    expect(liveness(input({ phase: 'gave_up' })).ok).toBe(false);
    expect(liveness(input({ lagMs: 2500 })).body.reasons).toEqual(['event loop lag 2500 ms exceeds 2000 ms']);
  });

  it('--admin takes host:port', () => {
    expect(parseAdminAddress('127.0.0.1:9091')).toEqual({ host: '127.0.0.1', port: 9091 });
    expect(parseAdminAddress('[::1]:9091')).toEqual({ host: '::1', port: 9091 });
    expect(parseAdminAddress(':9091')).toEqual({ host: '127.0.0.1', port: 9091 });
    expect(parseAdminAddress('0.0.0.0:9091')).toEqual({ host: '0.0.0.0', port: 9091 });
    expect(() => parseAdminAddress('localhost')).toThrow(
      "--admin takes host:port (e.g. 127.0.0.1:9091), got 'localhost'",
    );
    expect(() => parseAdminAddress('h:70000')).toThrow();
  });
});
