// Carries out a spec plan (spec-plan.ts) against a running tree, one step after another, through the tree's own
// calls: each runs inside its supervisor's machine, so none races a restart. Stops at the first step that fails.
import { CallError } from '../call-error.js';
import type { ChildSpec } from '../types.js';
import type { SpecStep, SupervisorFlags } from './spec-plan.js';

/** What carrying out a plan needs of a running tree. */
export interface SpecTarget {
  setFlags(supervisor: string, flags: SupervisorFlags): Promise<void>;
  replaceSpec(supervisor: string, id: string, spec: ChildSpec): Promise<void>;
  startChild(supervisor: string, spec: ChildSpec): Promise<unknown>;
  terminateChild(supervisor: string, id: string): Promise<void>;
  deleteChild(supervisor: string, id: string): Promise<void>;
  restartChild(supervisor: string, id: string): Promise<unknown>;
  /** The child is running now (a task that ended, or waits for its restart, is not restarted by a reload). */
  isRunning(supervisor: string, id: string): boolean;
}

export interface SpecOutcome {
  done: SpecStep[];
  failed?: { step: SpecStep; error: unknown };
}

export async function applySpecSteps(target: SpecTarget, steps: readonly SpecStep[]): Promise<SpecOutcome> {
  const done: SpecStep[] = [];
  for (const step of steps) {
    try {
      await applyStep(target, step);
    } catch (error) {
      return { done, failed: { step, error } };
    }
    done.push(step);
  }
  return { done };
}

async function applyStep(target: SpecTarget, step: SpecStep): Promise<void> {
  switch (step.op) {
    case 'set_flags':
      return target.setFlags(step.supervisor, step.flags);
    case 'replace_spec':
      return target.replaceSpec(step.supervisor, step.id, step.spec);
    case 'start':
      await target.startChild(step.supervisor, step.spec);
      return;
    case 'restart':
      if (!target.isRunning(step.supervisor, step.id)) return;
      await target.terminateChild(step.supervisor, step.id);
      await target.restartChild(step.supervisor, step.id);
      return;
    case 'stop':
      // A child stopped or deleted by hand meanwhile is as good as stopped (a temporary one goes with its stop).
      await goneAlready(target.terminateChild(step.supervisor, step.id));
      return goneAlready(target.deleteChild(step.supervisor, step.id));
  }
}

async function goneAlready(call: Promise<void>): Promise<void> {
  try {
    await call;
  } catch (error) {
    if (!(error instanceof CallError && error.code === 'not_found')) throw error;
  }
}
