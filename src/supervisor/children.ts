// The I/O a supervisor does on its children: start in order, terminate in reverse, carry out a plan. The machine
// decides (pure functions) and invokes these procedures; they change the child list only through its named
// operations (child-list.ts), one incarnation of a child at a time.
import type { Logger } from 'pino';
import type { ChildHandle, ListenerLink } from '../child.js';
import { StartFailure } from '../child.js';
import type { ExitReason, SupervisorSpec } from '../types.js';
import type { ChildList, ChildRecord } from './child-list.js';
import type { RestartPlan } from './strategy.js';
import type { TreeEvent } from './events.js';

export { ChildList, type ChildRecord, type ChildStatus, type ReadonlyChildList } from './child-list.js';

/** Events the I/O feeds back into the supervisor's machine. */
export interface ChildExitedEvent {
  type: 'CHILD_EXITED';
  id: string;
  incarnation: number;
  reason: ExitReason;
  /** ms timestamp of the exit: carried in the event so decisions stay pure. */
  at: number;
}

/** Everything a supervisor's procedures need from the outside world. */
export interface SupervisorIO {
  path: string;
  logger: Logger;
  now(): number;
  /** In [0, 1): the jitter of restart backoff. */
  random(): number;
  emit(event: TreeEvent): void;
  /** Creates incarnation number `incarnation` of a child: its own exits reach `childExited`, carrying that number. */
  createHandle(record: ChildRecord, incarnation: number): ChildHandle;
  /** Feeds a child's own exit to the machine. */
  childExited(event: ChildExitedEvent): void;
  /** The running listener with this id, among this supervisor's children or its ancestors'. */
  resolveListener(id: string): ListenerLink | undefined;
}

/** A child that did not start: carried as the rejection of a start or restart. */
export class ChildStartError extends Error {
  /** The steps of a restart that had not been carried out when this start failed: they still are to be. */
  rest: PlanStep[] = [];

  constructor(
    readonly childId: string,
    readonly reason: ExitReason,
    readonly at: number,
  ) {
    super(`child '${childId}' failed to start: ${typeof reason === 'string' ? reason : JSON.stringify(reason)}`);
    this.name = 'ChildStartError';
  }
}

/** The `child_exited` event of an exit the supervisor decided on. */
export type ExitNotice = Extract<TreeEvent, { event: 'child_exited' }>;

/**
 * One exit handled: it is announced, then its plan carried out. Exits handled together (a batch) are steps in
 * arrival order, so that the events read as if each had been handled alone, as OTP handles one 'EXIT' at a time.
 */
export interface PlanStep {
  exited?: ExitNotice;
  plan: RestartPlan;
}

const reasonOf = (error: unknown): ExitReason =>
  error instanceof StartFailure ? error.reason : { startFailed: String(error) };

/**
 * Starts a new incarnation of `record`. A handle that starts as soon as it is asked (a task: `startNow`) is started
 * there and then, and this returns undefined, throwing ChildStartError if it did not start: a burst of thousands of
 * light children makes no promise per start. Any other child: a promise, rejected with ChildStartError.
 */
export function startChild(io: SupervisorIO, children: ChildList, record: ChildRecord): Promise<void> | undefined {
  const handle = io.createHandle(record, children.beginStart(record));
  children.attach(record, handle);
  if (handle.startNow === undefined)
    return handle.start().then(
      () => announceStarted(io, children, record, handle),
      (error: unknown) => failedToStart(io, children, record, handle, error),
    );
  try {
    handle.startNow();
  } catch (error) {
    failedToStart(io, children, record, handle, error);
  }
  announceStarted(io, children, record, handle);
  return undefined;
}

function failedToStart(
  io: SupervisorIO,
  children: ChildList,
  record: ChildRecord,
  handle: ChildHandle,
  error: unknown,
): never {
  const reason = reasonOf(error);
  if (record.handle === handle) children.stopped(record, reason);
  io.emit({ event: 'start_failed', supervisor: io.path, child: record.spec.id, reason });
  throw new ChildStartError(record.spec.id, reason, io.now());
}

function announceStarted(io: SupervisorIO, children: ChildList, record: ChildRecord, handle: ChildHandle): void {
  // terminate() may have been called while starting (a stop during start): leave it to that.
  if (record.handle !== handle || record.status !== 'starting') return;
  children.started(record, io.now());
  io.emit({
    event: 'child_started',
    supervisor: io.path,
    child: record.spec.id,
    pid: handle.pid,
    type: record.spec.type,
  });
}

/**
 * Starts a new incarnation of a running child beside the current one and, once it is ready, makes it the child's
 * incarnation. Resolves with the replaced handle, still running, for the caller to stop; rejects with
 * ChildStartError if the new one did not start, leaving the record (and the old incarnation) as they were.
 * Not a restart: no strategy applies and nothing counts toward intensity. `abort` kills the one starting.
 */
export async function startReplacement(
  io: SupervisorIO,
  children: ChildList,
  record: ChildRecord,
  abort?: AbortSignal,
): Promise<ChildHandle> {
  const incarnation = record.incarnation + 1;
  const id = record.spec.id;
  const fresh = io.createHandle(record, incarnation);
  const onAbort = (): void => void fresh.kill();
  abort?.addEventListener('abort', onAbort);
  try {
    if (abort?.aborted) throw new StartFailure({ startFailed: 'aborted' });
    await fresh.start();
  } catch (error) {
    const reason = reasonOf(error);
    io.emit({ event: 'start_failed', supervisor: io.path, child: id, reason });
    throw new ChildStartError(id, reason, io.now());
  } finally {
    abort?.removeEventListener('abort', onAbort);
  }
  const old = record.handle!;
  // An exit of the old incarnation from now on is stale: it is no longer the child.
  children.replaced(record, fresh, incarnation, io.now());
  return old;
}

export async function terminateChild(
  io: SupervisorIO,
  children: ChildList,
  record: ChildRecord,
  brutal = false,
): Promise<void> {
  const handle = record.handle;
  if (!handle || record.status === 'stopped') return;
  children.terminating(record);
  const pid = handle.pid;
  const reason = await (brutal || record.spec.shutdown === 'brutal_kill' ? handle.kill() : handle.terminate());
  if (record.handle === handle) children.stopped(record, reason);
  io.emit({ event: 'child_terminated', supervisor: io.path, child: record.spec.id, pid, reason });
}

/**
 * Starts children one after another; if one fails, terminates those already started (reverse) and rethrows.
 * Once `signal` is aborted (a stop during the start), starts nothing more and leaves the rest to the shutdown.
 */
export async function startInOrder(io: SupervisorIO, children: ChildList, signal?: AbortSignal): Promise<void> {
  const started: ChildRecord[] = [];
  for (const record of children.ordered()) {
    if (signal?.aborted) return;
    try {
      const pending = startChild(io, children, record);
      if (pending) await pending;
      started.push(record);
    } catch (error) {
      if (signal?.aborted) return;
      for (const done of started.reverse()) await terminateChild(io, children, done);
      throw error;
    }
  }
}

/**
 * Carries out the steps of a restart in order, each announced first. A failed start rejects with ChildStartError,
 * carrying what was left to do (`rest`); children started before it keep running (OTP's try_again).
 */
export async function executeSteps(io: SupervisorIO, children: ChildList, steps: readonly PlanStep[]): Promise<void> {
  for (const [index, step] of steps.entries()) {
    if (step.exited) io.emit(step.exited);
    const { plan } = step;
    for (const id of plan.terminate) {
      const record = children.get(id);
      if (record) await terminateChild(io, children, record);
    }
    for (const id of plan.remove) {
      const record = children.get(id);
      if (record) children.remove(record);
    }
    for (const [position, id] of plan.start.entries()) {
      const record = children.get(id);
      if (!record || record.status !== 'stopped') continue;
      const restarts = children.countRestart(record);
      io.emit({ event: 'child_restarting', supervisor: io.path, child: id, restarts });
      try {
        const pending = startChild(io, children, record);
        if (pending) await pending;
      } catch (error) {
        if (error instanceof ChildStartError) {
          const unstarted = plan.start.slice(position + 1);
          error.rest = [
            ...(unstarted.length > 0 ? [{ plan: { terminate: [], remove: [], start: unstarted } }] : []),
            ...steps.slice(index + 1),
          ];
        }
        throw error;
      }
    }
  }
}

/** Stops every child: in reverse start order, or all at once for dynamic children (each with its own shutdown). */
export async function terminateAll(
  io: SupervisorIO,
  spec: SupervisorSpec,
  children: ChildList,
  brutal: boolean,
): Promise<void> {
  if (spec.strategy === 'simple_one_for_one') {
    await Promise.all(children.ordered().map((c) => terminateChild(io, children, c, brutal)));
    return;
  }
  for (const record of children.ordered().reverse()) await terminateChild(io, children, record, brutal);
}

/** Forces every child still alive to stop now (a second stop request during a graceful shutdown). */
export function killAll(children: ChildList): void {
  for (const record of children) void record.handle?.kill();
}
