// An immutable FIFO for the machine's inbox: push and shift are O(1) amortised and never copy what is queued
// (two cons lists, the back one reversed into the front when the front runs out), so the machine's context is
// replaced, not mutated, however many exits queue up while it restarts.

type List<T> = { readonly head: T; readonly tail: List<T> } | undefined;

export interface Queue<T> {
  readonly front: List<T>;
  readonly back: List<T>;
  readonly length: number;
}

export const emptyQueue = <T>(): Queue<T> => ({ front: undefined, back: undefined, length: 0 });

export function push<T>(queue: Queue<T>, value: T): Queue<T> {
  return { front: queue.front, back: { head: value, tail: queue.back }, length: queue.length + 1 };
}

/** The first value and the queue without it; undefined when empty. */
export function shift<T>(queue: Queue<T>): { value: T; rest: Queue<T> } | undefined {
  let front = queue.front;
  let back = queue.back;
  if (front === undefined) {
    for (; back !== undefined; back = back.tail) front = { head: back.head, tail: front };
  }
  if (front === undefined) return undefined;
  return { value: front.head, rest: { front: front.tail, back, length: queue.length - 1 } };
}

/** The queue with `values` (in their order) before what it holds. */
export function unshiftAll<T>(queue: Queue<T>, values: readonly T[]): Queue<T> {
  let front = queue.front;
  for (let i = values.length - 1; i >= 0; i--) front = { head: values[i]!, tail: front };
  return { front, back: queue.back, length: queue.length + values.length };
}

/** Every value, first to last. */
export function toArray<T>(queue: Queue<T>): T[] {
  const out: T[] = [];
  for (let node = queue.front; node !== undefined; node = node.tail) out.push(node.head);
  const back: T[] = [];
  for (let node = queue.back; node !== undefined; node = node.tail) back.push(node.head);
  return out.concat(back.reverse());
}
