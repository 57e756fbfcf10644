// One supervisor as an xstate v5 machine. The config below is the statechart; decisions are pure functions
// (decide.ts), effects are the named actions and the invoked actors defined in `setup`.
import { assign, enqueueActions, fromPromise, setup } from 'xstate';
import { describeReason, type ExitReason, type SupervisorSpec } from '../types.js';
import {
  ChildStartError, decisionView, executePlan, killAll, startInOrder, terminateAll,
  type ChildExitedEvent, type ChildRecord, type SupervisorIO,
} from './children.js';
import { backoffOptions, nextBackoff } from './backoff.js';
import { decideOnExit, decideOnRestartFailure, type ExitDecision } from './decide.js';
import type { RestartPlan } from './strategy.js';

/** A request from the API (startChild, terminateChild, ...), run between restarts, in arrival order. */
export interface CallEvent {
  type: 'CALL';
  name: string;
  run: (children: ChildRecord[]) => Promise<unknown>;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}
export interface StopEvent {
  type: 'STOP';
  /** Kill every child now instead of honouring their shutdown values. */
  brutal?: boolean;
  /** The supervisor's exit reason: `shutdown` when its parent stops it (as OTP), `normal` for a root stopped by its user. */
  reason?: ExitReason;
}
/** A restart delayed by backoff is due: start these children (those still waiting for it). */
export interface RestartDueEvent {
  type: 'RESTART_DUE';
  ids: string[];
}
export type SupervisorEvent = ChildExitedEvent | CallEvent | StopEvent | RestartDueEvent;
type QueuedEvent = ChildExitedEvent | CallEvent | RestartDueEvent;

export interface SupervisorInput {
  spec: SupervisorSpec;
  io: SupervisorIO;
  children: ChildRecord[];
  /** Called once the first start of every child succeeded. */
  onStarted: () => void;
}

export interface SupervisorContext extends SupervisorInput {
  /** Restart times inside the intensity window, newest first. */
  restarts: number[];
  /** Exits and calls that arrived while the supervisor was busy; handled in order once it is running again. */
  inbox: QueuedEvent[];
  plan?: RestartPlan;
  stopRequested: boolean;
  brutal: boolean;
  gaveUp: boolean;
  exitReason?: ExitReason;
}

export interface SupervisorOutput {
  reason: ExitReason;
  /** True when it failed: gave up on max intensity, or did not start. */
  gaveUp: boolean;
}

const recordOf = (context: SupervisorContext, id: string) => context.children.find((c) => c.spec.id === id);

/** An exit of an incarnation that is no longer the running one (already terminated or replaced). */
function isStale(context: SupervisorContext, event: ChildExitedEvent): boolean {
  const record = recordOf(context, event.id);
  return !record || record.incarnation !== event.incarnation || record.status !== 'running';
}

function decide(context: SupervisorContext, event: ChildExitedEvent): ExitDecision {
  const view = { ...context.spec, children: decisionView(context.children, event.id), restarts: context.restarts };
  return decideOnExit(view, event.id, event.reason, event.at);
}

const exitDecisionIs = (kind: ExitDecision['kind']) => ({ context, event }: { context: SupervisorContext; event: SupervisorEvent }) =>
  event.type === 'CHILD_EXITED' && !isStale(context, event) && decide(context, event).kind === kind;

function retryDecision(context: SupervisorContext, error: unknown): ExitDecision | undefined {
  if (!(error instanceof ChildStartError)) return undefined;
  const view = { ...context.spec, children: decisionView(context.children), restarts: context.restarts };
  return decideOnRestartFailure(view, error.childId, error.at);
}

/**
 * With a `backoff` on the child that failed, its restart waits: the plan's terminations happen now (the strategy's
 * siblings must not run without it), its starts when the delay is over (a RESTART_DUE raised to this machine,
 * which meanwhile runs and answers calls). Returns the plan to carry out now.
 */
function applyBackoff(
  context: SupervisorContext,
  failed: ChildRecord,
  plan: RestartPlan,
  uptime: number,
  raise: (event: RestartDueEvent, options: { delay: number }) => void,
): RestartPlan {
  if (failed.spec.backoff === undefined) return plan;
  const step = nextBackoff(backoffOptions(failed.spec.backoff), failed.backoffAttempt, uptime, context.io.random());
  failed.backoffAttempt = step.attempt;
  if (step.delay <= 0 || plan.start.length === 0) return plan;
  const dueAt = context.io.now() + step.delay;
  for (const id of plan.start) {
    const record = recordOf(context, id);
    if (record) record.restartDueAt = dueAt;
  }
  context.io.emit({
    event: 'child_restart_delayed', supervisor: context.io.path, child: failed.spec.id,
    delay: step.delay, attempt: step.attempt, children: plan.start,
  });
  raise({ type: 'RESTART_DUE', ids: plan.start }, { delay: step.delay });
  return { ...plan, start: [] };
}

/** The children of a RESTART_DUE that still wait for it (not started, terminated or deleted meanwhile). */
function dueChildren(context: SupervisorContext, event: SupervisorEvent): ChildRecord[] {
  if (event.type !== 'RESTART_DUE') return [];
  return event.ids
    .map((id) => recordOf(context, id))
    .filter((r): r is ChildRecord => r !== undefined && r.restartDueAt !== undefined && r.status === 'stopped');
}

export const supervisorMachine = setup({
  types: {
    context: {} as SupervisorContext,
    events: {} as SupervisorEvent,
    input: {} as SupervisorInput,
    output: {} as SupervisorOutput,
  },
  actors: {
    startChildren: fromPromise<void, SupervisorContext>(({ input }) => startInOrder(input.io, input.children)),
    executeRestart: fromPromise<void, SupervisorContext>(({ input }) => executePlan(input.io, input.children, input.plan!)),
    runCall: fromPromise<void, { call: CallEvent; children: ChildRecord[] }>(async ({ input: { call, children } }) => {
      try {
        call.resolve(await call.run(children));
      } catch (error) {
        call.reject(error);
      }
    }),
    terminateChildren: fromPromise<void, SupervisorContext>(({ input }) =>
      terminateAll(input.io, input.spec, input.children, input.brutal),
    ),
  },
  guards: {
    stopRequested: ({ context }) => context.stopRequested,
    hasInbox: ({ context }) => context.inbox.length > 0,
    gaveUp: ({ context }) => context.gaveUp,
    exitIsStale: ({ context, event }) => event.type === 'CHILD_EXITED' && isStale(context, event),
    exitRestarts: exitDecisionIs('restart'),
    exitGivesUp: exitDecisionIs('give_up'),
    exitShutsDown: exitDecisionIs('auto_shutdown'),
    restartIsDue: ({ context, event }) => dueChildren(context, event).length > 0,
    retryGivesUp: ({ context, event }) =>
      retryDecision(context, (event as unknown as { error: unknown }).error)?.kind !== 'restart',
  },
  actions: {
    announceStarted: ({ context }) => {
      context.io.emit({ event: 'supervisor_started', supervisor: context.io.path, pid: process.pid });
      context.onStarted();
    },
    recordStartFailure: assign({
      exitReason: ({ event }) => {
        const error = (event as unknown as { error: unknown }).error;
        return error instanceof ChildStartError
          ? { startFailed: `child '${error.childId}': ${describeReason(error.reason)}` }
          : { startFailed: String(error) };
      },
      gaveUp: true,
    }),
    enqueue: assign({ inbox: ({ context, event }) => [...context.inbox, event as QueuedEvent] }),
    redeliverInbox: enqueueActions(({ context, enqueue }) => {
      enqueue.assign({ inbox: [] });
      for (const queued of context.inbox) enqueue.raise(queued);
    }),
    dropInbox: enqueueActions(({ context, enqueue }) => {
      for (const queued of context.inbox) if (queued.type === 'CALL') queued.reject(new Error('shutting_down'));
      enqueue.assign({ inbox: [] });
    }),
    rejectCall: ({ event }) => {
      if (event.type === 'CALL') event.reject(new Error('shutting_down'));
    },
    markStopRequested: assign({
      stopRequested: true,
      brutal: ({ context, event }) => context.brutal || (event.type === 'STOP' && event.brutal === true),
      exitReason: ({ context, event }) => context.exitReason ?? (event.type === 'STOP' ? event.reason : undefined) ?? 'normal',
    }),
    killRemainingIfBrutal: ({ context, event }) => {
      if (event.type === 'STOP' && event.brutal) killAll(context.children);
    },
    logStaleExit: ({ context, event }) => {
      if (event.type === 'CHILD_EXITED') context.io.logger.debug({ event: 'stale_exit', supervisor: context.io.path, child: event.id });
    },
    /** Updates the exited child's record and says what will be done about it. */
    recordExit: ({ context, event }) => {
      if (event.type !== 'CHILD_EXITED') return;
      const decision = decide(context, event);
      const record = recordOf(context, event.id)!;
      const pid = record.handle?.pid;
      record.status = 'stopped';
      record.handle = undefined;
      record.lastExit = event.reason;
      const remove = decision.kind === 'remove' || (decision.kind === 'auto_shutdown' && decision.remove);
      if (remove) context.children.splice(context.children.indexOf(record), 1);
      const action = decision.kind === 'auto_shutdown' ? 'auto_shutdown' : decision.kind;
      context.io.emit({ event: 'child_exited', supervisor: context.io.path, child: event.id, pid, reason: event.reason, action });
    },
    recordRestart: enqueueActions(({ context, event, enqueue }) => {
      const exit = event as ChildExitedEvent;
      const decision = decide(context, exit);
      if (decision.kind !== 'restart') return;
      const record = recordOf(context, exit.id)!;
      const uptime = record.startedAt === undefined ? 0 : exit.at - record.startedAt;
      enqueue.assign({ restarts: decision.restarts, plan: applyBackoff(context, record, decision.plan, uptime, enqueue.raise) });
    }),
    recordGiveUp: assign(({ context, event }) => {
      const exit = event.type === 'CHILD_EXITED' ? event : undefined;
      const error = (event as unknown as { error?: unknown }).error;
      const child = exit?.id ?? (error instanceof ChildStartError ? error.childId : '?');
      const reason = exit?.reason ?? (error instanceof ChildStartError ? error.reason : { startFailed: String(error) });
      context.io.emit({
        event: 'max_intensity_reached', supervisor: context.io.path, child,
        intensity: context.spec.intensity, period: context.spec.period, reason,
      });
      return { gaveUp: true, exitReason: 'shutdown' as ExitReason };
    }),
    recordRetry: enqueueActions(({ context, event, enqueue }) => {
      const error = (event as unknown as { error: unknown }).error;
      const decision = retryDecision(context, error);
      if (decision?.kind !== 'restart') return;
      const record = error instanceof ChildStartError ? recordOf(context, error.childId) : undefined;
      const plan = record ? applyBackoff(context, record, decision.plan, 0, enqueue.raise) : decision.plan;
      enqueue.assign({ restarts: decision.restarts, plan });
    }),
    /** A delayed restart is due: start those of its children that still wait for it. */
    recordDueRestart: assign(({ context, event }) => {
      const due = dueChildren(context, event);
      for (const record of due) record.restartDueAt = undefined;
      return { plan: { terminate: [], start: due.map((r) => r.spec.id), remove: [] } };
    }),
    recordAutoShutdown: assign(({ context, event }) => {
      if (event.type === 'CHILD_EXITED') context.io.emit({ event: 'auto_shutdown', supervisor: context.io.path, child: event.id });
      return { exitReason: 'shutdown' as ExitReason };
    }),
  },
}).createMachine({
  id: 'supervisor',
  initial: 'starting',
  context: ({ input }) => ({ ...input, restarts: [], inbox: [], stopRequested: false, brutal: false, gaveUp: false }),
  output: ({ context }) => ({ reason: context.exitReason ?? 'normal', gaveUp: context.gaveUp }),
  states: {
    starting: {
      invoke: {
        src: 'startChildren',
        input: ({ context }) => context,
        onDone: { target: 'running', actions: 'announceStarted' },
        onError: { target: 'failed', actions: 'recordStartFailure' },
      },
      on: { CHILD_EXITED: { actions: 'enqueue' }, CALL: { actions: 'enqueue' }, RESTART_DUE: { actions: 'enqueue' }, STOP: { actions: 'markStopRequested' } },
    },
    running: {
      always: [
        { guard: 'stopRequested', target: 'shuttingDown' },
        { guard: 'hasInbox', actions: 'redeliverInbox' },
      ],
      on: {
        CHILD_EXITED: [
          { guard: 'exitIsStale', actions: 'logStaleExit' },
          { guard: 'exitGivesUp', target: 'shuttingDown', actions: ['recordExit', 'recordGiveUp'] },
          { guard: 'exitRestarts', target: 'restarting', actions: ['recordExit', 'recordRestart'] },
          { guard: 'exitShutsDown', target: 'shuttingDown', actions: ['recordExit', 'recordAutoShutdown'] },
          { actions: 'recordExit' },
        ],
        RESTART_DUE: { guard: 'restartIsDue', target: 'restarting', actions: 'recordDueRestart' },
        CALL: 'calling',
        STOP: { target: 'shuttingDown', actions: 'markStopRequested' },
      },
    },
    restarting: {
      invoke: {
        src: 'executeRestart',
        input: ({ context }) => context,
        onDone: 'running',
        onError: [
          { guard: 'stopRequested', target: 'shuttingDown' },
          { guard: 'retryGivesUp', target: 'shuttingDown', actions: 'recordGiveUp' },
          { target: 'restarting', reenter: true, actions: 'recordRetry' },
        ],
      },
      on: { CHILD_EXITED: { actions: 'enqueue' }, CALL: { actions: 'enqueue' }, RESTART_DUE: { actions: 'enqueue' }, STOP: { actions: 'markStopRequested' } },
    },
    calling: {
      invoke: {
        src: 'runCall',
        input: ({ context, event }) => ({ call: event as CallEvent, children: context.children }),
        onDone: 'running',
      },
      on: { CHILD_EXITED: { actions: 'enqueue' }, CALL: { actions: 'enqueue' }, RESTART_DUE: { actions: 'enqueue' }, STOP: { actions: 'markStopRequested' } },
    },
    shuttingDown: {
      entry: 'dropInbox',
      invoke: {
        src: 'terminateChildren',
        input: ({ context }) => context,
        onDone: [{ guard: 'gaveUp', target: 'failed' }, { target: 'stopped' }],
      },
      on: {
        CALL: { actions: 'rejectCall' },
        STOP: { actions: ['markStopRequested', 'killRemainingIfBrutal'] },
      },
    },
    stopped: { type: 'final' },
    failed: { type: 'final' },
  },
});
