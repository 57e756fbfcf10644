// Small messages to one process in the same tick travel together, as one `arbor:batch` line: one pipe write and
// one parse instead of one per message. The write is most of what an IPC round trip costs in CPU, and a busy pool
// answers many calls per tick. Order is kept: anything sent past the outbox first flushes what it holds.
import { BATCH_MAX_MESSAGES, jsonBound } from './protocol.js';

/** Upper bound of a batch's JSON line, far below the shortest line a supervisor accepts from a worker (1 MiB). */
export const BATCH_MAX_BYTES = 256 * 1024;
/** A message that may be larger than this (by a cheap upper bound of its JSON) goes on its own line. */
const SINGLE_LINE_BYTES = 64 * 1024;

export class Outbox<M> {
  private queued: M[] = [];
  private bytes = 0;
  private scheduled = false;

  /** `write` puts one message, or one batch of them, on the channel. */
  constructor(private readonly write: (message: M | { type: 'arbor:batch'; messages: M[] }) => void) {}

  /** Sends `message` at the end of this tick, with whatever else was pushed meanwhile. */
  push(message: M): void {
    const bytes = jsonBound(message, SINGLE_LINE_BYTES) + 1;
    if (bytes > SINGLE_LINE_BYTES) {
      this.flush();
      this.write(message);
      return;
    }
    if (this.queued.length >= BATCH_MAX_MESSAGES || this.bytes + bytes > BATCH_MAX_BYTES) this.flush();
    this.queued.push(message);
    this.bytes += bytes;
    if (!this.scheduled) {
      this.scheduled = true;
      process.nextTick(this.flushScheduled);
    }
  }

  /** Writes what is queued now: before any message that must not overtake it. */
  flush(): void {
    const messages = this.queued;
    if (messages.length === 0) return;
    this.queued = [];
    this.bytes = 0;
    this.write(messages.length === 1 ? messages[0]! : { type: 'arbor:batch', messages });
  }

  private readonly flushScheduled = (): void => {
    this.scheduled = false;
    this.flush();
  };
}
