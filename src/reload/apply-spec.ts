// Carries out a spec plan (spec-plan.ts) against a running tree, one step after another, through the tree's own
// calls: each runs inside its supervisor's machine, so none races a restart. Stops at the first step that fails.
import { CallError } from '../call-error.js';
import type { ChildSpec, HostSpec, RestartType } from '../types.js';
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
  /** A new task host pool. */
  addPool(name: string, spec: HostSpec): void;
  /** A pool's running hosts take its new size, heartbeat, memory limit, start timeout. */
  updatePool(name: string, spec: HostSpec): void;
  /** New hosts for a pool: the running ones are retired; answers the tasks still in them. */
  replacePool(name: string, spec: HostSpec): HostedTaskRef[];
  removePool(name: string): void;
  /** The paths of the tasks running in a pool's hosts. */
  tasksInPool(name: string): string[];
}

/** A task in a host pool, as a reload that replaces the pool's hosts sees it. */
export interface HostedTaskRef {
  supervisor: string;
  id: string;
  restart: RestartType;
  /** A child of a simple_one_for_one supervisor (which has no restartChild). */
  dynamic: boolean;
}

export interface SpecOutcome {
  done: SpecStep[];
  failed?: { step: SpecStep; error: unknown };
  /** What the steps did beyond their words (tasks moved to a pool's new hosts, or left in the old ones). */
  notes: string[];
}

export async function applySpecSteps(target: SpecTarget, steps: readonly SpecStep[]): Promise<SpecOutcome> {
  const done: SpecStep[] = [];
  const notes: string[] = [];
  for (const step of steps) {
    try {
      await applyStep(target, step, notes);
    } catch (error) {
      return { done, failed: { step, error }, notes };
    }
    done.push(step);
  }
  return { done, notes };
}

/**
 * A task of a pool whose hosts are replaced moves by a restart (stopped, then started in a new host), as a task
 * whose spec changed does; a temporary task (a restart would delete it) and a dynamic one (no restartChild) run on
 * in their retired host until they end. Pure.
 */
export const movesByRestart = (task: HostedTaskRef): boolean => !task.dynamic && task.restart !== 'temporary';

async function applyStep(target: SpecTarget, step: SpecStep, notes: string[]): Promise<void> {
  switch (step.op) {
    case 'add_pool':
      return target.addPool(step.name, step.spec);
    case 'update_pool':
      return target.updatePool(step.name, step.spec);
    case 'remove_pool':
      return target.removePool(step.name);
    case 'replace_pool': {
      const tasks = target.replacePool(step.name, step.spec);
      const moving = tasks.filter(movesByRestart);
      for (const task of moving) {
        if (!target.isRunning(task.supervisor, task.id)) continue;
        await target.terminateChild(task.supervisor, task.id);
        await target.restartChild(task.supervisor, task.id);
      }
      const staying = tasks.length - moving.length;
      notes.push(
        `host pool '${step.name}': ${moving.length} task${moving.length === 1 ? '' : 's'} restarted in new hosts` +
          (staying > 0
            ? `; ${staying} (temporary or dynamic) run${staying === 1 ? 's' : ''} on in the retired hosts until they end`
            : ''),
      );
      return;
    }
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
