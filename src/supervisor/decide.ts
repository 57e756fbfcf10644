// What a supervisor does when one of its children exits by itself: one pure decision, as OTP's do_restart/4.
import type { AutoShutdown, ExitReason, Strategy } from '../types.js';
import type { RestartWindow } from './intensity.js';
import { planRestart, shouldRestart, type ChildView, type RestartPlan } from './strategy.js';

export interface DecisionChild extends ChildView {
  significant: boolean;
}

/**
 * The children as a decision reads them. The exited child is still listed, not running. Lookups are by id, so that
 * a decision about one child of 10,000 costs O(1); only the strategies that need order ask for `inOrder()`.
 */
export interface DecisionChildren {
  decisionChild(id: string): DecisionChild | undefined;
  /** In start order. */
  inOrder(): readonly DecisionChild[];
  /** How many significant children are running. */
  significantRunning(): number;
}

/** A plain list as DecisionChildren (O(n) lookups: for tests and small lists). */
export function listView(children: readonly DecisionChild[]): DecisionChildren {
  return {
    decisionChild: (id) => children.find((c) => c.id === id),
    inOrder: () => children,
    significantRunning: () => children.filter((c) => c.significant && c.running).length,
  };
}

export interface SupervisorView {
  strategy: Strategy;
  intensity: number;
  period: number;
  autoShutdown: AutoShutdown;
  children: DecisionChildren;
  /** Restart times inside the window. */
  restarts: RestartWindow;
}

export type ExitDecision =
  /** Not restarted; stays in the child list, stopped (a transient child that exited normally). */
  | { kind: 'keep_stopped' }
  /** Not restarted and removed from the child list (temporary children; dynamic children). */
  | { kind: 'remove' }
  | { kind: 'restart'; plan: RestartPlan; restarts: RestartWindow }
  /** Restart intensity exceeded: terminate everything and exit `shutdown`. */
  | { kind: 'give_up'; restarts: RestartWindow }
  /** A significant child ended and autoShutdown says the supervisor stops with it. */
  | { kind: 'auto_shutdown'; remove: boolean };

export function decideOnExit(sup: SupervisorView, childId: string, reason: ExitReason, now: number): ExitDecision {
  const child = sup.children.decisionChild(childId);
  if (!child) throw new Error(`decideOnExit: no child ${childId}`);
  if (shouldRestart(child.restart, reason)) return restart(sup, childId, now);
  const remove = child.restart === 'temporary' || sup.strategy === 'simple_one_for_one';
  if (autoShutdownTriggered(sup, child)) return { kind: 'auto_shutdown', remove };
  return remove ? { kind: 'remove' } : { kind: 'keep_stopped' };
}

/** OTP 24+: only significant children that were not restarted can stop their supervisor. */
function autoShutdownTriggered(sup: SupervisorView, child: DecisionChild): boolean {
  if (!child.significant || sup.autoShutdown === 'never') return false;
  if (sup.autoShutdown === 'any_significant') return true;
  // all_significant: the exited child is not running, so no significant child may be running.
  return sup.children.significantRunning() === 0;
}

/** The decision after a restart's start of `failedId` failed: try again (counting toward intensity) or give up. */
export function decideOnRestartFailure(sup: SupervisorView, failedId: string, now: number): ExitDecision {
  return restart(sup, failedId, now);
}

/** OTP's restart/2: add_restart, then the strategy's plan. */
function restart(sup: SupervisorView, childId: string, now: number): ExitDecision {
  const window = sup.restarts.add(now, sup.intensity, sup.period);
  if (window.exceeded) return { kind: 'give_up', restarts: window.restarts };
  return { kind: 'restart', plan: planRestart(sup.strategy, sup.children, childId), restarts: window.restarts };
}
