// Every observer of a tree shows its task host pools: the control socket's status and `arbor status`, the admin
// endpoint's /tree and /metrics (hosts alive, tasks per host, memory, host restarts by reason), and `arbor chaos`,
// which picks "hang a host" for hosted tasks by itself and counts every task of the hung host as hit. One real
// `arbor run` with a pool of two host processes, one real `arbor chaos` run against it. Needs the build.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChaosReport } from '../src/chaos/report.js';
import type { SupervisorStatus } from '../src/index.js';
import { arborChaos, arborCommand, controlRequest } from './support/arbor-run.js';
import { adminGet, startObservedRun, stopObservedRun, type ObservedRun } from './support/observed-run.js';
import { parsePrometheusText, sampleValue } from './support/prometheus.js';
import { fixture, isAlive } from './support/tree.js';

/** Fixed, so a failure can be replayed. */
const SEED = 19;

let run: ObservedRun;
/** Every host pid seen, killed after the run whatever happened (a hung host cannot run its orphan guard). */
const hostPids = new Set<number>();

async function status(): Promise<SupervisorStatus> {
  const answer = await controlRequest<SupervisorStatus>(run.arbor, 'status');
  for (const pool of answer.hosts ?? []) for (const host of pool.hosts) if (host.pid) hostPids.add(host.pid);
  return answer;
}

beforeAll(async () => {
  run = await startObservedRun(fixture('hosted-service-spec.mjs'), 'arbor-hosts-observers-');
}, 60_000);

afterAll(async () => {
  if (run !== undefined)
    await stopObservedRun(run, () => {
      for (const pid of hostPids) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // Gone with the tree, as it should be.
        }
      }
    });
  expect([...hostPids].filter(isAlive)).toEqual([]);
}, 60_000);

describe('a pool of task hosts, observed', () => {
  it('status shows the pool: its hosts alive, tasks per host, memory, no restarts yet; arbor status prints it', async () => {
    const root = await status();
    expect(root.hosts).toHaveLength(1);
    const pool = root.hosts![0]!;
    expect(pool).toMatchObject({ name: 'pool', kind: 'process', size: 2, alive: 2, tasks: 4 });
    expect(pool.restarts).toEqual({ heartbeat: 0, memory: 0, crash: 0 });
    expect(pool.hosts.map((h) => [h.slot, h.tasks])).toEqual([
      [0, 2],
      [1, 2],
    ]);
    for (const host of pool.hosts) {
      expect(host.pid).toEqual(expect.any(Number));
      expect(host.rss).toBeGreaterThan(10 * 2 ** 20);
    }
    // The status of a subtree does not repeat the tree-wide pools.
    expect((await controlRequest<SupervisorStatus>(run.arbor, 'status', { path: 'root/jobs' })).hosts).toBeUndefined();
    const printed = await arborCommand('status', '--control', run.arbor.control);
    expect(printed.code).toBe(0);
    expect(printed.stdout).toMatch(
      /^hosts {2}pool {2}process {2}2 of 2 up, 4 tasks {2}restarts: heartbeat 0, memory 0, crash 0 {2}\(slot 0 #\d+ pid \d+ 2 tasks \d+ MiB; slot 1/m,
    );
  });

  it('/tree carries the pools; /metrics has hosts up, tasks and RSS per host, host restarts by reason', async () => {
    const tree = JSON.parse(await adminGet(run, '/tree')) as SupervisorStatus;
    expect(tree.hosts?.map((p) => [p.name, p.alive, p.tasks])).toEqual([['pool', 2, 4]]);
    const metrics = parsePrometheusText(await adminGet(run, '/metrics'));
    expect(sampleValue(metrics, 'arbor_host_up', { pool: 'pool' })).toBe(2);
    expect(sampleValue(metrics, 'arbor_host_tasks', { pool: 'pool', host: '0' })).toBe(2);
    expect(sampleValue(metrics, 'arbor_host_tasks', { pool: 'pool', host: '1' })).toBe(2);
    expect(sampleValue(metrics, 'arbor_host_rss_bytes', { pool: 'pool', host: '0' })).toBeGreaterThan(10 * 2 ** 20);
    for (const reason of ['heartbeat', 'memory', 'crash'])
      expect(sampleValue(metrics, 'arbor_host_restarts_total', { pool: 'pool', reason })).toBe(0);
  });

  describe('arbor chaos against the hosted tasks', () => {
    let report: ChaosReport;

    beforeAll(async () => {
      await status();
      ({ report } = await arborChaos(
        ...['--url', `http://${run.service}/`, '--control', run.arbor.control, '--target', 'root/jobs'],
        ...['--duration', '6s', '--rate', '1', '--mix', 'hang', '--seed', String(SEED), '--json'],
      ));
    }, 90_000);

    it('picks hang for hosted tasks; each hang hits every task of its host; the report counts them', async () => {
      expect(report.problems).toEqual([]);
      expect(report.workers.atStartByKind).toEqual({ task: 4 });
      const hangs = report.timeline.faults.filter((f) => f.kind === 'hang' && f.hit.length > 0);
      expect(hangs.length).toBeGreaterThanOrEqual(1);
      expect(report.faults.byKind.hang).toBe(hangs.length);
      // Two tasks per host: a hang takes both, and both are counted as hit (and waited for in the settle).
      for (const fault of hangs) expect(fault.hit.map((h) => h.path.split('/')[1])).toEqual(['jobs', 'jobs']);
      expect(report.faults.workersHit).toBe(2 * hangs.length);
      expect(report.faults.workersHitByKind).toEqual({ task: 2 * hangs.length });
      expect(report.workers.settled).toBe(true);
      expect(report.workers.atEnd).toBe(4);

      // Each hang killed one host for its heartbeat: status and /metrics count it under that reason.
      let pool = (await status()).hosts![0]!;
      for (const until = Date.now() + 20_000; pool.restarts.heartbeat < hangs.length && Date.now() < until;)
        pool = await new Promise<SupervisorStatus>((r) => setTimeout(() => r(status()), 100)).then((s) => s.hosts![0]!);
      expect(pool.restarts).toEqual({ heartbeat: hangs.length, memory: 0, crash: 0 });
      expect(pool).toMatchObject({ alive: 2, tasks: 4 });
      const metrics = parsePrometheusText(await adminGet(run, '/metrics'));
      expect(sampleValue(metrics, 'arbor_host_restarts_total', { pool: 'pool', reason: 'heartbeat' })).toBe(
        hangs.length,
      );
      expect(sampleValue(metrics, 'arbor_host_restarts_total', { pool: 'pool', reason: 'crash' })).toBe(0);
    });
  });
});
