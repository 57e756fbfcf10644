// What a chaos run acts on and observes. ArborTarget is a running `arbor run`, reached over its control socket;
// other process managers (the benchmark's node cluster and PM2) implement the same small interface.
import type { SupervisorStatus } from '../supervisor/tree.js';
import { EVENT_LOG_CAPACITY, EVENTS_PER_PAGE, type EventsPage, type LoggedEvent } from '../control/event-log.js';
import { resolve } from 'node:path';
import { ControlClient, type ProcStats, type RunInfo } from '../control/client.js';
import { listensOn, parentPid } from '../control/verify.js';
import { ChaosError } from './errors.js';

/** What a worker a fault may hit is: a forked `process`, a `thread` or a `task` (only a process has a pid). */
export type WorkerRefKind = 'process' | 'thread' | 'task';

/** A running worker a fault may hit: `path` names its slot (stable across restarts), `pid` its incarnation. */
export interface WorkerRef {
  /** Its path (`root/pool/web-1`). */
  path: string;
  /** Its pid; none for a thread or a task, which run inside the supervisor's process. */
  pid?: number;
  /** A `thread` or a `task`; absent for a process. */
  kind?: WorkerRefKind;
  /** The supervisor's restart counter for this slot, when it keeps one. */
  restarts?: number;
  /**
   * For a child without a pid: what tells its incarnations apart, the restart counts of its supervisors and its own
   * (`2.0.5`), so that a child record made afresh by a restarted supervisor is a new incarnation too.
   */
  incarnation?: string;
  /**
   * A task in a host pool: the host incarnation it runs in (`jobs#3`). A hang of that host takes down every task in
   * it, so they are faulted together.
   */
  host?: string;
}

/** One incarnation of a worker, as a key: its pid, or for a thread or a task its path and restart counts. */
export function incarnationOf(worker: WorkerRef): string {
  return worker.pid !== undefined ? `pid ${worker.pid}` : `${worker.path}#${worker.incarnation ?? worker.restarts}`;
}

/** The kind of a worker reference, a process when it does not say. */
export const kindOf = (worker: WorkerRef): WorkerRefKind => worker.kind ?? 'process';

/** Faults a worker inflicts on itself when asked over IPC. */
export type IpcFault = 'throw' | 'exit' | 'hang' | 'memory';

/** What a chaos run acts on: an `arbor run` (`ArborTarget`), or another process manager in the benchmarks. */
export interface ChaosTarget {
  /** How the report names it, e.g. `arbor root/pool (/run/user/0/arbor-123.sock)`. */
  readonly name: string;
  /** Running workers that faults may hit, sorted by path. */
  workers(): Promise<WorkerRef[]>;
  /** Checks, before anything is signalled, that the target is what it claims to be; throws if not. */
  verify?(): Promise<void>;
  /** Whether `pid` is a worker of this target right now: checked before every signal. Absent: trusted. */
  owns?(pid: number): boolean;
  /** The URLs of the target's listeners, for a run given no URL. */
  serviceUrls?(): Promise<string[]>;
  /**
   * Asks one worker to inflict `fault` on itself; resolves with the pid it reached (none for a thread or a task).
   * Absent: IPC faults unsupported.
   */
  injectIpc?(worker: WorkerRef, fault: IpcFault): Promise<number | undefined>;
  /** Tree events since the previous call (the first call only sets the starting point). */
  events?(): Promise<TargetEvents>;
  /** The supervising process's own resources. */
  supervisorProc?(): Promise<ProcStats>;
  /** Lets go of the target (closes the connection to it). */
  close(): void;
}

/** Tree events read from a target since the previous read. */
export interface TargetEvents {
  /** The events, oldest first. */
  events: LoggedEvent[];
  /** Events that were gone before they could be read (the target's log moved past them). */
  missed: number;
}

/** A running `arbor run`, through its control socket; faults hit the workers at or below `supervisor`. */
export class ArborTarget implements ChaosTarget {
  readonly name: string;
  private readonly client: ControlClient;
  private eventsCursor: number | undefined;

  private readonly controlPath: string;

  constructor(
    controlPath: string,
    private readonly supervisor?: string,
    timeoutMs = 10_000,
  ) {
    this.controlPath = resolve(controlPath);
    this.client = new ControlClient(this.controlPath, timeoutMs);
    this.name = `arbor ${supervisor ?? '(all workers)'} at ${controlPath}`;
  }

  /** The pid of the supervisor, once verify() has checked it holds the control socket. */
  private supervisorPid: number | undefined;

  /**
   * The process answering on the socket must be the one listening on it: a socket planted by someone else that
   * names another process's pids would otherwise have us signal them.
   */
  async verify(): Promise<void> {
    const info = (await this.client.request('info')) as RunInfo;
    const holds = Number.isSafeInteger(info.pid) ? listensOn(info.pid, this.controlPath) : false;
    if (holds === false) {
      throw new ChaosError(
        'not_verified',
        `the process answering at ${this.controlPath} claims pid ${info.pid}, which does not hold that socket`,
      );
    }
    this.supervisorPid = info.pid;
  }

  owns(pid: number): boolean {
    return this.supervisorPid !== undefined && parentPid(pid) === this.supervisorPid;
  }

  async serviceUrls(): Promise<string[]> {
    const status = (await this.client.request('status')) as SupervisorStatus;
    return listenerAddresses(status).map(urlOfAddress);
  }

  async workers(): Promise<WorkerRef[]> {
    const status = (await this.client.request(
      'status',
      this.supervisor ? { path: this.supervisor } : {},
    )) as SupervisorStatus;
    return runningWorkers(status).sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  }

  async injectIpc(worker: WorkerRef, fault: IpcFault): Promise<number | undefined> {
    const result = (await this.client.request('fault', { path: worker.path, fault })) as { pid?: number };
    return result.pid;
  }

  async events(): Promise<TargetEvents> {
    // The first call only moves the cursor past what happened before the run.
    const first = this.eventsCursor === undefined;
    const events: LoggedEvent[] = [];
    let missed = 0;
    // Bounded: the log keeps EVENT_LOG_CAPACITY events, EVENTS_PER_PAGE to a page.
    for (let page = 0; page <= EVENT_LOG_CAPACITY / EVENTS_PER_PAGE; page++) {
      const answer = (await this.client.request('events', { since: this.eventsCursor ?? 0 })) as EventsPage;
      this.eventsCursor = answer.next;
      if (!first) {
        events.push(...answer.events);
        missed += answer.missed;
      }
      if (answer.events.length < EVENTS_PER_PAGE) break;
    }
    return { events, missed };
  }

  supervisorProc(): Promise<ProcStats> {
    return this.client.request('proc') as Promise<ProcStats>;
  }

  close(): void {
    this.client.close();
  }
}

/**
 * Every running worker in a status tree, with its full path: processes, threads and tasks. `lineage` is the restart
 * counts of the supervisors above `status` (dotted), which name the incarnation of a child without a pid.
 */
export function runningWorkers(status: SupervisorStatus, lineage = ''): WorkerRef[] {
  return status.children.flatMap((child): WorkerRef[] => {
    if (child.supervisor) return runningWorkers(child.supervisor, `${lineage}${child.restarts}.`);
    if (child.status !== 'running') return [];
    const path = `${status.path}/${child.id}`;
    const restarts = child.restarts;
    if (child.type === 'task') {
      const host = child.host?.incarnation !== undefined ? `${child.host.name}#${child.host.incarnation}` : undefined;
      return [{ path, kind: 'task', restarts, incarnation: `${lineage}${restarts}`, ...(host ? { host } : {}) }];
    }
    if (child.type !== 'worker') return [];
    if (child.kind === 'thread') return [{ path, kind: 'thread', restarts, incarnation: `${lineage}${restarts}` }];
    return child.pid === undefined ? [] : [{ path, pid: child.pid, restarts }];
  });
}

/** The addresses of every listener in a status tree. */
function listenerAddresses(status: SupervisorStatus): string[] {
  return status.children.flatMap((child) => {
    if (child.supervisor) return listenerAddresses(child.supervisor);
    return child.listener?.address ? [child.listener.address] : [];
  });
}

/** `127.0.0.1:8080` → `http://127.0.0.1:8080/`; a wildcard address is reached on loopback. */
export function urlOfAddress(address: string): string {
  const host = address.replace(/^0\.0\.0\.0:/, '127.0.0.1:').replace(/^\[::\]:/, '[::1]:');
  return `http://${host}/`;
}
