// runChaos(): the library entry of `arbor chaos`. Drives HTTP load at a service while injecting a seeded schedule of
// faults into its workers, then waits for the pool to recover and reports what clients saw and what leaked.
import { setTimeout as sleep } from 'node:timers/promises';
import { reachTree } from '../control/runs.js';
import { ChaosError } from './errors.js';

export { ChaosError };
import type { ProcStats } from '../control/client.js';
import { Injector, type Injection } from './inject.js';
import { LoadDriver } from './load.js';
import { RecoveryClock, WorkerWatch, quantile } from './observe.js';
import { ARBOR_WORKER_MARKERS, findOrphans } from './orphans.js';
import { formatMix, parseMix, planFaults, randomSeed, type FaultKind, type FaultMix } from './plan.js';
import { renderProgress, type ChaosReport } from './report.js';
import { ArborTarget, kindOf, type ChaosTarget, type WorkerRef, type WorkerRefKind } from './target.js';
import { TimelineRecorder } from './timeline.js';
import { writeHtmlReport } from './html/render.js';

/** What `runChaos` takes: how long, how many faults, which, against what. Only `durationMs` is required. */
export interface ChaosOptions {
  /** The service under load. Default: the target's listener, when it has exactly one. */
  url?: string;
  /** How long the load runs, in ms. */
  durationMs: number;
  /** Faults per second. Default 1. */
  rate?: number;
  /** Weighted fault kinds, or their `--mix` text. Default: every kind, equally. */
  mix?: FaultMix | string;
  /** Seeds the fault schedule. Default: a random one, reported. */
  seed?: number;
  /** Requests in flight at once. Default 16. */
  concurrency?: number;
  /** Per-request timeout in ms. Default 10000: longer than a hung worker takes to be detected and replaced. */
  timeoutMs?: number;
  /** The control socket of the `arbor run` to act on. Default: $ARBOR_CONTROL, else the latest run. */
  control?: string;
  /** Only the workers at or below this supervisor path. Default: every worker of the tree. */
  supervisor?: string;
  /** Something other than an `arbor run` to act on (the benchmark's cluster and PM2 harnesses). */
  target?: ChaosTarget;
  /** Environment markers of worker processes, for the orphan scan. Default ARBOR_WORKER=1. */
  orphanMarkers?: readonly string[];
  /** How long to wait after the load for every faulted worker to be replaced. Default 20000 ms. */
  settleTimeoutMs?: number;
  /** Called with a progress line every `progressIntervalMs` (default 1000). */
  onProgress?: (line: string) => void;
  /** ms between two progress lines (default 1000). */
  progressIntervalMs?: number;
  /** Also write the HTML report (charts over time, the summary, the replay command) to this file. */
  report?: string;
}

const POLL_MS = 250;
const EVENTS_EVERY_POLLS = 4;
/** How long the service may take to answer a first request before the run is refused. */
const PROBE_TIMEOUT_MS = 5000;

/**
 * Drives HTTP load at a running tree while injecting faults into its workers on a seeded schedule, then reports
 * what the clients saw, how fast the service recovered, and whether anything leaked. What `arbor chaos` runs.
 */
export async function runChaos(options: ChaosOptions): Promise<ChaosReport> {
  const rate = options.rate ?? 1;
  const mix = typeof options.mix === 'string' ? parseMix(options.mix) : (options.mix ?? parseMix('all'));
  const seed = options.seed ?? randomSeed();
  const concurrency = options.concurrency ?? 16;
  const timeoutMs = options.timeoutMs ?? 10_000;
  const { durationMs } = options;
  if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 10_000) {
    throw new ChaosError('bad_option', 'concurrency must be an integer from 1 to 10000');
  }
  const plan = planFaults({ seed, rate, durationMs, mix });
  const markers = options.orphanMarkers ?? ARBOR_WORKER_MARKERS;
  const target = options.target ?? new ArborTarget(reachTree(options.control, 'change').control, options.supervisor);
  const problems: string[] = [];
  const problem = (text: string): void => void (problems.includes(text) || problems.push(text));

  try {
    await target.verify?.();
    const url = new URL(options.url ?? (await serviceUrl(target)));
    await probe(url, Math.min(timeoutMs, PROBE_TIMEOUT_MS));
    const initial = await target.workers();
    if (initial.length === 0) throw new ChaosError('no_workers', `${target.name} has no running worker to fault`);
    const procStart = await optional(target.supervisorProc?.bind(target), problem);
    await target.events?.();
    const orphansBefore = new Set(findOrphans(markers).map((o) => o.pid));

    const watch = new WorkerWatch();
    watch.observe(initial);
    const recovery = new RecoveryClock();
    // Time 0 of the run: nothing is awaited from here until the load starts.
    const startedAt = performance.now();
    const timeline = new TimelineRecorder(startedAt, Date.now(), options.supervisor);
    timeline.observe(initial, startedAt);
    const load = new LoadDriver({
      url,
      concurrency,
      timeoutMs,
      onOutcome: (o) => {
        recovery.outcome(o);
        timeline.outcome(o);
      },
    });
    const injector = new Injector(target);
    const injections: Injection[] = [];
    const tally = { intensityTrips: 0, eventsMissed: 0, eventsRead: target.events !== undefined };
    let live: WorkerRef[] = initial;
    let lost = false;

    /** Refreshes `live`; false once the target cannot be reached. */
    const poll = async (): Promise<boolean> => {
      try {
        live = await target.workers();
        watch.observe(live);
        timeline.observe(live, performance.now());
      } catch (error) {
        lost = true;
        problem(`lost the target: ${(error as Error).message}`);
      }
      return !lost;
    };
    const readEvents = async (): Promise<void> => {
      if (!target.events || lost) return;
      try {
        const { events, missed } = await target.events();
        tally.intensityTrips += events.filter((e) => e.event === 'max_intensity_reached').length;
        tally.eventsMissed += missed;
        timeline.events(events);
      } catch (error) {
        problem(`events: ${(error as Error).message}`);
      }
    };

    const deadline = startedAt + durationMs;
    const progress = setInterval(() => {
      options.onProgress?.(
        renderProgress({
          elapsedMs: Math.min(durationMs, performance.now() - startedAt),
          durationMs,
          ...load.counts,
          injected: injections.filter((i) => i.hit.length > 0).length,
          restarts: watch.restarts || watch.pidChanges,
        }),
      );
    }, options.progressIntervalMs ?? 1000);

    const loadDone = load.run(deadline);
    const monitor = (async () => {
      for (let round = 1; performance.now() < deadline && !lost; round++) {
        await sleep(Math.min(POLL_MS, Math.max(0, deadline - performance.now())));
        await poll();
        if (round % EVENTS_EVERY_POLLS === 0) await readEvents();
      }
    })();
    const faults = (async () => {
      for (const planned of plan) {
        const wait = startedAt + planned.at - performance.now();
        if (wait > 0) await sleep(wait);
        if (lost) break;
        await poll(); // the pool as it is now, not as it was at the last poll
        const injection = await injector.inject(planned, live);
        injections.push(injection);
        timeline.fault(injection.at, planned.kind, injection.hit, injection.skipped);
        if (injection.hit.length > 0) recovery.fault(injection.at);
      }
    })();
    await Promise.all([loadDone, monitor, faults]);
    clearInterval(progress);

    const settled =
      !lost && (await settle(initial.length, injector, options.settleTimeoutMs ?? 20_000, poll, () => live));
    await readEvents();
    const procEnd = lost ? null : await optional(target.supervisorProc?.bind(target), problem);
    const orphans = findOrphans(markers).filter((o) => !orphansBefore.has(o.pid));

    const done = injections.filter((i) => i.hit.length > 0);
    const byKind: Partial<Record<FaultKind, number>> = {};
    for (const { planned } of done) byKind[planned.kind] = (byKind[planned.kind] ?? 0) + 1;
    const { errors } = load.counts;
    const nullable = (value: number | undefined): number | null => (value === undefined ? null : Math.round(value));
    const report: ChaosReport = {
      target: target.name,
      url: url.href,
      seed,
      durationMs,
      rate,
      mix: formatMix(mix),
      concurrency,
      timeoutMs,
      replay: replayCommand({
        url: url.href,
        durationMs,
        rate,
        mix: formatMix(mix),
        seed,
        concurrency,
        supervisor: options.supervisor,
      }),
      requests: {
        sent: load.counts.sent,
        answered: load.counts.answered,
        failed: errors.refused + errors.reset + errors.timeout + errors.non2xx + errors.other,
        errors: { ...errors },
        samples: load.samples,
      },
      faults: {
        planned: plan.length,
        injected: done.length,
        skipped: injections.length - done.length,
        byKind,
        workersHit: done.reduce((sum, i) => sum + i.hit.length, 0),
        workersHitByKind: byChildKind(done.flatMap((i) => i.hit)),
        skipReasons: countedReasons(injections.flatMap((i) => (i.skipped ? [i.skipped] : []))),
      },
      workers: {
        atStart: initial.length,
        atStartByKind: byChildKind(initial),
        atEnd: live.length,
        restarts: initial.some((w) => w.restarts !== undefined) ? watch.restarts : null,
        pidChanges: watch.pidChanges,
        intensityTrips: tally.eventsRead ? tally.intensityTrips : null,
        eventsMissed: tally.eventsMissed,
        settled,
      },
      recovery: {
        medianMs: nullable(quantile(recovery.samples, 0.5)),
        p95Ms: nullable(quantile(recovery.samples, 0.95)),
        maxMs: nullable(quantile(recovery.samples, 1)),
        unrecovered: recovery.unrecovered,
      },
      supervisor: { start: procStart, end: procEnd },
      orphans,
      problems,
      timeline: timeline.finish(deadline),
    };
    if (options.report !== undefined) {
      try {
        writeHtmlReport(options.report, [{ title: report.target, report }]);
      } catch (error) {
        problem(`HTML report: ${(error as Error).message}`);
      }
    }
    return report;
  } finally {
    if (options.target === undefined) target.close();
  }
}

/** Waits (bounded) until the pool is back to its size and no faulted incarnation is still around. */
async function settle(
  size: number,
  injector: Injector,
  timeoutMs: number,
  poll: () => Promise<boolean>,
  live: () => WorkerRef[],
): Promise<boolean> {
  const until = performance.now() + timeoutMs;
  for (;;) {
    if (!(await poll())) return false;
    const workers = live();
    if (workers.length >= size && !workers.some((w) => injector.wasFaulted(w))) return true;
    if (performance.now() > until) return false;
    await sleep(POLL_MS);
  }
}

async function optional(
  read: (() => Promise<ProcStats>) | undefined,
  problem: (text: string) => void,
): Promise<ProcStats | null> {
  if (read === undefined) return null;
  try {
    return await read();
  } catch (error) {
    problem(`proc: ${(error as Error).message}`);
    return null;
  }
}

function replayCommand(o: {
  url: string;
  durationMs: number;
  rate: number;
  mix: string;
  seed: number;
  concurrency: number;
  supervisor: string | undefined;
}): string {
  const target = o.supervisor ? ` --target ${o.supervisor}` : '';
  return `arbor chaos --url ${o.url} --duration ${o.durationMs}ms --rate ${o.rate} --mix ${o.mix} --seed ${o.seed} --concurrency ${o.concurrency}${target}`;
}

/** The URL of the target's one listener; a run against a tree with none or several needs to be told. */
async function serviceUrl(target: ChaosTarget): Promise<string> {
  const urls = (await target.serviceUrls?.()) ?? [];
  if (urls.length === 1) return urls[0]!;
  if (urls.length === 0) throw new ChaosError('no_url', `${target.name} has no listener to load; pass --url`);
  throw new ChaosError(
    'no_url',
    `${target.name} has ${urls.length} listeners (${urls.join(', ')}); pass --url to choose`,
  );
}

/** One request, so that a run against nothing fails at once instead of reporting a run of errors. */
async function probe(url: URL, timeoutMs: number): Promise<void> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    await response.body?.cancel();
  } catch (error) {
    const cause = (error as { cause?: { code?: string } }).cause?.code ?? (error as Error).name;
    const why = cause === 'TimeoutError' ? `no answer within ${timeoutMs} ms` : cause;
    throw new ChaosError('unreachable', `nothing answers at ${url.href} (${why}); is the service running? (--url)`);
  }
}

function byChildKind(workers: readonly WorkerRef[]): Partial<Record<WorkerRefKind, number>> {
  const counts: Partial<Record<WorkerRefKind, number>> = {};
  for (const worker of workers) counts[kindOf(worker)] = (counts[kindOf(worker)] ?? 0) + 1;
  return counts;
}

/** Distinct reasons, most frequent first, each with its count when it happened more than once; at most 5. */
function countedReasons(reasons: string[]): string[] {
  const counts = new Map<string, number>();
  for (const reason of reasons) counts.set(reason, (counts.get(reason) ?? 0) + 1);
  return [...counts]
    .sort((a, b) => b[1] - a[1])
    .slice(0, 5)
    .map(([reason, n]) => (n > 1 ? `${n}× ${reason}` : reason));
}
