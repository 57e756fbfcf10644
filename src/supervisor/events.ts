// The events of a tree (DESIGN.md §7): each is one pino log line and one emission on the tree object.
// One interface per event, so each is documented (docs/reference/events.md lists them all).
import type { ReloadEvent } from '../reload/events.js';
import type { ChildType, ExitReason } from '../types.js';

/** What every event about a supervisor's child carries. */
export interface ChildEventBase {
  /** The path of the child's supervisor (`root/pool`). */
  supervisor: string;
  /** The child's id within its supervisor (`web-1`). */
  child: string;
}

/** A supervisor has started: all its children run. */
export interface SupervisorStartedEvent {
  /** The event's name. */
  event: 'supervisor_started';
  /** The supervisor's path. */
  supervisor: string;
  /** The pid of the process the supervisor runs in. */
  pid: number;
}

/** A supervisor has stopped: asked to (`stopped`), or it gave up or failed to start (`failed`). */
export interface SupervisorStoppedEvent {
  /** The event's name. */
  event: 'supervisor_stopped';
  /** The supervisor's path. */
  supervisor: string;
  /** Its exit reason: `normal` after a stop, `shutdown` when it gave up or shut itself down. */
  reason: ExitReason;
  /** The state its machine ended in. */
  state: 'stopped' | 'failed';
}

/** A child is running (a worker has said `ready`). */
export interface ChildStartedEvent extends ChildEventBase {
  /** The event's name. */
  event: 'child_started';
  /** The worker's pid (none for a listener or a supervisor). */
  pid: number | undefined;
  /** The kind of child. */
  type: ChildType;
}

/** A child exited without being asked to, and what its supervisor does about it. */
export interface ChildExitedEvent extends ChildEventBase {
  /** The event's name. */
  event: 'child_exited';
  /** The pid of the process that exited. */
  pid: number | undefined;
  /** Why it exited. */
  reason: ExitReason;
  /** What the supervisor decided: restart it, keep it stopped, remove it, give up, or shut itself down. */
  action: ExitAction;
}

/** A child was stopped by its supervisor (a stop, `terminateChild`, a restart of its siblings). */
export interface ChildTerminatedEvent extends ChildEventBase {
  /** The event's name. */
  event: 'child_terminated';
  /** The pid of the process that was stopped. */
  pid: number | undefined;
  /** How it ended (`shutdown` when it stopped in time). */
  reason: ExitReason;
}

/** A replaced incarnation (pid) finished draining and is gone (a rolling reload). */
export interface ChildDrainedEvent extends ChildEventBase {
  /** The event's name. */
  event: 'child_drained';
  /** The pid of the replaced incarnation. */
  pid: number | undefined;
  /** How it ended. */
  reason: ExitReason;
  /** ms it took to drain. */
  took: number;
}

/** A child failed to start. */
export interface StartFailedEvent extends ChildEventBase {
  /** The event's name. */
  event: 'start_failed';
  /** Why (`{ startFailed: … }`, or how the process ended). */
  reason: ExitReason;
}

/** A child is being restarted. */
export interface ChildRestartingEvent extends ChildEventBase {
  /** The event's name. */
  event: 'child_restarting';
  /** The child's restarts so far, this one included. */
  restarts: number;
}

/** The child's backoff delays its restart (and that of the children its strategy restarts with it). */
export interface ChildRestartDelayedEvent extends ChildEventBase {
  /** The event's name. */
  event: 'child_restart_delayed';
  /** ms until the restart. */
  delay: number;
  /** Restarts in this run of crashes, this one included (1 for the first). */
  attempt: number;
  /** The ids started when the delay ends (the child, and the siblings its strategy restarts with it). */
  children: string[];
}

/** More restarts than `intensity` within `period`: the supervisor gives up. */
export interface MaxIntensityReachedEvent extends ChildEventBase {
  /** The event's name. */
  event: 'max_intensity_reached';
  /** The supervisor's `intensity`. */
  intensity: number;
  /** The supervisor's `period`, in ms. */
  period: number;
  /** The exit reason of the child whose exit was one too many. */
  reason: ExitReason;
}

/** A significant child ended and the supervisor's `autoShutdown` stops it. */
export interface AutoShutdownEvent extends ChildEventBase {
  /** The event's name. */
  event: 'auto_shutdown';
}

/** A defect in the supervisor itself (not a child's failure): it stops its children and fails with this reason. */
export interface InternalErrorEvent {
  /** The event's name. */
  event: 'internal_error';
  /** The supervisor's path. */
  supervisor: string;
  /** `{ internalError, stack }`. */
  reason: ExitReason;
}

/** The tree was asked to stop (`stop()`, SIGTERM): readiness turns 503 now, before any drain delay. */
export interface TreeStoppingEvent {
  /** The event's name. */
  event: 'tree_stopping';
  /** The root's path. */
  supervisor: string;
  /** A brutal stop: every child is killed at once. */
  brutal: boolean;
}

/** A worker's `send(message)`. */
export interface WorkerSentEvent extends ChildEventBase {
  /** The event's name. */
  event: 'worker_message';
  /** The worker's whole path (`root/jobs/job-3`). */
  path: string;
  /** The worker's pid. */
  pid: number | undefined;
  /** What the worker sent (JSON). */
  message: unknown;
}

/** The tree was asked to stop and keeps serving for the root's `drainDelay` ms before its workers drain. */
export interface DrainDelayEvent {
  /** The event's name. */
  event: 'drain_delay';
  /** The root's path. */
  supervisor: string;
  /** ms it keeps serving. */
  ms: number;
}

/** Every event of a tree: each is logged as one line and emitted on the tree under its name and as `event`. */
export type TreeEvent =
  | ReloadEvent
  | SupervisorStartedEvent
  | SupervisorStoppedEvent
  | ChildStartedEvent
  | ChildExitedEvent
  | ChildTerminatedEvent
  | ChildDrainedEvent
  | StartFailedEvent
  | ChildRestartingEvent
  | ChildRestartDelayedEvent
  | MaxIntensityReachedEvent
  | AutoShutdownEvent
  | InternalErrorEvent
  | TreeStoppingEvent
  | WorkerSentEvent
  | DrainDelayEvent;

/** What the supervisor does about a child's exit. */
export type ExitAction = 'restart' | 'keep_stopped' | 'remove' | 'give_up' | 'auto_shutdown';

/** The name of an event (`'child_exited'`). */
export type TreeEventName = TreeEvent['event'];

/** @internal Abnormal exits and failures log at warn/error; workers' own messages at debug (they can be many); the rest is info. */
export function levelOf(event: TreeEvent): 'debug' | 'info' | 'warn' | 'error' {
  switch (event.event) {
    case 'worker_message':
      return 'debug';
    case 'max_intensity_reached':
    case 'internal_error':
      return 'error';
    case 'start_failed':
    case 'reload_failed':
    case 'reload_refused':
      return 'warn';
    case 'child_exited':
      return event.action === 'restart' || event.action === 'give_up' ? 'warn' : 'info';
    case 'supervisor_stopped':
      return event.state === 'failed' ? 'error' : 'info';
    default:
      return 'info';
  }
}
