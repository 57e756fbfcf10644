// One supervisor as an xstate v5 machine. The config at the bottom is the statechart: every event that arrives while
// supervising is queued in the inbox and handled one at a time from `running` (as OTP's gen_server handles one
// message at a time); an exit is decided once (`deciding`, the decision kept in context) and the machine branches on
// that decision. Decisions are pure functions (decide.ts); effects are the named actions and invoked actors below;
// the child list (child-list.ts) is changed only by them and by the procedures they run (children.ts).
import { assign, enqueueActions, fromPromise, setup, type SnapshotFrom } from 'xstate';
import { describeReason, type ExitReason, type SupervisorSpec } from '../types.js';
import {
  ChildList, ChildStartError, executePlan, killAll, startInOrder, terminateAll,
  type ChildExitedEvent, type ChildRecord, type SupervisorIO,
} from './children.js';
import { backoffOptions, nextBackoff } from './backoff.js';
import { decideOnExit, decideOnRestartFailure, type ExitDecision, type SupervisorView } from './decide.js';
import { emptyQueue, push, shift, toArray, type Queue } from './queue.js';
import type { RestartPlan } from './strategy.js';

/** A request from the API (startChild, terminateChild, ...), run between restarts, in arrival order. */
export interface CallEvent {
  type: 'CALL';
  name: string;
  /** Runs inside the machine (state `calling`): the only place a request may change the child list. */
  run: (children: ChildList) => Promise<unknown>;
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
  /** Called once the first start of every child succeeded. */
  onStarted: () => void;
}

/** An exit (or a failed restart) and what the supervisor decided about it: computed once, then branched on. */
export interface Decided {
  child: string;
  reason: ExitReason;
  at: number;
  /** ms the incarnation ran (0 for a restart that failed to start): a long enough run resets its backoff. */
  uptime: number;
  decision: ExitDecision;
}

export interface SupervisorContext extends SupervisorInput {
  /** The children, in start order. The machine's actions and actors are its only writers. */
  children: ChildList;
  /** Restart times inside the intensity window, newest first. */
  restarts: number[];
  /** Exits, calls and due restarts in arrival order; the machine handles them one at a time from `running`. */
  inbox: Queue<QueuedEvent>;
  /** The queued event being handled. */
  current?: QueuedEvent;
  decided?: Decided;
  plan?: RestartPlan;
  stopRequested: boolean;
  brutal: boolean;
  gaveUp: boolean;
  exitReason?: ExitReason;
}

export interface SupervisorOutput {
  reason: ExitReason;
  /** True when it failed: gave up on max intensity, did not start, or failed inside. */
  gaveUp: boolean;
}

/** What the pure decisions see of the supervisor. */
const viewOf = (context: SupervisorContext): SupervisorView => ({ ...context.spec, children: context.children, restarts: context.restarts });

/** An exit of an incarnation that is no longer the running one (already terminated or replaced). */
function isStale(children: ChildList, event: ChildExitedEvent): boolean {
  const record = children.get(event.id);
  return !record || record.incarnation !== event.incarnation || record.status !== 'running';
}

const currentExit = (context: SupervisorContext): ChildExitedEvent | undefined =>
  context.current?.type === 'CHILD_EXITED' ? context.current : undefined;

/**
 * With a `backoff` on the child that failed, its restart waits: the plan's terminations happen now (the strategy's
 * siblings must not run without it), its starts when the delay is over (a RESTART_DUE raised to this machine,
 * which meanwhile runs and answers calls). Returns the plan to carry out now.
 */
function applyBackoff(
  context: SupervisorContext,
  decided: Decided,
  plan: RestartPlan,
  raise: (event: RestartDueEvent, options: { delay: number }) => void,
): RestartPlan {
  const { children, io } = context;
  const failed = children.get(decided.child);
  if (failed?.spec.backoff === undefined) return plan;
  const step = nextBackoff(backoffOptions(failed.spec.backoff), failed.backoffAttempt, decided.uptime, io.random());
  children.backoffStep(failed, step.attempt);
  if (step.delay <= 0 || plan.start.length === 0) return plan;
  const dueAt = io.now() + step.delay;
  for (const id of plan.start) {
    const record = children.get(id);
    if (record) children.restartDue(record, dueAt);
  }
  io.emit({
    event: 'child_restart_delayed', supervisor: io.path, child: failed.spec.id,
    delay: step.delay, attempt: step.attempt, children: plan.start,
  });
  raise({ type: 'RESTART_DUE', ids: plan.start }, { delay: step.delay });
  return { ...plan, start: [] };
}

/** The children of a RESTART_DUE that still wait for it (not started, terminated or deleted meanwhile). */
function dueChildren(context: SupervisorContext): ChildRecord[] {
  const event = context.current;
  if (event?.type !== 'RESTART_DUE') return [];
  const due: ChildRecord[] = [];
  for (const id of event.ids) {
    const record = context.children.get(id);
    if (record && record.restartDueAt !== undefined && record.status === 'stopped') due.push(record);
  }
  return due;
}

/** The exit reason of a supervisor that failed of a defect of its own. */
export const internalReason = (error: unknown): ExitReason =>
  error instanceof Error ? { internalError: error.message, ...(error.stack ? { stack: error.stack } : {}) } : { internalError: String(error) };

export const supervisorMachine = setup({
  types: {
    context: {} as SupervisorContext,
    events: {} as SupervisorEvent,
    input: {} as SupervisorInput,
    output: {} as SupervisorOutput,
  },
  actors: {
    startChildren: fromPromise<void, SupervisorContext>(({ input, signal }) => startInOrder(input.io, input.children, signal)),
    executeRestart: fromPromise<void, SupervisorContext>(({ input }) => executePlan(input.io, input.children, input.plan!)),
    runCall: fromPromise<void, { call: CallEvent; children: ChildList }>(async ({ input: { call, children } }) => {
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
    isStartError: (_, params: { error: unknown }) => params.error instanceof ChildStartError,
    currentIsStaleExit: ({ context }) => {
      const exit = currentExit(context);
      return exit !== undefined && isStale(context.children, exit);
    },
    currentIsExit: ({ context }) => currentExit(context) !== undefined,
    currentIsCall: ({ context }) => context.current?.type === 'CALL',
    currentIsDueRestart: ({ context }) => dueChildren(context).length > 0,
    decidedTo: ({ context }, params: { kind: ExitDecision['kind'] }) => context.decided?.decision.kind === params.kind,
  },
  actions: {
    announceStarted: ({ context }) => {
      context.io.emit({ event: 'supervisor_started', supervisor: context.io.path, pid: process.pid });
      context.onStarted();
    },
    recordStartFailure: assign((_, params: { error: unknown }) => ({
      exitReason: params.error instanceof ChildStartError
        ? { startFailed: `child '${params.error.childId}': ${describeReason(params.error.reason)}` }
        : internalReason(params.error),
      gaveUp: true,
    })),
    /** A bug in the supervisor itself, not a restart storm: reported as what it is, and the supervisor fails. */
    recordInternalError: assign(({ context }, params: { error: unknown }) => {
      const reason = internalReason(params.error);
      context.io.emit({ event: 'internal_error', supervisor: context.io.path, reason });
      return { gaveUp: true, exitReason: reason };
    }),
    enqueue: assign({
      inbox: ({ context, event }) => (event.type === 'STOP' ? context.inbox : push(context.inbox, event)),
    }),
    takeNext: assign(({ context }) => {
      const next = shift(context.inbox);
      return next ? { current: next.value, inbox: next.rest } : {};
    }),
    dropInbox: enqueueActions(({ context, enqueue }) => {
      for (const queued of toArray(context.inbox)) if (queued.type === 'CALL') queued.reject(new Error('shutting_down'));
      enqueue.assign({ inbox: emptyQueue<QueuedEvent>(), current: undefined });
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
    logStaleExit: ({ context }) => {
      const exit = currentExit(context);
      if (exit) context.io.logger.debug({ event: 'stale_exit', supervisor: context.io.path, child: exit.id });
    },
    /** The child is stopped; the decision about its exit is made once, recorded, and announced. */
    recordExit: assign(({ context }) => {
      const exit = currentExit(context)!;
      const { children, io } = context;
      const record = children.get(exit.id)!;
      const pid = record.handle?.pid;
      const uptime = record.startedAt === undefined ? 0 : exit.at - record.startedAt;
      children.stopped(record, exit.reason);
      const decision = decideOnExit(viewOf(context), exit.id, exit.reason, exit.at);
      if (decision.kind === 'remove' || (decision.kind === 'auto_shutdown' && decision.remove)) children.remove(record);
      const action = decision.kind === 'auto_shutdown' ? 'auto_shutdown' : decision.kind;
      io.emit({ event: 'child_exited', supervisor: io.path, child: exit.id, pid, reason: exit.reason, action });
      return { decided: { child: exit.id, reason: exit.reason, at: exit.at, uptime, decision } };
    }),
    /** A restart's start failed: try again (counting toward intensity) or give up, decided once like an exit. */
    decideRetry: assign(({ context }, params: { error: unknown }) => {
      const error = params.error as ChildStartError;
      const decision = decideOnRestartFailure(viewOf(context), error.childId, error.at);
      return { decided: { child: error.childId, reason: error.reason, at: error.at, uptime: 0, decision } };
    }),
    scheduleRestart: enqueueActions(({ context, enqueue }) => {
      const decided = context.decided!;
      if (decided.decision.kind !== 'restart') return;
      enqueue.assign({
        restarts: decided.decision.restarts,
        plan: applyBackoff(context, decided, decided.decision.plan, enqueue.raise),
      });
    }),
    recordGiveUp: assign(({ context }) => {
      const decided = context.decided!;
      context.io.emit({
        event: 'max_intensity_reached', supervisor: context.io.path, child: decided.child,
        intensity: context.spec.intensity, period: context.spec.period, reason: decided.reason,
      });
      return {
        gaveUp: true,
        exitReason: 'shutdown' as ExitReason,
        restarts: decided.decision.kind === 'give_up' ? decided.decision.restarts : context.restarts,
      };
    }),
    /** A delayed restart is due: start those of its children that still wait for it. */
    recordDueRestart: assign(({ context }) => {
      const due = dueChildren(context);
      for (const record of due) context.children.restartDue(record, undefined);
      return { plan: { terminate: [], start: due.map((r) => r.spec.id), remove: [] } };
    }),
    recordAutoShutdown: assign(({ context }) => {
      context.io.emit({ event: 'auto_shutdown', supervisor: context.io.path, child: context.decided!.child });
      return { exitReason: 'shutdown' as ExitReason };
    }),
  },
}).createMachine({
  id: 'supervisor',
  initial: 'supervising',
  context: ({ input }) => ({
    ...input,
    children: new ChildList(input.spec.children),
    restarts: [],
    inbox: emptyQueue<QueuedEvent>(),
    stopRequested: false,
    brutal: false,
    gaveUp: false,
  }),
  output: ({ context }) => ({ reason: context.exitReason ?? 'normal', gaveUp: context.gaveUp }),
  states: {
    supervising: {
      initial: 'starting',
      // Whatever arrives while supervising waits its turn in the inbox; a stop is noted and honoured from `running`.
      on: {
        CHILD_EXITED: { actions: 'enqueue' },
        CALL: { actions: 'enqueue' },
        RESTART_DUE: { actions: 'enqueue' },
        STOP: { actions: 'markStopRequested' },
      },
      states: {
        starting: {
          invoke: {
            src: 'startChildren',
            input: ({ context }) => context,
            onDone: { target: 'running', actions: 'announceStarted' },
            onError: [
              {
                guard: { type: 'isStartError', params: ({ event }) => ({ error: event.error }) },
                target: '#supervisor.failed',
                actions: { type: 'recordStartFailure', params: ({ event }) => ({ error: event.error }) },
              },
              { target: '#supervisor.shuttingDown', actions: { type: 'recordInternalError', params: ({ event }) => ({ error: event.error }) } },
            ],
          },
          // A stop during the start stops starting: what started is terminated, the rest never starts.
          on: { STOP: { target: '#supervisor.shuttingDown', actions: 'markStopRequested' } },
        },
        running: {
          always: [
            { guard: 'stopRequested', target: '#supervisor.shuttingDown' },
            { guard: 'hasInbox', target: 'dispatching', actions: 'takeNext' },
          ],
        },
        dispatching: {
          always: [
            { guard: 'currentIsStaleExit', target: 'running', actions: 'logStaleExit' },
            { guard: 'currentIsExit', target: 'deciding', actions: 'recordExit' },
            { guard: 'currentIsCall', target: 'calling' },
            { guard: 'currentIsDueRestart', target: 'restarting', actions: 'recordDueRestart' },
            { target: 'running' },
          ],
        },
        deciding: {
          always: [
            { guard: { type: 'decidedTo', params: { kind: 'restart' } }, target: 'restarting', actions: 'scheduleRestart' },
            { guard: { type: 'decidedTo', params: { kind: 'give_up' } }, target: '#supervisor.shuttingDown', actions: 'recordGiveUp' },
            { guard: { type: 'decidedTo', params: { kind: 'auto_shutdown' } }, target: '#supervisor.shuttingDown', actions: 'recordAutoShutdown' },
            { target: 'running' },
          ],
        },
        restarting: {
          invoke: {
            src: 'executeRestart',
            input: ({ context }) => context,
            onDone: 'running',
            onError: [
              { guard: 'stopRequested', target: '#supervisor.shuttingDown' },
              {
                guard: { type: 'isStartError', params: ({ event }) => ({ error: event.error }) },
                target: 'deciding',
                actions: { type: 'decideRetry', params: ({ event }) => ({ error: event.error }) },
              },
              { target: '#supervisor.shuttingDown', actions: { type: 'recordInternalError', params: ({ event }) => ({ error: event.error }) } },
            ],
          },
        },
        calling: {
          invoke: {
            src: 'runCall',
            input: ({ context }) => ({ call: context.current as CallEvent, children: context.children }),
            onDone: 'running',
          },
        },
      },
    },
    shuttingDown: {
      entry: 'dropInbox',
      invoke: {
        src: 'terminateChildren',
        input: ({ context }) => context,
        onDone: [{ guard: 'gaveUp', target: 'failed' }, { target: 'stopped' }],
        onError: { target: 'failed', actions: { type: 'recordInternalError', params: ({ event }) => ({ error: event.error }) } },
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

export type SupervisorSnapshot = SnapshotFrom<typeof supervisorMachine>;

/**
 * The state a supervisor reports: starting, running, restarting, calling, shuttingDown, stopped, failed.
 * `dispatching` and `deciding` are transient (never seen between events).
 */
export function stateName(snapshot: SupervisorSnapshot): string {
  const value = snapshot.value;
  return typeof value === 'string' ? value : String(Object.values(value)[0]);
}
