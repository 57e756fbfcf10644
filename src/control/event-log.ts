// The recent events of a running tree, kept by `arbor run` for the control op `events`: a bounded ring, each event
// numbered, so a client that polls with `since` sees every event once, and learns how many it missed.
import type { TreeEvent } from '../supervisor/events.js';
import type { Tree } from '../supervisor/tree.js';

export type LoggedEvent = TreeEvent & { seq: number; time: number };

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

export class EventLog {
  private readonly ring: LoggedEvent[] = [];
  private lastSeq = 0;

  constructor(private readonly capacity = EVENT_LOG_CAPACITY) {}

  /** Records every event of `tree` from now on. */
  follow(tree: Tree): void {
    tree.on('event', (event) => this.record(event));
  }

  record(event: TreeEvent): void {
    this.lastSeq += 1;
    this.ring.push({ ...withoutStack(event), seq: this.lastSeq, time: Date.now() });
    if (this.ring.length > this.capacity) this.ring.shift();
  }

  /** The events numbered after `since`, oldest first, at most EVENTS_PER_PAGE of them. */
  read(since = 0): EventsPage {
    const oldest = this.ring[0]?.seq ?? this.lastSeq + 1;
    const missed = Math.max(0, oldest - since - 1);
    const events = this.ring.filter((e) => e.seq > since).slice(0, EVENTS_PER_PAGE);
    return { events, next: events.at(-1)?.seq ?? Math.max(since, this.lastSeq), missed };
  }
}

/** A crashed worker's stack can be 60 kB: keep the message, drop the stack, so a page of events stays small. */
function withoutStack(event: TreeEvent): TreeEvent {
  if (!('reason' in event) || typeof event.reason !== 'object' || !('stack' in event.reason)) return event;
  const { stack: _stack, ...reason } = event.reason as Record<string, unknown>;
  return { ...event, reason } as TreeEvent;
}
