// A queue with one reader that takes it through an async iterator (`tree.events()`, `tree.logs()`): an item pushed
// while the reader waits goes straight to it, else it waits here. What to do when the reader falls behind (fail,
// or drop and count) is the writer's: it reads `backlog` before it queues.

export class ReaderQueue<T> {
  private items: T[] = [];
  private head = 0;
  private waiting: { resolve: (result: IteratorResult<T>) => void; reject: (error: Error) => void } | undefined;
  private ended = false;
  private failure: Error | undefined;

  /** Items queued and not read yet. */
  get backlog(): number {
    return this.items.length - this.head;
  }

  /** Ended (by the writer) or dropped (by the reader): nothing more is queued. */
  get closed(): boolean {
    return this.ended;
  }

  /** Gives `item` to the reader if it is waiting for one; false when it is not (the item is not taken). */
  handOver(item: T): boolean {
    const reader = this.waiting;
    if (reader === undefined) return false;
    this.waiting = undefined;
    reader.resolve({ value: item, done: false });
    return true;
  }

  /** Queues `item` for the reader's next read. */
  enqueue(item: T): void {
    this.items.push(item);
  }

  /** No more items: the reader gets what is queued, then (once) `failure` if given, then the end. */
  end(failure?: Error): void {
    if (this.ended) return;
    this.ended = true;
    const reader = this.waiting;
    this.waiting = undefined;
    // A reader that waits has read everything queued: it gets the failure, or the end, now.
    if (reader === undefined) this.failure = failure;
    else if (failure !== undefined) reader.reject(failure);
    else reader.resolve({ value: undefined, done: true });
  }

  /** The reader stopped reading (`return()`): nothing queued is kept. */
  drop(): void {
    this.ended = true;
    this.items = [];
    this.head = 0;
    this.failure = undefined;
    this.wakeDone();
  }

  next(): Promise<IteratorResult<T>> {
    if (this.head < this.items.length) {
      const value = this.items[this.head++]!;
      // Compact now and then, so a long-lived reader does not keep what it read alive.
      if (this.head > 1024 && this.head * 2 > this.items.length) {
        this.items.splice(0, this.head);
        this.head = 0;
      }
      return Promise.resolve({ value, done: false });
    }
    if (this.failure !== undefined) {
      const error = this.failure;
      this.failure = undefined;
      return Promise.reject(error);
    }
    if (this.ended) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve, reject) => (this.waiting = { resolve, reject }));
  }

  /** An async iterator over the queue; `onReturn` runs when the reader stops early. */
  iterator(onReturn: () => void): AsyncIterableIterator<T> {
    const iterator: AsyncIterableIterator<T> = {
      next: () => this.next(),
      return: (): Promise<IteratorResult<T>> => {
        onReturn();
        this.drop();
        return Promise.resolve({ value: undefined, done: true });
      },
      [Symbol.asyncIterator]: () => iterator,
    };
    return iterator;
  }

  private wakeDone(): void {
    const reader = this.waiting;
    this.waiting = undefined;
    reader?.resolve({ value: undefined, done: true });
  }
}
