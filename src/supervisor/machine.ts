// One supervisor as an xstate v5 machine. The config at the bottom is the statechart: every event that arrives while
// supervising is queued in the inbox and handled in arrival order from `running`, as OTP's gen_server handles its
// mailbox. Exits that queued up together are taken as one batch where the strategy lets each be decided alone
// (one_for_one, simple_one_for_one): each exit is decided once (`deciding`), the decisions become steps carried out
// in order (`restarting`), and a decision that ends the supervisor is handled alone, after the steps before it.
// Decisions are pure functions (decide.ts); effects are the named actions and invoked actors below; the child list
// (child-list.ts) is changed only by them and by the procedures they run (children.ts).
import { assign, enqueueActions, fromPromise, setup, type SnapshotFrom } from 'xstate';
import { describeReason, type ExitReason, type SupervisorFlags, type SupervisorSpec } from '../types.js';
import {
  ChildList,
  ChildStartError,
  executeSteps,
  killAll,
  startInOrder,
  terminateAll,
  type ChildExitedEvent,
  type ChildRecord,
  type PlanStep,
  type SupervisorIO,
} from './children.js';
import { backoffOptions, nextBackoff } from './backoff.js';
import { decideOnExit, decideOnRestartFailure, type DecisionChildren, type SupervisorView } from './decide.js';
import { emptyQueue, push, shift, toArray, unshiftAll, type Queue } from './queue.js';
import type { RestartPlan } from './strategy.js';
import { RestartWindow } from './intensity.js';
import type { CallLane } from './call-lane.js';

/** A request from the API (startChild, terminateChild, ...), run between restarts, in arrival order. */
export interface CallEvent {
  type: 'CALL';
  name: string;
  /**
   * Runs inside the machine (state `calling`): the only place a request may change the child list. Answers with a
   * value, or with a promise of one when it has to wait (most of a burst of task starts answer at once).
   */
  run: (children: ChildList) => unknown;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}
/** The supervisor's own flags change (a reload, as OTP's code_change): from the next event on it runs by them. */
export interface SetFlagsEvent {
  type: 'SET_FLAGS';
  flags: SupervisorFlags;
  resolve: () => void;
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
export type QueuedEvent = ChildExitedEvent | CallEvent | SetFlagsEvent | RestartDueEvent;
/** A queued event someone waits on: refused when the supervisor stops before its turn. */
const isRequest = (event: SupervisorEvent): event is CallEvent | SetFlagsEvent =>
  event.type === 'CALL' || event.type === 'SET_FLAGS';
/** Exits and calls that arrived in the same tick, in order: one event for the machine instead of one each. */
export interface ArrivedEvent {
  type: 'ARRIVED';
  events: QueuedEvent[];
}
export type SupervisorEvent = ChildExitedEvent | CallEvent | SetFlagsEvent | StopEvent | RestartDueEvent | ArrivedEvent;

export interface SupervisorInput {
  spec: SupervisorSpec;
  io: SupervisorIO;
  /** Called once the first start of every child succeeded. */
  onStarted: () => void;
  /** Calls that arrive while calls run, with nothing else waiting, for the running batch to take (call-lane.ts). */
  openLane?: () => CallLane<CallEvent> | undefined;
}

/** An exit (or a failed restart) after which the supervisor stops: decided once, then branched on. */
export interface Ending {
  kind: 'give_up' | 'auto_shutdown';
  child: string;
  reason: ExitReason;
}

export interface SupervisorContext extends SupervisorInput {
  /** The children, in start order. The machine's actions and actors are its only writers. */
  children: ChildList;
  /** Restart times inside the intensity window. */
  restarts: RestartWindow;
  /** Exits, calls and due restarts in arrival order; the machine handles them one at a time from `running`. */
  inbox: Queue<QueuedEvent>;
  /** The queued events being handled: one, or a run of calls, or a run of exits the strategy decides alone. */
  batch: QueuedEvent[];
  /** What the exits (or due restarts) handled now make the supervisor do, in order. */
  steps: PlanStep[];
  ending?: Ending;
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
const viewOf = (context: SupervisorContext): SupervisorView => ({
  ...context.spec,
  children: context.children,
  restarts: context.restarts,
});

/** An exit of an incarnation that is no longer the running one (already terminated or replaced). */
function isStale(children: ChildList, event: ChildExitedEvent): boolean {
  const record = children.get(event.id);
  return !record || record.incarnation !== event.incarnation || record.status !== 'running';
}

const NOTHING: RestartPlan = { terminate: [], start: [], remove: [] };

/** The children as a decision about `exited` sees them: that child no longer running, nothing else changed. */
function withExited(children: ChildList, exited: ChildRecord): DecisionChildren {
  const wasRunning = exited.status === 'running';
  return {
    decisionChild: (id) => {
      const child = children.decisionChild(id);
      return child && id === exited.spec.id ? { ...child, running: false } : child;
    },
    inOrder: () => children.inOrder().map((c) => (c.id === exited.spec.id ? { ...c, running: false } : c)),
    significantRunning: () => children.significantRunning() - (wasRunning && exited.spec.significant ? 1 : 0),
  };
}

/** Whether each exit can be decided without the others having been carried out (so they can be handled together). */
const decidesAlone = (spec: SupervisorSpec): boolean =>
  (spec.strategy === 'one_for_one' || spec.strategy === 'simple_one_for_one') && spec.autoShutdown === 'never';

/** The events to handle next: the inbox's first, with the calls (or batchable exits) queued right behind it. */
function nextBatch(context: SupervisorContext): { batch: QueuedEvent[]; inbox: Queue<QueuedEvent> } {
  const first = shift(context.inbox);
  if (!first) return { batch: [], inbox: context.inbox };
  const batch = [first.value];
  let inbox = first.rest;
  const type = first.value.type;
  const takesMore = type === 'CALL' || (type === 'CHILD_EXITED' && decidesAlone(context.spec));
  for (let next = shift(inbox); takesMore && next?.value.type === type; next = shift(inbox)) {
    batch.push(next.value);
    inbox = next.rest;
  }
  return { batch, inbox };
}

/**
 * With a `backoff` on the child that failed, its restart waits: the plan's terminations happen now (the strategy's
 * siblings must not run without it), its starts when the delay is over (a RESTART_DUE raised to this machine,
 * which meanwhile runs and answers calls). Returns the plan to carry out now.
 */
function applyBackoff(
  context: SupervisorContext,
  failedId: string,
  uptime: number,
  plan: RestartPlan,
  raise: (event: RestartDueEvent, options: { delay: number }) => void,
): RestartPlan {
  const { children, io } = context;
  const failed = children.get(failedId);
  if (failed?.spec.backoff === undefined) return plan;
  const step = nextBackoff(backoffOptions(failed.spec.backoff), failed.backoffAttempt, uptime, io.random());
  children.backoffStep(failed, step.attempt);
  if (step.delay <= 0 || plan.start.length === 0) return plan;
  const dueAt = io.now() + step.delay;
  for (const id of plan.start) {
    const record = children.get(id);
    if (record) children.restartDue(record, dueAt);
  }
  io.emit({
    event: 'child_restart_delayed',
    supervisor: io.path,
    child: failed.spec.id,
    delay: step.delay,
    attempt: step.attempt,
    children: plan.start,
  });
  raise({ type: 'RESTART_DUE', ids: plan.start }, { delay: step.delay });
  return { ...plan, start: [] };
}

/** The children of a RESTART_DUE that still wait for it (not started, terminated or deleted meanwhile). */
function dueChildren(context: SupervisorContext): ChildRecord[] {
  const event = context.batch[0];
  if (event?.type !== 'RESTART_DUE') return [];
  const due: ChildRecord[] = [];
  for (const id of event.ids) {
    const record = context.children.get(id);
    if (record && record.restartDueAt !== undefined && record.status === 'stopped') due.push(record);
  }
  return due;
}

/**
 * Runs one call. Answers it at once when it gave a value (no promise: most of a burst of task starts) or threw; else
 * returns the promise of its answer, for the batch to wait on.
 */
function runCall(call: CallEvent, children: ChildList): Promise<unknown> | undefined {
  let answer: unknown;
  try {
    answer = call.run(children);
  } catch (error) {
    call.reject(error);
    return undefined;
  }
  if (answer instanceof Promise) return answer;
  call.resolve(answer);
  return undefined;
}

/** The exit reason of a supervisor that failed of a defect of its own. */
export const internalReason = (error: unknown): ExitReason =>
  error instanceof Error
    ? { internalError: error.message, ...(error.stack ? { stack: error.stack } : {}) }
    : { internalError: String(error) };

export const supervisorMachine = setup({
  types: {
    context: {} as SupervisorContext,
    events: {} as SupervisorEvent,
    input: {} as SupervisorInput,
    output: {} as SupervisorOutput,
  },
  actors: {
    startChildren: fromPromise<void, SupervisorContext>(({ input, signal }) =>
      startInOrder(input.io, input.children, signal),
    ),
    executeRestart: fromPromise<void, SupervisorContext>(({ input }) =>
      executeSteps(input.io, input.children, input.steps),
    ),
    /**
     * Calls queued together run one after another, each to its end, in arrival order; then those the lane brings,
     * which would have been the next batch (call-lane.ts).
     */
    runCalls: fromPromise<
      void,
      { calls: CallEvent[]; children: ChildList; openLane?: () => CallLane<CallEvent> | undefined }
    >(async ({ input: { calls, children, openLane } }) => {
      // Opened first: a caller awaiting each answer makes its next call before this batch would look for it.
      const lane = openLane?.();
      let taken = 0;
      for (;;) {
        let call: CallEvent;
        if (taken < calls.length) {
          call = calls[taken++]!;
        } else {
          const next = lane?.next();
          if (next === undefined) return;
          if (next instanceof Promise) {
            await next;
            continue;
          }
          call = next;
        }
        const answer = runCall(call, children);
        if (answer === undefined) continue;
        try {
          call.resolve(await answer);
        } catch (error) {
          call.reject(error);
        }
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
    batchIs: ({ context }, params: { type: QueuedEvent['type'] }) => context.batch[0]?.type === params.type,
    restartIsDue: ({ context }) => dueChildren(context).length > 0,
    endsWith: ({ context }, params: { kind: Ending['kind'] }) => context.ending?.kind === params.kind,
    hasSteps: ({ context }) => context.steps.length > 0,
  },
  actions: {
    announceStarted: ({ context }) => {
      context.io.emit({ event: 'supervisor_started', supervisor: context.io.path, pid: process.pid });
      context.onStarted();
    },
    recordStartFailure: assign((_, params: { error: unknown }) => ({
      exitReason:
        params.error instanceof ChildStartError
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
      inbox: ({ context, event }) => {
        if (event.type === 'STOP') return context.inbox;
        if (event.type !== 'ARRIVED') return push(context.inbox, event);
        let inbox = context.inbox;
        for (const arrived of event.events) inbox = push(inbox, arrived);
        return inbox;
      },
    }),
    takeNext: assign(({ context }) => ({ ...nextBatch(context), steps: [] })),
    /** The spec in context is replaced, never changed in place: the object the supervisor started with stays as it was. */
    applyFlags: assign({
      spec: ({ context }) => {
        const event = context.batch[0] as SetFlagsEvent;
        return { ...context.spec, ...event.flags };
      },
    }),
    answerFlags: ({ context }) => (context.batch[0] as SetFlagsEvent).resolve(),
    dropInbox: enqueueActions(({ context, enqueue }) => {
      for (const queued of toArray(context.inbox)) if (isRequest(queued)) queued.reject(new Error('shutting_down'));
      enqueue.assign({ inbox: emptyQueue<QueuedEvent>(), batch: [] });
    }),
    rejectCall: ({ event }) => {
      const calls = event.type === 'ARRIVED' ? event.events : [event];
      for (const call of calls) if (isRequest(call)) call.reject(new Error('shutting_down'));
    },
    markStopRequested: assign({
      stopRequested: true,
      brutal: ({ context, event }) => context.brutal || (event.type === 'STOP' && event.brutal === true),
      exitReason: ({ context, event }) =>
        context.exitReason ?? (event.type === 'STOP' ? event.reason : undefined) ?? 'normal',
    }),
    killRemainingIfBrutal: ({ context, event }) => {
      if (event.type === 'STOP' && event.brutal) killAll(context.children);
    },
    /**
     * Each exit of the batch is decided once, in order, on the restart window the ones before it left (OTP's
     * do_restart per 'EXIT'), and recorded; restarts and removals become steps. A decision that ends the supervisor
     * is taken alone: behind other exits, it and what follows go back to the inbox, to be handled after their steps.
     */
    decideExits: enqueueActions(({ context, enqueue }) => {
      const { children, io } = context;
      let restarts = context.restarts;
      const steps: PlanStep[] = [];
      let ending: Ending | undefined;
      let inbox = context.inbox;
      for (const [index, event] of context.batch.entries()) {
        const exit = event as ChildExitedEvent;
        if (isStale(children, exit)) {
          io.logger.debug({ event: 'stale_exit', supervisor: io.path, child: exit.id });
          continue;
        }
        const record = children.get(exit.id)!;
        const view = { ...context.spec, restarts, children: withExited(children, record) };
        const decision = decideOnExit(view, exit.id, exit.reason, exit.at);
        const ends = decision.kind === 'give_up' || decision.kind === 'auto_shutdown';
        if (ends && steps.length > 0) {
          inbox = unshiftAll(inbox, context.batch.slice(index));
          break;
        }
        const pid = record.handle?.pid;
        const uptime = record.startedAt === undefined ? 0 : exit.at - record.startedAt;
        children.stopped(record, exit.reason);
        if (decision.kind === 'remove' || (decision.kind === 'auto_shutdown' && decision.remove))
          children.remove(record);
        // Announced now while nothing is left to carry out before it; else when its turn comes (executeSteps).
        const exited = {
          event: 'child_exited',
          supervisor: io.path,
          child: exit.id,
          pid,
          reason: exit.reason,
          action: decision.kind,
        } as const;
        const announce = (plan?: RestartPlan): void => {
          if (steps.length === 0) io.emit(exited);
          if (steps.length > 0 || plan)
            steps.push(steps.length > 0 ? { exited, plan: plan ?? NOTHING } : { plan: plan! });
        };
        if (decision.kind === 'restart') {
          restarts = decision.restarts;
          announce(applyBackoff(context, exit.id, uptime, decision.plan, enqueue.raise));
        } else if (ends) {
          if (decision.kind === 'give_up') restarts = decision.restarts;
          announce();
          ending = { kind: decision.kind, child: exit.id, reason: exit.reason };
          break;
        } else {
          announce();
        }
      }
      enqueue.assign({ restarts, steps, ending, inbox });
    }),
    /** A restart's start failed: try again (counting toward intensity) or give up, decided once like an exit. */
    decideRetry: enqueueActions(({ context, enqueue }, params: { error: unknown }) => {
      const error = params.error as ChildStartError;
      const decision = decideOnRestartFailure(viewOf(context), error.childId, error.at);
      if (decision.kind !== 'restart') {
        // What was still to be done is not: announce the exits it held, so that none goes unreported.
        for (const step of error.rest) if (step.exited) context.io.emit(step.exited);
        const restarts = decision.kind === 'give_up' ? decision.restarts : context.restarts;
        enqueue.assign({
          restarts,
          steps: [],
          ending: { kind: 'give_up', child: error.childId, reason: error.reason },
        });
        return;
      }
      const plan = applyBackoff(context, error.childId, 0, decision.plan, enqueue.raise);
      enqueue.assign({ restarts: decision.restarts, steps: [{ plan }, ...error.rest] });
    }),
    recordGiveUp: assign(({ context }) => {
      const ending = context.ending!;
      context.io.emit({
        event: 'max_intensity_reached',
        supervisor: context.io.path,
        child: ending.child,
        intensity: context.spec.intensity,
        period: context.spec.period,
        reason: ending.reason,
      });
      return { gaveUp: true, exitReason: 'shutdown' as ExitReason };
    }),
    /** A delayed restart is due: start those of its children that still wait for it. */
    recordDueRestart: assign(({ context }) => {
      const due = dueChildren(context);
      for (const record of due) context.children.restartDue(record, undefined);
      return { steps: [{ plan: { terminate: [], start: due.map((r) => r.spec.id), remove: [] } }] };
    }),
    recordAutoShutdown: assign(({ context }) => {
      context.io.emit({ event: 'auto_shutdown', supervisor: context.io.path, child: context.ending!.child });
      return { exitReason: 'shutdown' as ExitReason };
    }),
  },
}).createMachine({
  id: 'supervisor',
  initial: 'supervising',
  context: ({ input }) => ({
    ...input,
    children: new ChildList(input.spec.children),
    restarts: RestartWindow.EMPTY,
    inbox: emptyQueue<QueuedEvent>(),
    batch: [],
    steps: [],
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
        SET_FLAGS: { actions: 'enqueue' },
        RESTART_DUE: { actions: 'enqueue' },
        ARRIVED: { actions: 'enqueue' },
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
              {
                target: '#supervisor.shuttingDown',
                actions: { type: 'recordInternalError', params: ({ event }) => ({ error: event.error }) },
              },
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
            {
              guard: { type: 'batchIs', params: { type: 'CHILD_EXITED' } },
              target: 'deciding',
              actions: 'decideExits',
            },
            { guard: { type: 'batchIs', params: { type: 'CALL' } }, target: 'calling' },
            {
              guard: { type: 'batchIs', params: { type: 'SET_FLAGS' } },
              target: 'running',
              actions: ['applyFlags', 'answerFlags'],
            },
            { guard: 'restartIsDue', target: 'restarting', actions: 'recordDueRestart' },
            { target: 'running' },
          ],
        },
        deciding: {
          always: [
            {
              guard: { type: 'endsWith', params: { kind: 'give_up' } },
              target: '#supervisor.shuttingDown',
              actions: 'recordGiveUp',
            },
            {
              guard: { type: 'endsWith', params: { kind: 'auto_shutdown' } },
              target: '#supervisor.shuttingDown',
              actions: 'recordAutoShutdown',
            },
            { guard: 'hasSteps', target: 'restarting' },
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
              {
                target: '#supervisor.shuttingDown',
                actions: { type: 'recordInternalError', params: ({ event }) => ({ error: event.error }) },
              },
            ],
          },
        },
        calling: {
          invoke: {
            src: 'runCalls',
            input: ({ context }) => ({
              calls: context.batch as CallEvent[],
              children: context.children,
              openLane: context.openLane,
            }),
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
        onError: {
          target: 'failed',
          actions: { type: 'recordInternalError', params: ({ event }) => ({ error: event.error }) },
        },
      },
      on: {
        CALL: { actions: 'rejectCall' },
        SET_FLAGS: { actions: 'rejectCall' },
        ARRIVED: { actions: 'rejectCall' },
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
