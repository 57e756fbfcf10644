// The chaos run as a story in time, for the HTML report: what clients saw in each 100 ms bucket, when each fault
// landed, and each worker restart from exit to ready. Memory stays bounded by the run's length, not its request
// count: latencies are kept for the open bucket only and reduced to p50/p99 when time moves past it.
import { FAILURE_KINDS, type FailureKind, type RequestOutcome } from './load.js';
import { quantile } from './observe.js';
import type { FaultKind } from './plan.js';
import { incarnationOf, type WorkerRef, type WorkerRefKind } from './target.js';
import { LatencyHistogram } from './histogram.js';

export const BUCKET_MS = 100;

/** Column-wise, one entry per bucket: bucket i covers [i·bucketMs, (i+1)·bucketMs) ms after the load started. */
export interface TimelineBuckets {
  /** Start of each bucket, ms after the load started. */
  t: number[];
  /** Requests that ended in the bucket with a complete 2xx answer. */
  answered: number[];
  /** Requests that failed in the bucket (seen by the client then), by kind. */
  failed: Record<FailureKind, number[]>;
  /** Latency (send → end of answer) of the answered requests, ms; null for a bucket with none. */
  p50: (number | null)[];
  /** The 99th percentile of the same, ms; null for a bucket with none. */
  p99: (number | null)[];
}

/** One fault of the run, when it was injected and what it hit. */
export interface TimelineFault {
  /** ms after the load started. */
  atMs: number;
  /** The kind of fault. */
  kind: FaultKind;
  /** The worker incarnations it ended; empty when skipped. */
  hit: {
    /** The worker's path. */
    path: string;
    /** The pid of the incarnation it hit; null for a thread or a task. */
    pid: number | null;
    /** `thread` or `task`; absent for a process. */
    kind?: WorkerRefKind;
  }[];
  /** Why it was skipped, when it was. */
  skipped?: string;
}

/** One worker replaced during the run: from the exit the supervisor saw to the replacement's ready. */
export interface RestartSpan {
  /** The worker's slot, e.g. root/pool/web-1. */
  path: string;
  /** The incarnation that went away, and its replacement (null: none was ready before the run ended). */
  pid: number | null;
  /** The replacement's pid (null: none was ready before the run ended). */
  newPid: number | null;
  /** ms after the load started: exit seen by the supervisor → replacement ready. */
  exitMs: number;
  /** ms after the load started when the replacement was ready (null: not before the run ended). */
  readyMs: number | null;
  /**
   * `events`: both ends are the supervisor's own event times. `polls`: the target has no event log, so the exit is
   * the fault's time (or the last poll that saw the old pid) and ready is the first poll that saw the new pid.
   */
  source: 'events' | 'polls';
}

/** A chaos run over time: what the HTML report draws, and `--json` holds under `timeline`. */
export interface ChaosTimeline {
  /** The width of a bucket, in ms (100). */
  bucketMs: number;
  /** Wall-clock time (ms since the epoch) of the load's start: time 0 of every other field. */
  startedAt: number;
  /** When the load stopped sending, ms after its start (requests in flight end after it). */
  loadEndMs: number;
  /** Requests and latencies per bucket. */
  buckets: TimelineBuckets;
  /** Every fault, in time order. */
  faults: TimelineFault[];
  /** Every worker replacement, in time order. */
  restarts: RestartSpan[];
  /** Latency (ms) of every answered request of the run, within 1%; null when none was answered. */
  latency: {
    /** The median. */
    p50: number | null;
    /** The 99th percentile. */
    p99: number | null;
  };
}

/** The tree events the recorder reads (a subset of LoggedEvent). */
export interface TimedEvent {
  event: string;
  supervisor?: string;
  child?: string;
  pid?: number | undefined;
  type?: string;
  time: number;
}

/** Collects a run's timeline; every time passed in is a performance.now() value unless named otherwise. */
export class TimelineRecorder {
  private readonly buckets: TimelineBuckets = { t: [], answered: [], failed: emptyFailures(), p50: [], p99: [] };
  private openBucket = -1;
  private openLatencies: number[] = [];
  private readonly faults: TimelineFault[] = [];
  private readonly eventSpans: RestartSpan[] = [];
  private readonly openEventSpans = new Map<string, RestartSpan>();
  private readonly pollSpans: RestartSpan[] = [];
  private readonly slots = new Map<string, { incarnation: string; pid: number | undefined; seenMs: number }>();
  /** Incarnation (incarnationOf) → when a fault hit it, ms. */
  private readonly faultedAt = new Map<string, number>();
  /** Paths of workers, threads and tasks seen (polls, child_started): their exits open restart spans. */
  private readonly workerPaths = new Set<string>();
  private eventsSeen = false;
  private readonly latencies = new LatencyHistogram();

  /**
   * @param startedAt performance.now() of the load's start
   * @param startedAtEpoch Date.now() at the same moment (tree events carry wall-clock times)
   * @param scope only restarts at or below this supervisor path
   */
  constructor(
    private readonly startedAt: number,
    private readonly startedAtEpoch: number,
    private readonly scope?: string,
  ) {}

  outcome({ startedAt, endedAt, failure }: RequestOutcome): void {
    const index = Math.max(0, Math.floor((endedAt - this.startedAt) / BUCKET_MS));
    if (index > this.openBucket) this.openUpTo(index);
    if (failure !== undefined) {
      this.buckets.failed[failure][index]! += 1;
      return;
    }
    this.buckets.answered[index]! += 1;
    this.latencies.record(endedAt - startedAt);
    // Outcomes arrive in end-time order; one for an already closed bucket (never seen) only loses its latency.
    if (index === this.openBucket) this.openLatencies.push(endedAt - startedAt);
  }

  fault(at: number, kind: FaultKind, hit: WorkerRef[], skipped?: string): void {
    const atMs = this.ms(at);
    for (const worker of hit) this.faultedAt.set(incarnationOf(worker), atMs);
    this.faults.push({
      atMs,
      kind,
      hit: hit.map(({ path, pid, kind: of }) => ({ path, pid: pid ?? null, ...(of ? { kind: of } : {}) })),
      ...(skipped ? { skipped } : {}),
    });
  }

  /** A poll of the live workers at `at`: a slot with a new incarnation is a restart, for targets without events. */
  observe(workers: WorkerRef[], at: number): void {
    const nowMs = this.ms(at);
    for (const worker of workers) {
      const { path, pid } = worker;
      const incarnation = incarnationOf(worker);
      const previous = this.slots.get(path);
      this.workerPaths.add(path);
      this.slots.set(path, { incarnation, pid, seenMs: nowMs });
      if (previous === undefined || previous.incarnation === incarnation) continue;
      const exitMs = this.faultedAt.get(previous.incarnation) ?? previous.seenMs;
      const span = { path, pid: previous.pid ?? null, newPid: pid ?? null, exitMs, readyMs: nowMs };
      this.pollSpans.push({ ...span, source: 'polls' });
    }
  }

  /** Tree events: a worker's exit (or termination) opens a span in its slot, the next start there closes it. */
  events(events: readonly TimedEvent[]): void {
    this.eventsSeen = true;
    for (const e of events) {
      if (e.supervisor === undefined || e.child === undefined || !this.inScope(e.supervisor)) continue;
      const path = `${e.supervisor}/${e.child}`;
      const atMs = e.time - this.startedAtEpoch;
      // A worker's exit (a thread's and a task's have no pid; a supervisor's neither, and it is no worker path).
      const worker = e.pid !== undefined || this.workerPaths.has(path);
      if ((e.event === 'child_exited' || e.event === 'child_terminated') && worker) {
        if (this.openEventSpans.has(path)) continue; // the first exit seen opens the gap
        const span: RestartSpan = {
          path,
          pid: e.pid ?? null,
          newPid: null,
          exitMs: atMs,
          readyMs: null,
          source: 'events',
        };
        this.openEventSpans.set(path, span);
        this.eventSpans.push(span);
      } else if (e.event === 'child_started' && (e.type === 'worker' || e.type === 'task')) {
        this.workerPaths.add(path);
        const span = this.openEventSpans.get(path);
        if (span === undefined) continue;
        span.newPid = e.pid ?? null;
        span.readyMs = atMs;
        this.openEventSpans.delete(path);
      }
    }
  }

  /** The timeline so far; `loadEnd` is when the load stopped sending. */
  finish(loadEnd: number): ChaosTimeline {
    this.openUpTo(this.openBucket + 1); // closes the last bucket's latencies
    const closed = this.openBucket; // the extra bucket just opened is empty
    const trim = <T>(column: T[]): T[] => column.slice(0, closed);
    const failed = emptyFailures();
    for (const kind of FAILURE_KINDS) failed[kind] = trim(this.buckets.failed[kind]);
    return {
      bucketMs: BUCKET_MS,
      startedAt: Math.round(this.startedAtEpoch),
      loadEndMs: round1(this.ms(loadEnd)),
      buckets: {
        t: trim(this.buckets.t),
        answered: trim(this.buckets.answered),
        failed,
        p50: trim(this.buckets.p50),
        p99: trim(this.buckets.p99),
      },
      faults: this.faults.map((f) => ({ ...f, atMs: round1(f.atMs) })),
      restarts: (this.eventsSeen ? this.eventSpans : this.pollSpans).map((s) => ({
        ...s,
        exitMs: round1(s.exitMs),
        readyMs: s.readyMs === null ? null : round1(s.readyMs),
      })),
      latency: {
        p50: roundOrNull(this.latencies.quantile(0.5) ?? undefined),
        p99: roundOrNull(this.latencies.quantile(0.99) ?? undefined),
      },
    };
  }

  private openUpTo(index: number): void {
    if (this.openBucket >= 0) {
      this.buckets.p50[this.openBucket] = roundOrNull(quantile(this.openLatencies, 0.5));
      this.buckets.p99[this.openBucket] = roundOrNull(quantile(this.openLatencies, 0.99));
    }
    this.openLatencies = [];
    for (let i = this.openBucket + 1; i <= index; i++) {
      this.buckets.t.push(i * BUCKET_MS);
      this.buckets.answered.push(0);
      for (const kind of FAILURE_KINDS) this.buckets.failed[kind].push(0);
      this.buckets.p50.push(null);
      this.buckets.p99.push(null);
    }
    this.openBucket = index;
  }

  private ms(at: number): number {
    return at - this.startedAt;
  }

  private inScope(supervisor: string): boolean {
    return this.scope === undefined || supervisor === this.scope || supervisor.startsWith(`${this.scope}/`);
  }
}

function emptyFailures(): Record<FailureKind, number[]> {
  return { refused: [], reset: [], timeout: [], non2xx: [], other: [] };
}

const round1 = (value: number): number => Math.round(value * 10) / 10;
const roundOrNull = (value: number | undefined): number | null => (value === undefined ? null : round1(value));
