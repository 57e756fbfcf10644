// `tree.events()`: the tree's events as an async iterator, for harnesses and embedders that `for await` them.
// The buffer is bounded: a consumer that falls too far behind gets an EventOverflowError (after the events it
// was already owed) instead of an unbounded queue in the supervisor's process or a silent gap.
import type { TreeEvent, TreeEventName } from './events.js';

export const DEFAULT_EVENT_BUFFER = 10_000;

/** Options of `tree.events()`. */
export interface EventStreamOptions {
  /** Only these events (default: all, `worker_message` included). */
  only?: readonly TreeEventName[];
  /** Events held for a consumer that is behind; one more and the stream fails with EventOverflowError. */
  buffer?: number;
}

/** The consumer fell more than `buffer` events behind: the stream ended rather than grow or skip events. */
export class EventOverflowError extends Error {
  /** @param buffer The buffer the consumer outgrew. */
  constructor(readonly buffer: number) {
    super(
      `events(): the consumer fell more than ${buffer} events behind; the stream ended (raise { buffer } or consume faster)`,
    );
    this.name = 'EventOverflowError';
  }
}

/** What the stream needs from the tree: subscribe to every event, and the event that ends the tree. */
export interface EventSource {
  subscribe(listener: (event: TreeEvent) => void): () => void;
  isLast(event: TreeEvent): boolean;
}

export function eventStream(source: EventSource, options: EventStreamOptions = {}): AsyncIterableIterator<TreeEvent> {
  const limit = options.buffer ?? DEFAULT_EVENT_BUFFER;
  if (!Number.isSafeInteger(limit) || limit < 1)
    throw new RangeError(`events(): buffer must be an integer >= 1, got ${limit}`);
  const wanted = options.only === undefined ? undefined : new Set<string>(options.only);
  const queue: TreeEvent[] = [];
  let head = 0;
  let ended = false;
  let failure: EventOverflowError | undefined;
  let waiting: ((result: IteratorResult<TreeEvent>) => void) | undefined;

  const finish = (): void => {
    ended = true;
    unsubscribe();
  };
  const unsubscribe = source.subscribe((event) => {
    if (ended) return;
    const last = source.isLast(event);
    if (wanted === undefined || wanted.has(event.event)) {
      if (waiting !== undefined) {
        const deliver = waiting;
        waiting = undefined;
        deliver({ value: event, done: false });
      } else if (queue.length - head >= limit) {
        failure = new EventOverflowError(limit);
        finish();
        return;
      } else {
        queue.push(event);
      }
    }
    if (last) {
      finish();
      if (waiting !== undefined) {
        const deliver = waiting;
        waiting = undefined;
        deliver({ value: undefined, done: true });
      }
    }
  });

  const iterator: AsyncIterableIterator<TreeEvent> = {
    next(): Promise<IteratorResult<TreeEvent>> {
      if (head < queue.length) {
        const value = queue[head++]!;
        // Compact now and then, so a long-lived stream does not keep consumed events alive.
        if (head > 1024 && head * 2 > queue.length) {
          queue.splice(0, head);
          head = 0;
        }
        return Promise.resolve({ value, done: false });
      }
      if (failure !== undefined) {
        const error = failure;
        failure = undefined;
        return Promise.reject(error);
      }
      if (ended) return Promise.resolve({ value: undefined, done: true });
      return new Promise((resolve) => (waiting = resolve));
    },
    return(): Promise<IteratorResult<TreeEvent>> {
      finish();
      queue.length = head = 0;
      failure = undefined;
      waiting?.({ value: undefined, done: true });
      waiting = undefined;
      return Promise.resolve({ value: undefined, done: true });
    },
    [Symbol.asyncIterator]() {
      return iterator;
    },
  };
  return iterator;
}
