// What a worker sends its supervisor is untrusted input: it may send anything, as large and as fast as it likes.
// This file bounds what that can cost the supervisor; the texts that enter exit reasons are cut in ../protocol.ts.
import type { ChildProcess } from 'node:child_process';

/**
 * The largest IPC message, in bytes of its JSON line, the supervisor accepts from a worker, unless the worker's
 * `maxMessageBytes` asks for more (then that, plus MESSAGE_ENVELOPE_BYTES). arbor's own messages are a few KiB
 * (reports are cut by the worker's runtime); a worker that sends a longer line, or bytes without a line end, is
 * killed before node's channel buffers it (past ~512 MiB that would crash the supervisor).
 */
export const MAX_MESSAGE_BYTES = 1024 * 1024;
/** Room for what wraps a worker's `send(message)` on the channel. */
export const MESSAGE_ENVELOPE_BYTES = 64 * 1024;

/** How long one summary of ignored messages covers, in ms. */
export const IGNORED_SUMMARY_MS = 5000;

type ChannelPipe = { onread: (this: unknown, ...args: unknown[]) => void; readStop?: () => number };

const symbolNamed = (target: object, name: string): symbol | undefined =>
  Object.getOwnPropertySymbols(target).find((s) => s.description === name);

/**
 * Watches the line node's IPC channel is still assembling for `child`; once it passes `maxBytes`, stops reading
 * the channel and calls `onOverflow` (once). Node offers no limit of its own, so this reads two internal fields of
 * its channel (node 20–24); returns false, and bounds nothing, where they are not found.
 */
export function limitMessageSize(
  child: ChildProcess,
  maxBytes: number,
  onOverflow: (pending: number) => void,
): boolean {
  const handleKey = symbolNamed(child, 'kChannelHandle');
  const pipe = handleKey
    ? ((child as unknown as Record<symbol, unknown>)[handleKey] as ChannelPipe | undefined)
    : undefined;
  const bufferKey = pipe ? symbolNamed(pipe, 'kJSONBuffer') : undefined;
  if (pipe === undefined || bufferKey === undefined || typeof pipe.onread !== 'function') return false;
  const buffers = pipe as unknown as Record<symbol, unknown>;
  const read = pipe.onread;
  pipe.onread = function (this: unknown, ...args: unknown[]): void {
    read.apply(this, args);
    const pending = buffers[bufferKey];
    // The channel appends at most one read (64 KiB) at a time: checked after each, it never gets near the limit
    // of a string.
    if (typeof pending === 'string' && pending.length > maxBytes) {
      pipe.onread = () => undefined;
      pipe.readStop?.();
      buffers[bufferKey] = '';
      onOverflow(pending.length);
    }
  };
  return true;
}

/**
 * One warning line per interval for messages the supervisor ignores: the first is logged at once with a sample,
 * the rest of the interval only counted, and one line at its end says how many. A worker flooding its channel
 * with garbage costs a log line per interval, not one per message.
 */
export class IgnoredMessages {
  private counted = 0;
  private sample: string | undefined;
  private window: NodeJS.Timeout | undefined;

  constructor(
    private readonly report: (summary: { messages: number; sample: string }) => void,
    private readonly intervalMs: number = IGNORED_SUMMARY_MS,
  ) {}

  /** One more ignored message; `describe` is called only for the messages whose sample is logged. */
  note(describe: () => string): void {
    if (this.window === undefined) {
      this.report({ messages: 1, sample: describe() });
      this.openWindow();
      return;
    }
    if (this.counted === 0) this.sample = describe();
    this.counted += 1;
  }

  /** Logs what was counted and not yet reported (when the worker is gone). */
  flush(): void {
    clearTimeout(this.window);
    this.window = undefined;
    if (this.counted > 0) this.report({ messages: this.counted, sample: this.sample ?? '' });
    this.counted = 0;
    this.sample = undefined;
  }

  private openWindow(): void {
    this.window = setTimeout(() => {
      this.window = undefined;
      if (this.counted === 0) return; // a quiet interval: the next message is logged at once again
      this.flush();
      this.openWindow();
    }, this.intervalMs);
    this.window.unref();
  }
}
