// The bookkeeping of calls to one worker incarnation, apart from any I/O: each call gets an id no other call in
// this process ever had, and is settled exactly once — by the reply carrying its id, by its timeout, or by the
// incarnation's end. A reply with an id this table does not hold (late, duplicated, forged, or meant for a
// predecessor that has since been restarted) settles nothing.

/** Ids are unique across every table of the process, so no reply can match a call made to another worker. */
export type IdSource = () => number;

export function idSource(): IdSource {
  let last = 0;
  return () => ++last;
}

export class CallTable<Waiter> {
  private readonly pending = new Map<number, Waiter>();
  private isClosed = false;

  constructor(private readonly nextId: IdSource) {}

  /** Calls waiting for their outcome. */
  get size(): number {
    return this.pending.size;
  }

  get closed(): boolean {
    return this.isClosed;
  }

  /** Registers a call and returns its id, or undefined once the table is closed (the incarnation is gone). */
  open(waiter: Waiter): number | undefined {
    if (this.isClosed) return undefined;
    const id = this.nextId();
    this.pending.set(id, waiter);
    return id;
  }

  /** The waiter of call `id`, removed: undefined when no such call is pending here (already settled, or not ours). */
  settle(id: number): Waiter | undefined {
    const waiter = this.pending.get(id);
    if (waiter !== undefined) this.pending.delete(id);
    return waiter;
  }

  /** The incarnation ended: every pending waiter, in the order the calls were made; nothing opens or settles after. */
  close(): Waiter[] {
    this.isClosed = true;
    const left = [...this.pending.values()];
    this.pending.clear();
    return left;
  }
}
