// Carries out one planned fault. Signals go from this process straight to the worker's pid; the other faults are
// asked of the worker over IPC, through the target. Each worker incarnation gets at most one fault, so every
// injected fault ends exactly one incarnation (kill-all: every one in the pool at that moment).
import type { FaultKind, PlannedFault } from './plan.js';
import type { ChaosTarget, IpcFault, WorkerRef } from './target.js';

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

export class Injector {
  /** pids already faulted: never faulted twice, since a worker that is dying already would blur the count. */
  private readonly faulted = new Set<number>();

  constructor(private readonly target: ChaosTarget) {}

  /** Whether this pid was faulted by this run (its replacement, a new pid, was not). */
  wasFaulted(pid: number): boolean {
    return this.faulted.has(pid);
  }

  async inject(planned: PlannedFault, live: WorkerRef[]): Promise<Injection> {
    const at = performance.now();
    const candidates = live.filter((worker) => !this.faulted.has(worker.pid));
    const skip = (why: string): Injection => ({ planned, at, hit: [], skipped: why });
    // A pid is signalled only while it is the target's worker (a child of its supervisor), never on a status's word.
    const owned = (worker: WorkerRef): boolean => this.target.owns?.(worker.pid) ?? true;
    if (planned.kind === 'kill-all') {
      // Every live worker, hung or dying ones included: the whole pool goes down at once.
      const hit = live.filter((worker) => owned(worker) && signal(worker.pid, 'SIGKILL'));
      for (const worker of hit) this.faulted.add(worker.pid);
      return hit.length > 0 ? { planned, at, hit } : skip('no worker alive');
    }
    const worker = candidates[Math.floor(planned.pick * candidates.length)];
    if (worker === undefined) return skip('every live worker was already faulted');
    const sig = SIGNALS[planned.kind];
    if (sig !== undefined) {
      if (!owned(worker))
        return skip(`pid ${worker.pid} is no child of the supervisor (gone, or not this tree's); not signalled`);
      if (!signal(worker.pid, sig)) return skip(`pid ${worker.pid} was gone`);
      this.faulted.add(worker.pid);
      return { planned, at, hit: [worker] };
    }
    if (this.target.injectIpc === undefined) return skip(`${this.target.name} cannot inject ${planned.kind}`);
    try {
      const pid = await this.target.injectIpc(worker, planned.kind as IpcFault);
      this.faulted.add(pid);
      return { planned, at, hit: [{ ...worker, pid }] };
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

/** Sends a signal; false when the process is already gone. */
function signal(pid: number, sig: NodeJS.Signals): boolean {
  try {
    process.kill(pid, sig);
    return true;
  } catch {
    return false;
  }
}
