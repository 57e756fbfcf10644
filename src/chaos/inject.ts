// Carries out one planned fault. Signals go from this process straight to the worker's pid; the other faults are
// asked of the worker over IPC, through the target. Each worker incarnation gets at most one fault, so every
// injected fault ends exactly one incarnation (kill-all: every one in the pool at that moment).
// Threads and tasks run inside the supervisor's process, so only the faults that end the child alone reach them;
// a task in a host pool can also hang its host, which ends every task in that host (all counted as hit).
import type { FaultKind, PlannedFault } from './plan.js';
import { incarnationOf, kindOf, type ChaosTarget, type IpcFault, type WorkerRef } from './target.js';

export interface Injection {
  planned: PlannedFault;
  /** performance.now() when it was carried out. */
  at: number;
  /** The worker incarnations it hit; empty when skipped. */
  hit: WorkerRef[];
  /** Why nothing was hit: no worker was left to fault, or it had gone by the time the fault arrived. */
  skipped?: string;
}

const SIGNALS: Partial<Record<FaultKind, NodeJS.Signals>> = { sigkill: 'SIGKILL', sigterm: 'SIGTERM' };

/**
 * Whether a fault can end this worker alone. A thread or a task has no pid of its own: a signal would hit the
 * supervisor. A thread's `memory` fault grows Buffers, which are its host's memory, not its heap's (and a task
 * refuses it); an inline task refuses `hang`, a busy loop in the supervisor's own event loop, but a task in a host
 * pool takes it: it hangs its host, whose heartbeat ends it. `throw` and `exit` reach all.
 */
export function canTake(fault: FaultKind, worker: WorkerRef): boolean {
  const kind = kindOf(worker);
  if (fault === 'sigkill' || fault === 'sigterm' || fault === 'kill-all') return worker.pid !== undefined;
  if (fault === 'memory') return kind === 'process';
  if (fault === 'hang') return kind !== 'task' || worker.host !== undefined;
  return true;
}

export class Injector {
  /** Incarnations already faulted: never faulted twice, since a worker that is dying already would blur the count. */
  private readonly faulted = new Set<string>();

  constructor(private readonly target: ChaosTarget) {}

  /** Whether this incarnation was faulted by this run (its replacement, a new pid or restart count, was not). */
  wasFaulted(worker: WorkerRef): boolean {
    return this.faulted.has(incarnationOf(worker));
  }

  async inject(planned: PlannedFault, live: WorkerRef[]): Promise<Injection> {
    const at = performance.now();
    const able = live.filter((worker) => canTake(planned.kind, worker));
    const candidates = able.filter((worker) => !this.wasFaulted(worker));
    const skip = (why: string): Injection => ({ planned, at, hit: [], skipped: why });
    // A pid is signalled only while it is the target's worker (a child of its supervisor), never on a status's word.
    const owned = (pid: number): boolean => this.target.owns?.(pid) ?? true;
    if (planned.kind === 'kill-all') {
      // Every live worker process, hung or dying ones included: the whole pool goes down at once.
      const hit = able.filter((worker) => owned(worker.pid!) && signal(worker.pid!, 'SIGKILL'));
      for (const worker of hit) this.faulted.add(incarnationOf(worker));
      if (hit.length > 0) return { planned, at, hit };
      const stranger = able.find((worker) => !owned(worker.pid!));
      return skip(stranger === undefined ? 'no worker process alive' : notOurs(stranger.pid!));
    }
    const worker = candidates[Math.floor(planned.pick * candidates.length)];
    if (worker === undefined)
      return skip(
        able.length > 0 ? 'every live worker was already faulted' : `no live worker can take ${planned.kind}`,
      );
    const sig = SIGNALS[planned.kind];
    if (sig !== undefined) {
      const pid = worker.pid!;
      if (!owned(pid)) return skip(notOurs(pid));
      if (!signal(pid, sig)) return skip(`pid ${pid} was gone`);
      this.faulted.add(incarnationOf(worker));
      return { planned, at, hit: [worker] };
    }
    if (this.target.injectIpc === undefined) return skip(`${this.target.name} cannot inject ${planned.kind}`);
    try {
      const pid = await this.target.injectIpc(worker, planned.kind as IpcFault);
      const first = pid === undefined ? worker : { ...worker, pid };
      // A hung host takes every task in it down: each is an incarnation this fault ends.
      const hit = [
        first,
        ...(hangsHost(planned.kind, worker) ? live.filter((w) => w !== worker && w.host === worker.host) : []),
      ];
      for (const w of hit) this.faulted.add(incarnationOf(w));
      return { planned, at, hit };
    } catch (error) {
      // e.g. chaos_disabled: the worker runs without ARBOR_CHAOS=1 and would ignore the fault, so none is counted.
      return skip(
        (error as Error).message.includes(worker.path)
          ? (error as Error).message
          : `${worker.path}: ${(error as Error).message}`,
      );
    }
  }
}

/** Why a pid is not signalled: the target does not own it. */
const notOurs = (pid: number): string =>
  `pid ${pid} is no child of the supervisor (gone, or not this tree's); not signalled`;

/** A hang aimed at a task in a host pool hangs the whole host. */
const hangsHost = (fault: FaultKind, worker: WorkerRef): boolean =>
  fault === 'hang' && kindOf(worker) === 'task' && worker.host !== undefined;

/** Sends a signal; false when the process is already gone. */
function signal(pid: number, sig: NodeJS.Signals): boolean {
  try {
    process.kill(pid, sig);
    return true;
  } catch {
    return false;
  }
}
