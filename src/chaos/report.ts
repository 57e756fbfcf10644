// The result of a chaos run: one JSON-ready object (`--json`), and its rendering for a person.
import type { ProcStats } from '../control/client.js';
import type { FailureKind } from './load.js';
import type { OrphanProcess } from './orphans.js';
import type { FaultKind } from './plan.js';
import type { WorkerRefKind } from './target.js';
import type { ChaosTimeline } from './timeline.js';

/** The result of a chaos run: what `runChaos` resolves with and `arbor chaos --json` prints. */
export interface ChaosReport {
  /** What was acted on, in words (`arbor (all workers) at <socket>`). */
  target: string;
  /** The URL the load was sent to. */
  url: string;
  /** The seed of the fault schedule. */
  seed: number;
  /** How long the load ran, in ms. */
  durationMs: number;
  /** Faults per second, as asked. */
  rate: number;
  /** The fault kinds and their weights, as `--mix` text. */
  mix: string;
  /** Requests in flight at once. */
  concurrency: number;
  /** Per-request timeout, in ms. */
  timeoutMs: number;
  /** The command line that replays this run's fault schedule. */
  replay: string;
  /** What the clients saw. */
  requests: {
    /** Requests sent. */
    sent: number;
    /** Requests answered with a complete 2xx. */
    answered: number;
    /** Every request that did not get a complete 2xx answer. */
    failed: number;
    /** The failed requests by kind: refused, reset, timeout, non2xx, other. */
    errors: Record<FailureKind, number>;
    /** A few messages behind `other` and `non2xx`. */
    samples: string[];
  };
  /** The faults of the schedule. */
  faults: {
    /** Faults the schedule held. */
    planned: number;
    /** Faults delivered. */
    injected: number;
    /** Faults not delivered (`skipReasons` says why). */
    skipped: number;
    /** Injected faults by kind. */
    byKind: Partial<Record<FaultKind, number>>;
    /** Worker incarnations the injected faults ended (kill-all ends several). */
    workersHit: number;
    /** The same, by kind of child: `process`, `thread`, `task`. */
    workersHitByKind: Partial<Record<WorkerRefKind, number>>;
    /** Why faults were skipped (not counted as injected), the most frequent first, with counts: at most 5. */
    skipReasons: string[];
  };
  /** The tree's workers over the run. */
  workers: {
    /** Running workers when the load began. */
    atStart: number;
    /** The same, by kind of child: `process`, `thread`, `task`. */
    atStartByKind: Partial<Record<WorkerRefKind, number>>;
    /** Running workers at the end. */
    atEnd: number;
    /** Restarts counted by the supervisor during the run; null when it keeps no counters. */
    restarts: number | null;
    /** Worker pids that changed during the run. */
    pidChanges: number;
    /** max_intensity_reached events during the run; null when the target has no event log. */
    intensityTrips: number | null;
    /** Events the run could not read (the log's ring moved past them). */
    eventsMissed: number;
    /** Every faulted worker was replaced and the pool was back to its size before the end measurements. */
    settled: boolean;
  };
  /** How fast the service answered again after each fault. */
  recovery: {
    /** ms from a fault to the first 2xx answer to a request sent after it. */
    medianMs: number | null;
    /** The 95th percentile of the same, in ms. */
    p95Ms: number | null;
    /** The longest, in ms. */
    maxMs: number | null;
    /** Faults after which nothing was answered before the run ended. */
    unrecovered: number;
  };
  /** The supervisor's RSS and descriptors before and after (null: not measurable). */
  supervisor: {
    /** Before the load. */
    start: ProcStats | null;
    /** After the load and settling. */
    end: ProcStats | null;
  };
  /** Worker processes reparented to init during the run. */
  orphans: OrphanProcess[];
  /** Things that went wrong with the run itself (e.g. the control socket went away). */
  problems: string[];
  /** Per-100 ms buckets, fault times and restart spans: what the HTML report draws. */
  timeline: ChaosTimeline;
}

const MiB = 1024 * 1024;
const ms = (value: number | null): string => (value === null ? '-' : `${Math.round(value)} ms`);
const signed = (value: number, digits = 0): string => `${value >= 0 ? '+' : ''}${value.toFixed(digits)}`;

/** `process 2, thread 1, task 3`: counts by kind of child, in that order; `none` for none. */
export function kindCounts(counts: Partial<Record<WorkerRefKind, number>>): string {
  const order: WorkerRefKind[] = ['process', 'thread', 'task'];
  return (
    order
      .filter((kind) => (counts[kind] ?? 0) > 0)
      .map((kind) => `${kind} ${counts[kind]}`)
      .join(', ') || 'none'
  );
}

/** Whether a tree has threads or tasks: only then do the reports break workers down by kind. */
export const hasLightKinds = (report: ChaosReport): boolean =>
  Object.keys(report.workers.atStartByKind ?? {}).some((kind) => kind !== 'process');

/** The report as the text `arbor chaos` prints. */
export function renderReport(report: ChaosReport): string {
  const { requests, faults, workers, recovery, supervisor } = report;
  const errors = `refused ${requests.errors.refused}  reset ${requests.errors.reset}  timeout ${requests.errors.timeout}  non-2xx ${requests.errors.non2xx}  other ${requests.errors.other}`;
  const byKind =
    Object.entries(faults.byKind)
      .map(([kind, n]) => `${kind} ${n}`)
      .join(', ') || 'none';
  const lines = [
    `arbor chaos: ${(report.durationMs / 1000).toFixed(1)} s against ${report.url}, ${report.target}`,
    `  seed ${report.seed}, ${report.rate} fault/s, mix ${report.mix}, concurrency ${report.concurrency}, timeout ${report.timeoutMs} ms`,
    `  replay: ${report.replay}`,
    `requests    sent ${requests.sent}  answered (2xx) ${requests.answered}  failed ${requests.failed}`,
    `errors      ${errors}`,
    ...(requests.samples.length > 0 ? [`            e.g. ${requests.samples.join('; ')}`] : []),
    `faults      injected ${faults.injected} of ${faults.planned} (skipped ${faults.skipped}), workers hit ${faults.workersHit}: ${byKind}`,
    ...(hasLightKinds(report) ? [`  hit       ${kindCounts(faults.workersHitByKind)}`] : []),
    ...faults.skipReasons.map((reason) => `  skipped   ${reason}`),
    `workers     ${workers.atStart} at start${hasLightKinds(report) ? ` (${kindCounts(workers.atStartByKind)})` : ''}, ` +
      `${workers.atEnd} at end (${workers.settled ? 'settled' : 'NOT settled'}); ` +
      `restarts ${workers.restarts ?? '-'} (pid changes ${workers.pidChanges}); intensity trips ${workers.intensityTrips ?? '-'}`,
    `recovery    fault → next 2xx: median ${ms(recovery.medianMs)}, p95 ${ms(recovery.p95Ms)}, max ${ms(recovery.maxMs)}` +
      (recovery.unrecovered > 0 ? `; ${recovery.unrecovered} never recovered` : ''),
    `supervisor  ${renderProc(supervisor.start, supervisor.end)}`,
    `orphans     ${report.orphans.length === 0 ? 'none' : report.orphans.map((o) => `${o.pid} (${o.command})`).join(', ')}`,
    ...report.problems.map((problem) => `problem     ${problem}`),
  ];
  return `${lines.join('\n')}\n`;
}

function renderProc(start: ProcStats | null, end: ProcStats | null): string {
  if (start === null || end === null) return 'not measured';
  const rss = `rss ${(start.rss / MiB).toFixed(1)} → ${(end.rss / MiB).toFixed(1)} MiB (${signed((end.rss - start.rss) / MiB, 1)})`;
  const fds =
    start.fds === null || end.fds === null ? 'fds -' : `fds ${start.fds} → ${end.fds} (${signed(end.fds - start.fds)})`;
  return `pid ${start.pid}  ${rss}  ${fds}`;
}

/** The live line: what clients saw so far. */
export function renderProgress(p: {
  elapsedMs: number;
  durationMs: number;
  sent: number;
  answered: number;
  errors: Record<FailureKind, number>;
  injected: number;
  restarts: number;
}): string {
  const e = p.errors;
  return (
    `chaos ${(p.elapsedMs / 1000).toFixed(1)}/${(p.durationMs / 1000).toFixed(0)}s  sent ${p.sent}  ok ${p.answered}  ` +
    `refused ${e.refused}  reset ${e.reset}  timeout ${e.timeout}  non-2xx ${e.non2xx}  other ${e.other}  ` +
    `faults ${p.injected}  restarts ${p.restarts}`
  );
}
