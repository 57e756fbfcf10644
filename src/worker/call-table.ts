// The bookkeeping of calls to one worker incarnation, apart from any I/O: each call gets an id no other call in
// this process ever had, and is settled exactly once — by the reply carrying its id, by its deadline passing, or
// by the incarnation's end. A reply with an id this table does not hold (late, duplicated, forged, or meant for a
// predecessor that has since been restarted) settles nothing. Deadlines are kept in a binary heap, so one timer
// serves every call of a worker instead of a timer per call.

/** Ids are unique across every table of the process, so no reply can match a call made to another worker. */
export type IdSource = () => number;

export function idSource(): IdSource {
  let last = 0;
  return () => ++last;
}

interface Entry<Waiter> {
  id: number;
  deadline: number;
  waiter: Waiter;
  /** Position in the deadline heap. */
  slot: number;
}

export class CallTable<Waiter> {
  private readonly pending = new Map<number, Entry<Waiter>>();
  /** Pending calls by deadline (then id): a min-heap. */
  private readonly heap: Array<Entry<Waiter>> = [];
  private isClosed = false;

  constructor(private readonly nextId: IdSource) {}

  /** Calls waiting for their outcome. */
  get size(): number {
    return this.pending.size;
  }

  get closed(): boolean {
    return this.isClosed;
  }

  /** Registers a call due by `deadline` and returns its id, or undefined once the table is closed. */
  open(waiter: Waiter, deadline: number): number | undefined {
    if (this.isClosed) return undefined;
    const id = this.nextId();
    const entry: Entry<Waiter> = { id, deadline, waiter, slot: this.heap.length };
    this.pending.set(id, entry);
    this.heap.push(entry);
    this.up(entry.slot);
    return id;
  }

  /** The waiter of call `id`, removed: undefined when no such call is pending here (already settled, or not ours). */
  settle(id: number): Waiter | undefined {
    const entry = this.pending.get(id);
    if (entry === undefined) return undefined;
    this.pending.delete(id);
    this.removeAt(entry.slot);
    return entry.waiter;
  }

  /** The earliest deadline of a pending call. */
  nextDeadline(): number | undefined {
    return this.heap[0]?.deadline;
  }

  /** Removes and returns the calls whose deadline is at or before `now`, earliest first. */
  expire(now: number): Waiter[] {
    const due: Waiter[] = [];
    while (this.heap.length > 0 && this.heap[0]!.deadline <= now) {
      const entry = this.heap[0]!;
      this.pending.delete(entry.id);
      this.removeAt(0);
      due.push(entry.waiter);
    }
    return due;
  }

  /** The incarnation ended: every pending waiter, in the order the calls were made; nothing opens or settles after. */
  close(): Waiter[] {
    this.isClosed = true;
    const left = [...this.pending.values()].map((e) => e.waiter);
    this.pending.clear();
    this.heap.length = 0;
    return left;
  }

  private before(a: Entry<Waiter>, b: Entry<Waiter>): boolean {
    return a.deadline < b.deadline || (a.deadline === b.deadline && a.id < b.id);
  }

  private removeAt(slot: number): void {
    const last = this.heap.pop()!;
    if (slot === this.heap.length) return;
    this.heap[slot] = last;
    last.slot = slot;
    this.down(slot);
    this.up(last.slot);
  }

  private up(slot: number): void {
    const heap = this.heap;
    while (slot > 0) {
      const parent = (slot - 1) >> 1;
      if (!this.before(heap[slot]!, heap[parent]!)) return;
      this.swap(slot, parent);
      slot = parent;
    }
  }

  private down(slot: number): void {
    const heap = this.heap;
    for (;;) {
      const left = 2 * slot + 1;
      const right = left + 1;
      let least = slot;
      if (left < heap.length && this.before(heap[left]!, heap[least]!)) least = left;
      if (right < heap.length && this.before(heap[right]!, heap[least]!)) least = right;
      if (least === slot) return;
      this.swap(slot, least);
      slot = least;
    }
  }

  private swap(a: number, b: number): void {
    const heap = this.heap;
    const x = heap[a]!;
    const y = heap[b]!;
    heap[a] = y;
    heap[b] = x;
    x.slot = b;
    y.slot = a;
  }
}
