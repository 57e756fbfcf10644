// A supervisor's children, as OTP's #state.children: the one place where what a supervisor knows of its children is
// written. Every change is a named operation below; only the procedures the supervisor's machine runs call them.
// Everything else (status, whichChildren, /tree, messaging, fault injection) reads records through `get` and
// iteration, typed read-only. Lookups by id are O(1); start order is the map's insertion order, so adding a dynamic
// child or removing any child is O(1) too, and only the strategies that need order (rest_for_one, one_for_all) walk it.
import type { ChildHandle } from '../child.js';
import type { ChildSpec, ExitReason } from '../types.js';
import type { DecisionChild, DecisionChildren } from './decide.js';

/** Where a child is in its life: starting, running, being stopped, or stopped (exited and not restarted yet, or kept stopped). */
export type ChildStatus = 'starting' | 'running' | 'terminating' | 'stopped';

/** What a supervisor knows of one child, read-only outside this module. */
export interface ChildRecord {
  readonly spec: ChildSpec;
  readonly status: ChildStatus;
  /** The running (or starting, or terminating) incarnation. */
  readonly handle?: ChildHandle;
  /** Bumped at every start, so an exit of an older incarnation is recognised as stale. */
  readonly incarnation: number;
  /** Times this child was restarted by the supervisor. */
  readonly restarts: number;
  readonly startedAt?: number;
  readonly lastExit?: ExitReason;
  /** Restarts in a row that the child's `backoff` has delayed (reset once it stays up `resetAfter`). */
  readonly backoffAttempt: number;
  /** Set while a restart waits out its backoff delay: when it is due (ms timestamp). */
  readonly restartDueAt?: number;
}

type Writable<T> = { -readonly [K in keyof T]: T[K] };
type Entry = Writable<ChildRecord>;

/** What readers outside the machine get: lookups, counts and iteration in start order, no operation. */
export interface ReadonlyChildList extends Iterable<ChildRecord> {
  readonly size: number;
  readonly running: number;
  get(id: string): ChildRecord | undefined;
  has(id: string): boolean;
  ordered(): ChildRecord[];
  page(skip: number, limit: number): ChildRecord[];
}

export class ChildList implements ReadonlyChildList, DecisionChildren {
  /** In start order: a Map iterates in insertion order, and dynamic children are appended as they start. */
  private readonly byId = new Map<string, Entry>();
  private runningCount = 0;
  private significantRunningCount = 0;

  constructor(specs: readonly ChildSpec[] = []) {
    for (const spec of specs) this.add(spec);
  }

  get size(): number {
    return this.byId.size;
  }

  /** Children whose status is `running`. */
  get running(): number {
    return this.runningCount;
  }

  get(id: string): ChildRecord | undefined {
    return this.byId.get(id);
  }

  has(id: string): boolean {
    return this.byId.has(id);
  }

  [Symbol.iterator](): IterableIterator<ChildRecord> {
    return this.byId.values();
  }

  /** The children in start order (a copy). */
  ordered(): ChildRecord[] {
    return [...this.byId.values()];
  }

  /** The children from `skip` on, at most `limit` of them, in start order: a page that does not copy the rest. */
  page(skip: number, limit: number): ChildRecord[] {
    const out: ChildRecord[] = [];
    if (limit <= 0) return out;
    let index = 0;
    for (const entry of this.byId.values()) {
      if (index++ < skip) continue;
      out.push(entry);
      if (out.length >= limit) break;
    }
    return out;
  }

  // -- The decision's view (DecisionChildren) ------------------------------------------------------------------

  decisionChild(id: string): DecisionChild | undefined {
    const entry = this.byId.get(id);
    return entry && toDecisionChild(entry);
  }

  inOrder(): DecisionChild[] {
    return [...this.byId.values()].map(toDecisionChild);
  }

  significantRunning(): number {
    return this.significantRunningCount;
  }

  // -- Named operations --------------------------------------------------------------------------------------

  /** A new child, last in start order, stopped. */
  add(spec: ChildSpec): ChildRecord {
    if (this.byId.has(spec.id)) throw new Error(`ChildList: duplicate child '${spec.id}'`);
    // Every field from the start: one shape for all records, no property added later (thousands of light children).
    const entry: Entry = {
      spec,
      status: 'stopped',
      handle: undefined,
      incarnation: 0,
      restarts: 0,
      startedAt: undefined,
      lastExit: undefined,
      backoffAttempt: 0,
      restartDueAt: undefined,
    };
    this.byId.set(spec.id, entry);
    return entry;
  }

  /** Forgets a child (its spec too): deleteChild, a temporary or dynamic child that exited or was terminated. */
  remove(record: ChildRecord): void {
    const entry = this.own(record);
    this.setStatus(entry, 'stopped');
    this.byId.delete(entry.spec.id);
  }

  /** A new incarnation is starting: returns its number, which the handle's exits carry. */
  beginStart(record: ChildRecord): number {
    const entry = this.own(record);
    entry.restartDueAt = undefined;
    entry.incarnation += 1;
    entry.handle = undefined;
    this.setStatus(entry, 'starting');
    return entry.incarnation;
  }

  /** The handle of the incarnation that is starting (set before its start() is awaited, so a stop can reach it). */
  attach(record: ChildRecord, handle: ChildHandle): void {
    this.own(record).handle = handle;
  }

  /** The incarnation that was starting is up. */
  started(record: ChildRecord, at: number): void {
    const entry = this.own(record);
    entry.startedAt = at;
    this.setStatus(entry, 'running');
  }

  /** A replacement incarnation took over from a running one (a reload): not a restart. */
  replaced(record: ChildRecord, handle: ChildHandle, incarnation: number, at: number): void {
    const entry = this.own(record);
    entry.handle = handle;
    entry.incarnation = incarnation;
    entry.startedAt = at;
  }

  terminating(record: ChildRecord): void {
    this.setStatus(this.own(record), 'terminating');
  }

  /** The incarnation is gone (exited, terminated, or failed to start): the child is stopped, with why. */
  stopped(record: ChildRecord, reason: ExitReason): void {
    const entry = this.own(record);
    entry.handle = undefined;
    entry.lastExit = reason;
    this.setStatus(entry, 'stopped');
  }

  /** A new spec for the same child (a reload): used from its next start on; place, restarts and state are kept. */
  respec(record: ChildRecord, spec: ChildSpec): void {
    const entry = this.own(record);
    if (spec.id !== entry.spec.id) throw new Error(`ChildList: '${spec.id}' cannot replace '${entry.spec.id}'`);
    const running = entry.status === 'running';
    if (running) this.setStatus(entry, 'stopped');
    entry.spec = spec;
    if (running) this.setStatus(entry, 'running');
  }

  /** The supervisor restarts it (counts in status, not toward intensity: that is the machine's window). */
  countRestart(record: ChildRecord): number {
    const entry = this.own(record);
    entry.restarts += 1;
    return entry.restarts;
  }

  backoffStep(record: ChildRecord, attempt: number): void {
    this.own(record).backoffAttempt = attempt;
  }

  /** A restart waits out a backoff delay until `dueAt`; undefined cancels the wait. */
  restartDue(record: ChildRecord, dueAt: number | undefined): void {
    this.own(record).restartDueAt = dueAt;
  }

  private own(record: ChildRecord): Entry {
    const entry = this.byId.get(record.spec.id);
    if (entry !== record) throw new Error(`ChildList: '${record.spec.id}' is not a child of this list`);
    return entry;
  }

  private setStatus(entry: Entry, status: ChildStatus): void {
    const was = entry.status === 'running';
    const is = status === 'running';
    entry.status = status;
    if (was === is) return;
    const delta = is ? 1 : -1;
    this.runningCount += delta;
    if (entry.spec.significant) this.significantRunningCount += delta;
  }
}

function toDecisionChild(record: ChildRecord): DecisionChild {
  return {
    id: record.spec.id,
    restart: record.spec.restart,
    significant: record.spec.significant,
    running: record.status === 'running',
  };
}
