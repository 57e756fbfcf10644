// One supervisor as an xstate v5 machine. The config below is the statechart; decisions are pure functions
// (decide.ts), effects are the named actions and the invoked actors defined in `setup`.
import { assign, enqueueActions, fromPromise, setup } from 'xstate';
import { describeReason, type ExitReason, type SupervisorSpec } from '../types.js';
import {
  ChildStartError, decisionView, executePlan, killAll, startInOrder, terminateAll,
  type ChildExitedEvent, type ChildRecord, type SupervisorIO,
} from './children.js';
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
export type SupervisorEvent = ChildExitedEvent | CallEvent | StopEvent;

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
  inbox: Array<ChildExitedEvent | CallEvent>;
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
    enqueue: assign({ inbox: ({ context, event }) => [...context.inbox, event as ChildExitedEvent | CallEvent] }),
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
    recordRestart: assign(({ context, event }) => {
      const decision = decide(context, event as ChildExitedEvent);
      return decision.kind === 'restart' ? { restarts: decision.restarts, plan: decision.plan } : {};
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
    recordRetry: assign(({ context, event }) => {
      const decision = retryDecision(context, (event as unknown as { error: unknown }).error);
      return decision?.kind === 'restart' ? { restarts: decision.restarts, plan: decision.plan } : {};
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
      on: { CHILD_EXITED: { actions: 'enqueue' }, CALL: { actions: 'enqueue' }, STOP: { actions: 'markStopRequested' } },
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
      on: { CHILD_EXITED: { actions: 'enqueue' }, CALL: { actions: 'enqueue' }, STOP: { actions: 'markStopRequested' } },
    },
    calling: {
      invoke: {
        src: 'runCall',
        input: ({ context, event }) => ({ call: event as CallEvent, children: context.children }),
        onDone: 'running',
      },
      on: { CHILD_EXITED: { actions: 'enqueue' }, CALL: { actions: 'enqueue' }, STOP: { actions: 'markStopRequested' } },
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
