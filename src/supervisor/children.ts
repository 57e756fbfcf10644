// The supervisor's child list and the I/O it does on it: start in order, terminate in reverse, carry out a plan.
// The machine decides (pure functions); these procedures act, one incarnation of a child at a time.
import type { Logger } from 'pino';
import type { ChildHandle, ListenerLink } from '../child.js';
import { StartFailure } from '../child.js';
import type { ChildSpec, ExitReason, SupervisorSpec } from '../types.js';
import type { DecisionChild } from './decide.js';
import type { RestartPlan } from './strategy.js';
import type { TreeEvent } from './events.js';

export type ChildStatus = 'starting' | 'running' | 'terminating' | 'stopped';

export interface ChildRecord {
  spec: ChildSpec;
  status: ChildStatus;
  handle?: ChildHandle;
  /** Bumped at every start, so an exit of an older incarnation is recognised as stale. */
  incarnation: number;
  /** Times this child was restarted by the supervisor. */
  restarts: number;
  startedAt?: number;
  lastExit?: ExitReason;
  /** Restarts in a row that the child's `backoff` has delayed (reset once it stays up `resetAfter`). */
  backoffAttempt: number;
  /** Set while a restart waits out its backoff delay: when it is due (ms timestamp). */
  restartDueAt?: number;
}

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
  /** Creates one incarnation of a child; `onExit` must be wired to `childExited`. */
  createHandle(record: ChildRecord, onExit: (reason: ExitReason) => void): ChildHandle;
  /** Feeds a child's own exit to the machine. */
  childExited(event: ChildExitedEvent): void;
  /** The running listener with this id, among this supervisor's children or its ancestors'. */
  resolveListener(id: string): ListenerLink | undefined;
}

/** A child that did not start: carried as the rejection of a start or restart. */
export class ChildStartError extends Error {
  constructor(readonly childId: string, readonly reason: ExitReason, readonly at: number) {
    super(`child '${childId}' failed to start: ${typeof reason === 'string' ? reason : JSON.stringify(reason)}`);
    this.name = 'ChildStartError';
  }
}

export function newRecord(spec: ChildSpec): ChildRecord {
  return { spec, status: 'stopped', incarnation: 0, restarts: 0, backoffAttempt: 0 };
}

export function decisionView(records: readonly ChildRecord[], exitedId?: string): DecisionChild[] {
  return records.map((r) => ({
    id: r.spec.id,
    restart: r.spec.restart,
    significant: r.spec.significant,
    running: r.status === 'running' && r.spec.id !== exitedId,
  }));
}

export async function startChild(io: SupervisorIO, record: ChildRecord): Promise<void> {
  record.restartDueAt = undefined;
  record.incarnation += 1;
  const incarnation = record.incarnation;
  const id = record.spec.id;
  const handle = io.createHandle(record, (reason) =>
    io.childExited({ type: 'CHILD_EXITED', id, incarnation, reason, at: io.now() }),
  );
  record.handle = handle;
  record.status = 'starting';
  try {
    await handle.start();
  } catch (error) {
    record.handle = undefined;
    record.status = 'stopped';
    const reason: ExitReason = error instanceof StartFailure ? error.reason : { startFailed: String(error) };
    record.lastExit = reason;
    io.emit({ event: 'start_failed', supervisor: io.path, child: id, reason });
    throw new ChildStartError(id, reason, io.now());
  }
  // terminate() may have been called while starting (a stop during start): leave it to that.
  if (record.handle !== handle) return;
  record.status = 'running';
  record.startedAt = io.now();
  io.emit({ event: 'child_started', supervisor: io.path, child: id, pid: handle.pid, type: record.spec.type });
}

/**
 * Starts a new incarnation of a running child beside the current one and, once it is ready, makes it the child's
 * incarnation. Resolves with the replaced handle, still running, for the caller to stop; rejects with
 * ChildStartError if the new one did not start, leaving the record (and the old incarnation) as they were.
 * Not a restart: no strategy applies and nothing counts toward intensity. `abort` kills the one starting.
 */
export async function startReplacement(io: SupervisorIO, record: ChildRecord, abort?: AbortSignal): Promise<ChildHandle> {
  const incarnation = record.incarnation + 1;
  const id = record.spec.id;
  const fresh = io.createHandle(record, (reason) =>
    io.childExited({ type: 'CHILD_EXITED', id, incarnation, reason, at: io.now() }),
  );
  const onAbort = (): void => void fresh.kill();
  abort?.addEventListener('abort', onAbort);
  try {
    if (abort?.aborted) throw new StartFailure({ startFailed: 'aborted' });
    await fresh.start();
  } catch (error) {
    const reason: ExitReason = error instanceof StartFailure ? error.reason : { startFailed: String(error) };
    io.emit({ event: 'start_failed', supervisor: io.path, child: id, reason });
    throw new ChildStartError(id, reason, io.now());
  } finally {
    abort?.removeEventListener('abort', onAbort);
  }
  const old = record.handle!;
  // An exit of the old incarnation from now on is stale: it is no longer the child.
  record.incarnation = incarnation;
  record.handle = fresh;
  record.startedAt = io.now();
  return old;
}

export async function terminateChild(io: SupervisorIO, record: ChildRecord, brutal = false): Promise<void> {
  const handle = record.handle;
  if (!handle || record.status === 'stopped') return;
  record.status = 'terminating';
  const pid = handle.pid;
  const reason = await (brutal || record.spec.shutdown === 'brutal_kill' ? handle.kill() : handle.terminate());
  if (record.handle === handle) {
    record.handle = undefined;
    record.status = 'stopped';
    record.lastExit = reason;
  }
  io.emit({ event: 'child_terminated', supervisor: io.path, child: record.spec.id, pid, reason });
}

/** Starts children one after another; if one fails, terminates those already started (reverse) and rethrows. */
export async function startInOrder(io: SupervisorIO, records: readonly ChildRecord[]): Promise<void> {
  const started: ChildRecord[] = [];
  for (const record of records) {
    try {
      await startChild(io, record);
      started.push(record);
    } catch (error) {
      for (const done of started.reverse()) await terminateChild(io, done);
      throw error;
    }
  }
}

/**
 * Carries out a restart plan on `children` (mutated: removed temporary children are spliced out).
 * A failed start rejects with ChildStartError; children started before it keep running (OTP's try_again).
 */
export async function executePlan(io: SupervisorIO, children: ChildRecord[], plan: RestartPlan): Promise<void> {
  const byId = (id: string) => children.find((c) => c.spec.id === id);
  for (const id of plan.terminate) {
    const record = byId(id);
    if (record) await terminateChild(io, record);
  }
  for (const id of plan.remove) {
    const at = children.findIndex((c) => c.spec.id === id);
    if (at >= 0) children.splice(at, 1);
  }
  for (const id of plan.start) {
    const record = byId(id);
    if (!record || record.status !== 'stopped') continue;
    record.restarts += 1;
    io.emit({ event: 'child_restarting', supervisor: io.path, child: id, restarts: record.restarts });
    await startChild(io, record);
  }
}

/** Stops every child: in reverse start order, or all at once for dynamic children (each with its own shutdown). */
export async function terminateAll(io: SupervisorIO, spec: SupervisorSpec, children: readonly ChildRecord[], brutal: boolean): Promise<void> {
  if (spec.strategy === 'simple_one_for_one') {
    await Promise.all(children.map((c) => terminateChild(io, c, brutal)));
    return;
  }
  for (const record of [...children].reverse()) await terminateChild(io, record, brutal);
}

/** Forces every child still alive to stop now (a second stop request during a graceful shutdown). */
export function killAll(children: readonly ChildRecord[]): void {
  for (const record of children) void record.handle?.kill();
}
