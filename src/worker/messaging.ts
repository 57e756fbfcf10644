// The supervisor's side of messages with one worker incarnation: calls wait for the reply carrying their id
// (or a timeout, or the worker's end), casts go out unanswered, and what the worker sends is bounded in size and
// rate before it reaches the tree. The worker's side is ./mailbox.ts; the bookkeeping is ./call-table.ts.
import type { Logger } from 'pino';
import { CallError } from '../call-error.js';
import { bytesOverLimit, DEFAULT_MAX_MESSAGE_BYTES, DEFAULT_MAX_MESSAGE_RATE, type ParentMessage, type WorkerMessage } from '../protocol.js';
import { formatReason, type ExitReason } from '../types.js';
import { CallTable, idSource } from './call-table.js';
import { fullBucket, take, type Bucket } from './rate.js';

/** One id source per process: a reply can only ever match the call it answers. */
const nextCallId = idSource();

/** How often, at most, dropped messages are logged (with their count). */
const DROP_LOG_INTERVAL_MS = 1000;

export interface MessageLimits {
  maxBytes: number;
  perSecond: number;
}

export function messageLimits(spec: { maxMessageBytes?: number; maxMessageRate?: number }): MessageLimits {
  return { maxBytes: spec.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES, perSecond: spec.maxMessageRate ?? DEFAULT_MAX_MESSAGE_RATE };
}

/** How the worker's runtime learns its limits (it checks before sending; see mailbox.ts). */
export function messageLimitEnv(limits: MessageLimits): Record<string, string> {
  return { ARBOR_MAX_MESSAGE_BYTES: String(limits.maxBytes), ARBOR_MAX_MESSAGE_RATE: String(limits.perSecond) };
}

interface Waiter {
  resolve(value: unknown): void;
  reject(error: CallError): void;
  timer: NodeJS.Timeout;
}

export interface MessagingIO {
  /** Path of the worker, for error messages. */
  path: string;
  logger: Logger;
  pid(): number | undefined;
  /** Writes a message to the worker; false when the channel is closed. */
  send(message: ParentMessage): boolean;
  /** A message the worker sent with `send()`, within its limits. */
  deliver(message: unknown): void;
}

export class WorkerMessaging {
  private readonly calls = new CallTable<Waiter>(nextCallId);
  private readonly bucket: Bucket;
  private dropped = { rate: 0, too_large: 0 };
  private dropTimer: NodeJS.Timeout | undefined;

  constructor(private readonly limits: MessageLimits, private readonly io: MessagingIO) {
    this.bucket = fullBucket(limits.perSecond, Date.now());
  }

  /** Calls waiting for a reply. */
  get pending(): number {
    return this.calls.size;
  }

  call(message: unknown, timeoutMs: number): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const refused = this.refuse(message);
      if (refused) return reject(refused);
      const waiter: Waiter = { resolve, reject, timer: undefined as unknown as NodeJS.Timeout };
      const id = this.calls.open(waiter);
      if (id === undefined) return reject(new CallError('not_running', `'${this.io.path}' is not running`));
      waiter.timer = setTimeout(() => {
        if (this.calls.settle(id) !== undefined) reject(new CallError('timeout', `'${this.io.path}' did not reply within ${timeoutMs} ms`));
      }, timeoutMs);
      if (!this.io.send({ type: 'arbor:call', id, message })) {
        this.calls.settle(id);
        clearTimeout(waiter.timer);
        reject(new CallError('not_running', `'${this.io.path}' is not connected`));
      }
    });
  }

  /** Throws CallError when the message cannot go; otherwise it is on its way (no answer). */
  cast(message: unknown): void {
    const refused = this.refuse(message);
    if (refused) throw refused;
    if (this.calls.closed || !this.io.send({ type: 'arbor:cast', message })) {
      throw new CallError('not_running', `'${this.io.path}' is not running`);
    }
  }

  /** A message from the worker that is ours: a reply or a send. */
  receive(message: Extract<WorkerMessage, { type: 'arbor:reply' | 'arbor:send' }>): void {
    if (message.type === 'arbor:send') return this.receiveSend(message.message);
    const waiter = this.calls.settle(message.id);
    if (waiter === undefined) {
      // Late (after its timeout), duplicated, or never asked: nobody is waiting for it.
      this.io.logger.debug({ event: 'reply_ignored', pid: this.io.pid(), id: message.id });
      return;
    }
    clearTimeout(waiter.timer);
    if (!message.ok) {
      waiter.reject(new CallError(message.code, `'${this.io.path}': ${message.error}`));
      return;
    }
    const bytes = bytesOverLimit(message.value, this.limits.maxBytes);
    if (bytes !== undefined) {
      this.io.logger.warn({ event: 'reply_too_large', pid: this.io.pid(), bytes, limit: this.limits.maxBytes });
      waiter.reject(new CallError('too_large', `'${this.io.path}' replied with ${bytes} bytes (limit ${this.limits.maxBytes})`));
      return;
    }
    waiter.resolve(message.value);
  }

  /** The incarnation is gone: every call still waiting fails with `exited` and the exit reason. */
  close(reason: ExitReason): void {
    for (const waiter of this.calls.close()) {
      clearTimeout(waiter.timer);
      waiter.reject(new CallError('exited', `'${this.io.path}' exited before replying: ${formatReason(reason)}`, reason));
    }
    this.flushDropped();
    clearTimeout(this.dropTimer);
  }

  private refuse(message: unknown): CallError | undefined {
    const bytes = bytesOverLimit(message, this.limits.maxBytes);
    if (bytes === Infinity) return new CallError('too_large', 'the message cannot be serialized as JSON');
    if (bytes !== undefined) {
      return new CallError('too_large', `${bytes} bytes for '${this.io.path}' (limit ${this.limits.maxBytes})`);
    }
    return undefined;
  }

  private receiveSend(message: unknown): void {
    if (!take(this.bucket, this.limits.perSecond, Date.now())) return this.drop('rate');
    if (bytesOverLimit(message, this.limits.maxBytes) !== undefined) return this.drop('too_large');
    this.io.deliver(message);
  }

  /** Dropped sends are counted and logged at most once a second, so a flood cannot flood the log either. */
  private drop(why: 'rate' | 'too_large'): void {
    this.dropped[why] += 1;
    this.dropTimer ??= setTimeout(() => this.flushDropped(), DROP_LOG_INTERVAL_MS).unref();
  }

  private flushDropped(): void {
    this.dropTimer = undefined;
    const { rate, too_large } = this.dropped;
    if (rate + too_large === 0) return;
    this.dropped = { rate: 0, too_large: 0 };
    this.io.logger.warn({
      event: 'worker_messages_dropped', pid: this.io.pid(), rate, too_large,
      limits: { maxMessageRate: this.limits.perSecond, maxMessageBytes: this.limits.maxBytes },
    });
  }
}
