// Every observer of a tree covers threads and tasks: the admin endpoint's /tree and /metrics, the control socket's
// status, and the chaos kit, which picks them as targets (throw and exit end a thread or a task alone; signals and
// memory need a process of their own), counts their restarts and draws them in its report. One real `arbor run` of
// a service with every kind of child, one real `arbor chaos` run against it. Needs the build (the CLI runs from dist/).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChaosReport } from '../src/chaos/report.js';
import { renderReport } from '../src/chaos/report.js';
import type { SupervisorStatus } from '../src/index.js';
import { arborChaos, controlRequest } from './support/arbor-run.js';
import { adminGet, startObservedRun, stopObservedRun, type ObservedRun } from './support/observed-run.js';
import { parsePrometheusText, sampleValue } from './support/prometheus.js';
import { fixture } from './support/tree.js';

/** Its schedule hits every kind of child several times (threads 2–4, tasks 5–6 in runs here); checked, not assumed. */
const SEED = 2;

let run: ObservedRun;

beforeAll(async () => {
  run = await startObservedRun(fixture('light-service-spec.mjs'), 'arbor-light-observers-');
  await controlRequest(run.arbor, 'start-child', { path: 'root/jobs', args: ['a'] });
}, 60_000);

afterAll(async () => {
  // A graceful stop ends every child (the thread and the tasks inside, the worker process); then, whatever happened,
  // nothing of the run is left: its process group and every worker it started are killed, its directory removed.
  if (run !== undefined) await stopObservedRun(run);
}, 60_000);

describe('observers of a tree with processes, threads and tasks', () => {
  it('/tree shows a task as type task and a thread as a worker of kind thread, neither with a pid', async () => {
    const tree = JSON.parse(await adminGet(run, '/tree')) as SupervisorStatus;
    const shown = tree.children.map((c) => [c.id, c.type, c.kind, c.status, c.pid === undefined]);
    expect(shown).toEqual([
      ['http', 'listener', undefined, 'running', true],
      ['web', 'worker', 'process', 'running', false],
      ['loop', 'task', undefined, 'running', true],
      ['jobs', 'supervisor', undefined, 'running', true],
      ['th', 'worker', 'thread', 'running', true],
    ]);
    expect(tree.children[3]!.supervisor!.children.map((c) => [c.id, c.type, c.status])).toEqual([
      ['job-1', 'task', 'running'],
    ]);
  });

  it('/metrics has arbor_child_up for the task, the dynamic tasks (summed) and the thread', async () => {
    const metrics = parsePrometheusText(await adminGet(run, '/metrics'));
    expect(sampleValue(metrics, 'arbor_child_up', { supervisor: 'root', child: 'loop', type: 'task' })).toBe(1);
    expect(sampleValue(metrics, 'arbor_child_up', { supervisor: 'root/jobs', child: '*', type: 'task' })).toBe(1);
    expect(sampleValue(metrics, 'arbor_child_up', { supervisor: 'root', child: 'th', type: 'worker' })).toBe(1);
    expect(sampleValue(metrics, 'arbor_dynamic_children', { supervisor: 'root/jobs' })).toBe(1);
  });

  describe('arbor chaos against it', () => {
    let report: ChaosReport;
    let html: string;

    beforeAll(async () => {
      ({ report } = await arborChaos(
        ...['--url', `http://${run.service}/`, '--control', run.arbor.control],
        ...['--duration', '6s', '--rate', '5', '--mix', 'sigkill,throw,exit,kill-all', '--seed', String(SEED)],
        ...['--json', '--report', join(run.dir, 'report.html')],
      ));
      html = readFileSync(join(run.dir, 'report.html'), 'utf8');
    }, 90_000);

    it('counts the workers by kind and hits threads and tasks with the faults that end them alone', () => {
      expect(report.workers.atStartByKind).toEqual({ process: 1, thread: 1, task: 2 });
      expect(report.workers.atStart).toBe(4);
      const hits = report.timeline.faults.flatMap((f) => f.hit.map((h) => ({ fault: f.kind, ...h })));
      const byKind = (kind: string) => hits.filter((h) => (h.kind ?? 'process') === kind);
      expect(byKind('thread').length).toBeGreaterThanOrEqual(1);
      expect(byKind('task').length).toBeGreaterThanOrEqual(1);
      expect(report.faults.workersHitByKind).toEqual({
        process: byKind('process').length,
        thread: byKind('thread').length,
        task: byKind('task').length,
      });
      // A thread or a task is hit only by throw and exit, and has no pid; signals and memory hit the process.
      for (const h of [...byKind('thread'), ...byKind('task')]) {
        expect(['throw', 'exit']).toContain(h.fault);
        expect(h.pid).toBeNull();
      }
      for (const h of byKind('process')) expect(h).toMatchObject({ path: 'root/web', pid: expect.any(Number) });
      expect(byKind('thread').every((h) => h.path === 'root/th')).toBe(true);
      expect(byKind('task').every((h) => h.path === 'root/loop' || h.path.startsWith('root/jobs/job-'))).toBe(true);
    });

    it('every thread or task it hit was restarted: one exit → ready span each, and the run settled', () => {
      expect(report.workers.settled).toBe(true);
      expect(report.timeline.restarts).toHaveLength(report.workers.restarts!);
      const light = report.timeline.faults.flatMap((f) =>
        f.hit.filter((h) => h.kind).map((h) => ({ at: f.atMs, ...h })),
      );
      for (const hit of light) {
        const span = report.timeline.restarts.find((s) => s.path === hit.path && s.exitMs >= hit.at - 1);
        expect(span, `a restart of ${hit.path} after ${hit.at} ms`).toMatchObject({ pid: null, newPid: null });
        expect(span!.readyMs).not.toBeNull();
      }
      expect(report.orphans).toEqual([]);
    });

    it('the text and the HTML report show the kinds', () => {
      const text = renderReport(report);
      expect(text).toContain('at start (process 1, thread 1, task 2)');
      expect(text).toMatch(/\n {2}hit {7}process \d+, thread \d+, task \d+\n/);
      expect(html).toMatch(/<th>workers hit by kind<\/th><td>process \d+, thread \d+, task \d+<\/td>/);
      expect(html).toContain('root/th (thread)');
      expect(html).toMatch(/root\/(loop|jobs\/job-\d+) \(task\)/);
    });

    it('the tree agrees: status and /metrics count the restarts of the thread and the tasks', async () => {
      const hitsOn = (path: string) =>
        report.timeline.faults.flatMap((f) => f.hit).filter((h) => h.path === path).length;
      const status = await controlRequest<SupervisorStatus>(run.arbor, 'status', { path: 'root' });
      const th = status.children.find((c) => c.id === 'th')!;
      const loop = status.children.find((c) => c.id === 'loop')!;
      expect([th.status, th.restarts]).toEqual(['running', hitsOn('root/th')]);
      expect([loop.status, loop.restarts]).toEqual(['running', hitsOn('root/loop')]);
      const metrics = parsePrometheusText(await adminGet(run, '/metrics'));
      const restarts = (child: string, supervisor = 'root') =>
        [...metrics.values()]
          .flatMap((f) => f.samples)
          .filter(
            (s) =>
              s.name === 'arbor_child_restarts_total' && s.labels.supervisor === supervisor && s.labels.child === child,
          )
          .reduce((sum, s) => sum + s.value, 0);
      expect(restarts('th')).toBe(hitsOn('root/th'));
      expect(restarts('loop')).toBe(hitsOn('root/loop'));
      const jobHits = report.timeline.faults.flatMap((f) => f.hit).filter((h) => h.path.startsWith('root/jobs/'));
      expect(restarts('*', 'root/jobs')).toBe(jobHits.length);
    });
  });
});
