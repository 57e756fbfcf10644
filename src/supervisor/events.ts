// The events of a tree (DESIGN.md §7): each is one pino log line and one emission on the tree object.
import type { ReloadEvent } from '../reload/events.js';
import type { ChildType, ExitReason } from '../types.js';

export type TreeEvent =
  | ReloadEvent
  | { event: 'supervisor_started'; supervisor: string; pid: number }
  | { event: 'supervisor_stopped'; supervisor: string; reason: ExitReason; state: 'stopped' | 'failed' }
  | { event: 'child_started'; supervisor: string; child: string; pid: number | undefined; type: ChildType }
  | { event: 'child_exited'; supervisor: string; child: string; pid: number | undefined; reason: ExitReason; action: ExitAction }
  | { event: 'child_terminated'; supervisor: string; child: string; pid: number | undefined; reason: ExitReason }
  /** A replaced incarnation (pid) finished draining and is gone. */
  | { event: 'child_drained'; supervisor: string; child: string; pid: number | undefined; reason: ExitReason; took: number }
  | { event: 'start_failed'; supervisor: string; child: string; reason: ExitReason }
  | { event: 'child_restarting'; supervisor: string; child: string; restarts: number }
  /** The child's backoff delays its restart (and that of the children its strategy restarts with it, `children`). */
  | { event: 'child_restart_delayed'; supervisor: string; child: string; delay: number; attempt: number; children: string[] }
  | { event: 'max_intensity_reached'; supervisor: string; child: string; intensity: number; period: number; reason: ExitReason }
  | { event: 'auto_shutdown'; supervisor: string; child: string }
  /** A defect in the supervisor itself (not a child's failure): it stops its children and fails with this reason. */
  | { event: 'internal_error'; supervisor: string; reason: ExitReason }
  /** The tree was asked to stop (stop(), SIGTERM): readiness turns 503 now, before any drain delay. */
  | { event: 'tree_stopping'; supervisor: string; brutal: boolean }
  /** A worker's `send(message)`: `path` is the worker's whole path (`root/jobs/job-3`). */
  | { event: 'worker_message'; supervisor: string; child: string; path: string; pid: number | undefined; message: unknown }
  /** The tree was asked to stop and keeps serving for the root's `drainDelay` ms before its workers drain. */
  | { event: 'drain_delay'; supervisor: string; ms: number };

/** What the supervisor does about a child's exit. */
export type ExitAction = 'restart' | 'keep_stopped' | 'remove' | 'give_up' | 'auto_shutdown';

export type TreeEventName = TreeEvent['event'];

/** Abnormal exits and failures log at warn/error; workers' own messages at debug (they can be many); the rest is info. */
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
