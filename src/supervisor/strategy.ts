// Which children a strategy terminates and restarts: pure functions over the supervisor's child list.
import type { ExitReason, RestartType, Strategy } from '../types.js';
import { isNormalExit } from '../types.js';

/** What the strategy needs to know of a child, in start (spec) order. */
export interface ChildView {
  id: string;
  restart: RestartType;
  running: boolean;
}

/** The children as a strategy reads them: only rest_for_one and one_for_all walk them in order. */
export interface StrategyChildren {
  inOrder(): readonly ChildView[];
}

export interface RestartPlan {
  /** Running children to terminate, in this order (reverse start order). */
  terminate: string[];
  /** Children to start, in this order (start order). */
  start: string[];
  /** Temporary children among the terminated ones: they are removed, never restarted. */
  remove: string[];
}

/** permanent: always; transient: only after an abnormal exit; temporary: never. */
export function shouldRestart(restart: RestartType, reason: ExitReason): boolean {
  if (restart === 'permanent') return true;
  if (restart === 'transient') return !isNormalExit(reason);
  return false;
}

/**
 * The plan for restarting `failedId` (which is not running), as OTP's restart/2:
 * - one_for_one, simple_one_for_one: start only that child (O(1): the list is not walked);
 * - rest_for_one: terminate the children started after it (reverse order), then start it and them;
 * - one_for_all: terminate all others (reverse order), then start all.
 * Terminated temporary children are removed. As in OTP, a non-temporary sibling that was already stopped
 * (say a transient child that exited normally) is started again with the others.
 */
export function planRestart(strategy: Strategy, children: StrategyChildren, failedId: string): RestartPlan {
  if (strategy === 'one_for_one' || strategy === 'simple_one_for_one') {
    return { terminate: [], start: [failedId], remove: [] };
  }
  const ordered = children.inOrder();
  const index = ordered.findIndex((c) => c.id === failedId);
  if (index < 0) throw new Error(`planRestart: no child ${failedId}`);
  const affected = strategy === 'rest_for_one' ? ordered.slice(index) : ordered.slice();
  const others = affected.filter((c) => c.id !== failedId);
  return {
    terminate: others
      .filter((c) => c.running)
      .map((c) => c.id)
      .reverse(),
    start: affected.filter((c) => c.id === failedId || c.restart !== 'temporary').map((c) => c.id),
    remove: others.filter((c) => c.restart === 'temporary').map((c) => c.id),
  };
}
