// `tree.events()`: the tree's events as an async iterator, for harnesses and embedders that `for await` them.
// The buffer is bounded: a consumer that falls too far behind gets an EventOverflowError (after the events it
// was already owed) instead of an unbounded queue in the supervisor's process or a silent gap.
import { ReaderQueue } from '../reader-queue.js';
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
  const queue = new ReaderQueue<TreeEvent>();

  const finish = (failure?: EventOverflowError): void => {
    unsubscribe();
    queue.end(failure);
  };
  const unsubscribe = source.subscribe((event) => {
    if (queue.closed) return;
    if ((wanted === undefined || wanted.has(event.event)) && !queue.handOver(event)) {
      if (queue.backlog >= limit) return finish(new EventOverflowError(limit));
      queue.enqueue(event);
    }
    if (source.isLast(event)) finish();
  });
  return queue.iterator(() => unsubscribe());
}
