// What a supervisor does when one of its children exits by itself: one pure decision, as OTP's do_restart/4.
import type { AutoShutdown, ExitReason, Strategy } from '../types.js';
import { addRestart } from './intensity.js';
import { planRestart, shouldRestart, type ChildView, type RestartPlan } from './strategy.js';

export interface DecisionChild extends ChildView {
  significant: boolean;
}

export interface SupervisorView {
  strategy: Strategy;
  intensity: number;
  period: number;
  autoShutdown: AutoShutdown;
  /** In start order. The exited child is still listed, with `running: false`. */
  children: readonly DecisionChild[];
  /** Restart times inside the window, newest first. */
  restarts: readonly number[];
}

export type ExitDecision =
  /** Not restarted; stays in the child list, stopped (a transient child that exited normally). */
  | { kind: 'keep_stopped' }
  /** Not restarted and removed from the child list (temporary children; dynamic children). */
  | { kind: 'remove' }
  | { kind: 'restart'; plan: RestartPlan; restarts: number[] }
  /** Restart intensity exceeded: terminate everything and exit `shutdown`. */
  | { kind: 'give_up'; restarts: number[] }
  /** A significant child ended and autoShutdown says the supervisor stops with it. */
  | { kind: 'auto_shutdown'; remove: boolean };

export function decideOnExit(sup: SupervisorView, childId: string, reason: ExitReason, now: number): ExitDecision {
  const child = sup.children.find((c) => c.id === childId);
  if (!child) throw new Error(`decideOnExit: no child ${childId}`);
  if (shouldRestart(child.restart, reason)) {
    const window = addRestart(sup.restarts, now, sup.intensity, sup.period);
    if (window.exceeded) return { kind: 'give_up', restarts: window.restarts };
    return { kind: 'restart', plan: planRestart(sup.strategy, sup.children, childId), restarts: window.restarts };
  }
  const remove = child.restart === 'temporary' || sup.strategy === 'simple_one_for_one';
  if (autoShutdownTriggered(sup, child)) return { kind: 'auto_shutdown', remove };
  return remove ? { kind: 'remove' } : { kind: 'keep_stopped' };
}

/** OTP 24+: only significant children that were not restarted can stop their supervisor. */
function autoShutdownTriggered(sup: SupervisorView, child: DecisionChild): boolean {
  if (!child.significant || sup.autoShutdown === 'never') return false;
  if (sup.autoShutdown === 'any_significant') return true;
  return sup.children.every((c) => c.id === child.id || !c.significant || !c.running);
}

/** The decision after a restart's start of `failedId` failed: try again (counting toward intensity) or give up. */
export function decideOnRestartFailure(sup: SupervisorView, failedId: string, now: number): ExitDecision {
  const window = addRestart(sup.restarts, now, sup.intensity, sup.period);
  if (window.exceeded) return { kind: 'give_up', restarts: window.restarts };
  return { kind: 'restart', plan: planRestart(sup.strategy, sup.children, failedId), restarts: window.restarts };
}
