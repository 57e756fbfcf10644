// The recent events of a running tree, kept by `arbor run` for the control op `events`: a bounded ring, each event
// numbered, so a client that polls with `since` sees every event once, and learns how many it missed.
import type { TreeEvent } from '../supervisor/events.js';
import type { Tree } from '../supervisor/tree.js';
import { boundedJson } from './bounded.js';

/** A tree event as the control socket's event log keeps it: numbered, with the time it was logged. */
export type LoggedEvent = TreeEvent & {
  /** Its number in the log: each event has the next one. */
  seq: number;
  /** When it was logged, ms since the epoch. */
  time: number;
};

export interface EventsPage {
  events: LoggedEvent[];
  /** Pass as `since` next time. */
  next: number;
  /** Events after `since` that were dropped from the ring before this read. */
  missed: number;
}

/** How many events the ring keeps, and how many one answer carries (a control line stays small). */
export const EVENT_LOG_CAPACITY = 1000;
export const EVENTS_PER_PAGE = 200;
/** Each event is kept as at most this much JSON (long reasons and details cut with a marker)... */
export const MAX_EVENT_BYTES = 8 * 1024;
/** ...and a page holds at most this much, so an answer stays far below the control socket's limit. */
export const MAX_PAGE_BYTES = 256 * 1024;

export class EventLog {
  private readonly ring: Array<{ event: LoggedEvent; bytes: number }> = [];
  private lastSeq = 0;

  constructor(private readonly capacity = EVENT_LOG_CAPACITY) {}

  /** Records every event of `tree` from now on. */
  follow(tree: Tree): void {
    tree.on('event', (event) => this.record(event));
  }

  record(event: TreeEvent): void {
    this.lastSeq += 1;
    const logged = bounded({ seq: this.lastSeq, time: Date.now(), ...withoutStack(event) } as LoggedEvent);
    this.ring.push(logged);
    if (this.ring.length > this.capacity) this.ring.shift();
  }

  /** The events numbered after `since`, oldest first: at most EVENTS_PER_PAGE of them, and MAX_PAGE_BYTES. */
  read(since = 0): EventsPage {
    const oldest = this.ring[0]?.event.seq ?? this.lastSeq + 1;
    const missed = Math.max(0, oldest - since - 1);
    const events: LoggedEvent[] = [];
    let bytes = 0;
    for (const { event, bytes: size } of this.ring) {
      if (event.seq <= since) continue;
      if (events.length === EVENTS_PER_PAGE || bytes + size > MAX_PAGE_BYTES) break;
      events.push(event);
      bytes += size;
    }
    return { events, next: events.at(-1)?.seq ?? Math.max(since, this.lastSeq), missed };
  }
}

/** An event as it will be answered: plain JSON data of at most MAX_EVENT_BYTES, whatever a worker put in it. */
function bounded(event: LoggedEvent): { event: LoggedEvent; bytes: number } {
  for (const maxString of [2048, 256]) {
    const text = boundedJson(event, { maxString, maxBytes: MAX_EVENT_BYTES });
    // seq and time come first, so they are never among the fields omitted for size.
    if (text !== undefined) return { event: JSON.parse(text) as LoggedEvent, bytes: Buffer.byteLength(text) };
  }
  const { seq, time } = event;
  const stub = { event: event.event, seq, time, omitted: 'this event could not be kept' } as unknown as LoggedEvent;
  return { event: stub, bytes: 128 };
}

/** A crashed worker's stack can be 60 kB: keep the message, drop the stack, so a page of events stays small. */
function withoutStack(event: TreeEvent): TreeEvent {
  if (!('reason' in event) || typeof event.reason !== 'object' || event.reason === null || !('stack' in event.reason))
    return event;
  const { stack: _stack, ...reason } = event.reason as Record<string, unknown>;
  return { ...event, reason } as TreeEvent;
}
