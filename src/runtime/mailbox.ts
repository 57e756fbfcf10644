// The worker's side of messages with its tree: one `onMessage` handler answers calls (its return value, or
// promise, is the reply) and takes casts; `send()` tells the tree something (a `worker_message` event). Sizes and
// rates are checked here as the supervisor will check them, so the worker learns at once what would be dropped.
import {
  bytesOverLimit,
  DEFAULT_MAX_MESSAGE_BYTES,
  DEFAULT_MAX_MESSAGE_RATE,
  type BatchedWorkerMessage,
  type ReplyErrorCode,
} from '../protocol.js';
import type { Messages } from '../types.js';
import { fullBucket, take } from '../rate.js';
import { inspectLater } from './inspect-later.js';

/** What the handler is told about a message besides its content. */
export interface MessageContext {
  /** `call`: the return value is the reply. `cast`: the return value is ignored. */
  kind: 'call' | 'cast';
}

/**
 * What `onMessage` takes: called with each `tree.call` / `tree.cast` message and its kind; for a call, what it
 * returns (or resolves with) is the reply.
 */
export type MessageHandler<M extends Messages = Messages> = (
  message: M['call'] | M['cast'],
  context: MessageContext,
) => M['reply'] | Promise<M['reply']>;

export interface MailboxIO {
  supervised: boolean;
  post(message: BatchedWorkerMessage): void;
  /** Keeps the process alive while a handler may be called. */
  hold(): void;
  release(): void;
}

/** A send() or reply beyond the worker's limits. */
/** Thrown by `send()` for a message over `maxMessageBytes` of JSON (or one that is not JSON at all). */
export class MessageTooLargeError extends Error {
  /** Always `too_large`, as the tree's own error code. */
  readonly code = 'too_large';
  /**
   * @param bytes The message's size in bytes of JSON (undefined: it cannot be serialized).
   * @param limit The largest message allowed, in bytes.
   */
  constructor(
    readonly bytes: number | undefined,
    readonly limit: number,
  ) {
    super(
      bytes === undefined
        ? 'arbor: the message cannot be serialized as JSON'
        : `arbor: message of ${bytes} bytes (limit ${limit})`,
    );
    this.name = 'MessageTooLargeError';
  }
}

const envInt = (name: string, fallback: number): number => {
  const value = Number(process.env[name]);
  return Number.isSafeInteger(value) && value > 0 ? value : fallback;
};

export class Mailbox {
  private handler: MessageHandler | undefined;
  private readonly maxBytes = envInt('ARBOR_MAX_MESSAGE_BYTES', DEFAULT_MAX_MESSAGE_BYTES);
  private readonly perSecond = envInt('ARBOR_MAX_MESSAGE_RATE', DEFAULT_MAX_MESSAGE_RATE);
  private readonly bucket = fullBucket(this.perSecond, Date.now());

  constructor(private readonly io: MailboxIO) {}

  /** Installs the handler (replacing any earlier one), or removes it with undefined. */
  setHandler(handler: MessageHandler | undefined): void {
    if (handler !== undefined && typeof handler !== 'function')
      throw new TypeError('arbor: onMessage(handler) takes a function');
    if (this.handler === undefined && handler !== undefined && this.io.supervised) this.io.hold();
    if (this.handler !== undefined && handler === undefined && this.io.supervised) this.io.release();
    this.handler = handler;
  }

  /**
   * Sends `message` to the tree. Returns false when it was not sent: not supervised, or over the rate limit
   * (the supervisor would drop it). Throws MessageTooLargeError for a message over the size limit.
   */
  send(message: unknown): boolean {
    const bytes = bytesOverLimit(message, this.maxBytes);
    if (bytes !== undefined) throw new MessageTooLargeError(bytes === Infinity ? undefined : bytes, this.maxBytes);
    if (!this.io.supervised || !take(this.bucket, this.perSecond, Date.now())) return false;
    this.io.post({ type: 'arbor:send', message });
    return true;
  }

  onCall(id: number, message: unknown): void {
    const handler = this.handler;
    if (handler === undefined) return this.fail(id, 'no_handler', 'the worker has no onMessage handler');
    let result: unknown;
    try {
      result = handler(message, { kind: 'call' });
    } catch (err) {
      return this.failWith(id, err);
    }
    if (isThenable(result)) {
      result.then(
        (value) => this.reply(id, value),
        (err: unknown) => this.failWith(id, err),
      );
    } else {
      this.reply(id, result);
    }
  }

  onCast(message: unknown): void {
    const handler = this.handler;
    // Nobody asked for an answer: a cast nobody handles, or whose handler fails, is reported here and dropped.
    if (handler === undefined) return console.error('arbor: a cast arrived but the worker has no onMessage handler');
    try {
      const result = handler(message, { kind: 'cast' });
      if (isThenable(result))
        result.then(undefined, (err: unknown) => console.error('arbor: a cast handler failed:', err));
    } catch (err) {
      console.error('arbor: a cast handler failed:', err);
    }
  }

  private reply(id: number, value: unknown): void {
    const bytes = bytesOverLimit(value, this.maxBytes);
    if (bytes !== undefined) {
      const error = new MessageTooLargeError(bytes === Infinity ? undefined : bytes, this.maxBytes).message.replace(
        'arbor: ',
        'reply: ',
      );
      return this.fail(id, 'too_large', error);
    }
    // undefined is not JSON: it arrives as a missing field, which the supervisor reads as undefined again.
    this.io.post({ type: 'arbor:reply', id, ok: true, value });
  }

  /** `handler_failed`, with the error as the caller will read it: its message, bounded. */
  private failWith(id: number, err: unknown): void {
    const bounded = (text: string): string => text.slice(0, 4000);
    if (err instanceof Error) return this.fail(id, 'handler_failed', bounded(err.message || err.name));
    if (typeof err === 'string') return this.fail(id, 'handler_failed', bounded(err));
    void inspectLater(err).then((text) => this.fail(id, 'handler_failed', bounded(text)));
  }

  private fail(id: number, code: ReplyErrorCode, error: string): void {
    this.io.post({ type: 'arbor:reply', id, ok: false, code, error });
  }
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (
    value !== null &&
    (typeof value === 'object' || typeof value === 'function') &&
    typeof (value as { then?: unknown }).then === 'function'
  );
}
