// What a chaos run learns by watching: restarts (from the supervisor's counters and from pids changing in their
// slots) and how long the service took to answer again after each fault.
import type { RequestOutcome } from './load.js';
import type { WorkerRef } from './target.js';

/** Follows the pool across polls of the target's workers. */
export class WorkerWatch {
  /** Restarts counted by the supervisor during the run (sum of counter increases). */
  restarts = 0;
  /** Times a slot was seen with a new pid (threads and tasks have none: their restarts show in the counters). */
  pidChanges = 0;
  private readonly slots = new Map<string, { pid: number | undefined; restarts: number | undefined }>();

  observe(workers: WorkerRef[]): void {
    for (const { path, pid, restarts } of workers) {
      const previous = this.slots.get(path);
      this.slots.set(path, { pid, restarts });
      if (previous === undefined) continue;
      if (previous.pid !== undefined && pid !== undefined && previous.pid !== pid) this.pidChanges += 1;
      if (restarts !== undefined && previous.restarts !== undefined && restarts !== previous.restarts) {
        // A counter that went down belongs to a child record created afresh (its supervisor restarted).
        this.restarts += restarts > previous.restarts ? restarts - previous.restarts : restarts;
      }
    }
  }
}

/**
 * Time to recover: for each fault, from the fault to the end of the first 2xx answer to a request sent after it.
 * With other workers still serving this is one request's latency; with none, it is the restart as clients see it.
 */
export class RecoveryClock {
  readonly samples: number[] = [];
  private pending: number[] = [];

  /** A fault was injected at `at` (performance.now()). */
  fault(at: number): void {
    this.pending.push(at);
  }

  outcome({ startedAt, endedAt, failure }: RequestOutcome): void {
    if (failure !== undefined || this.pending.length === 0) return;
    const waiting: number[] = [];
    for (const at of this.pending) {
      if (at <= startedAt) this.samples.push(endedAt - at);
      else waiting.push(at);
    }
    this.pending = waiting;
  }

  /** Faults after which no request was answered before the end of the run. */
  get unrecovered(): number {
    return this.pending.length;
  }
}

/** The q-quantile (0..1) of the samples, by nearest rank; undefined for none. */
export function quantile(samples: readonly number[], q: number): number | undefined {
  if (samples.length === 0) return undefined;
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}
