// The supervisor's side of messages with one worker incarnation: calls wait for the reply carrying their id
// (or a timeout, or the worker's end), casts go out unanswered, and what the worker sends is bounded in size and
// rate before it reaches the tree. The worker's side is ./mailbox.ts; the bookkeeping is ./call-table.ts.
import type { Logger } from 'pino';
import { CallError } from '../call-error.js';
import {
  bytesOverLimit,
  DEFAULT_MAX_MESSAGE_BYTES,
  DEFAULT_MAX_MESSAGE_RATE,
  type BatchedParentMessage,
  type BatchedWorkerMessage,
} from '../protocol.js';
import { formatReason, type ExitReason } from '../types.js';
import { CallTable, idSource } from './call-table.js';
import { fullBucket, take, type Bucket } from '../rate.js';

/** One id source per process: a reply can only ever match the call it answers. */
const nextCallId = idSource();

/** How often, at most, dropped messages are logged (with their count). */
const DROP_LOG_INTERVAL_MS = 1000;

export interface MessageLimits {
  maxBytes: number;
  perSecond: number;
}

export function messageLimits(spec: { maxMessageBytes?: number; maxMessageRate?: number }): MessageLimits {
  return {
    maxBytes: spec.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES,
    perSecond: spec.maxMessageRate ?? DEFAULT_MAX_MESSAGE_RATE,
  };
}

/** How the worker's runtime learns its limits (it checks before sending; see mailbox.ts). */
export function messageLimitEnv(limits: MessageLimits): Record<string, string> {
  return { ARBOR_MAX_MESSAGE_BYTES: String(limits.maxBytes), ARBOR_MAX_MESSAGE_RATE: String(limits.perSecond) };
}

interface Waiter {
  resolve(value: unknown): void;
  reject(error: CallError): void;
  timeoutMs: number;
}

/** A monotonic clock: deadlines must not move with the wall clock. */
const now = (): number => performance.now();

export interface MessagingIO {
  /** Path of the worker, for error messages. */
  path: string;
  logger: Logger;
  pid(): number | undefined;
  /** Writes a call or cast to the worker (at the end of the tick); false when the channel is closed. */
  send(message: BatchedParentMessage): boolean;
  /** A message the worker sent with `send()`, within its limits. */
  deliver(message: unknown): void;
}

export class WorkerMessaging {
  private readonly calls = new CallTable<Waiter>(nextCallId);
  private readonly bucket: Bucket;
  private dropped = { rate: 0, too_large: 0 };
  private dropTimer: NodeJS.Timeout | undefined;
  /** One timer for every call's deadline, armed for the earliest it knows of (see expireCalls). */
  private deadlineTimer: NodeJS.Timeout | undefined;
  private armedFor = Infinity;

  constructor(
    private readonly limits: MessageLimits,
    private readonly io: MessagingIO,
  ) {
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
      const deadline = now() + timeoutMs;
      const id = this.calls.open({ resolve, reject, timeoutMs }, deadline);
      if (id === undefined) return reject(new CallError('not_running', `'${this.io.path}' is not running`));
      if (!this.io.send({ type: 'arbor:call', id, message })) {
        this.calls.settle(id);
        return reject(new CallError('not_running', `'${this.io.path}' is not connected`));
      }
      if (deadline < this.armedFor) this.armDeadline(deadline);
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
  receive(message: BatchedWorkerMessage): void {
    if (message.type === 'arbor:send') return this.receiveSend(message.message);
    const waiter = this.calls.settle(message.id);
    if (waiter === undefined) {
      // Late (after its timeout), duplicated, or never asked: nobody is waiting for it.
      this.io.logger.debug({ event: 'reply_ignored', pid: this.io.pid(), id: message.id });
      return;
    }
    if (!message.ok) {
      waiter.reject(new CallError(message.code, `'${this.io.path}': ${message.error}`));
      return;
    }
    const bytes = bytesOverLimit(message.value, this.limits.maxBytes);
    if (bytes !== undefined) {
      this.io.logger.warn({ event: 'reply_too_large', pid: this.io.pid(), bytes, limit: this.limits.maxBytes });
      waiter.reject(
        new CallError('too_large', `'${this.io.path}' replied with ${bytes} bytes (limit ${this.limits.maxBytes})`),
      );
      return;
    }
    waiter.resolve(message.value);
  }

  /** The incarnation is gone: every call still waiting fails with `exited` and the exit reason. */
  close(reason: ExitReason): void {
    clearTimeout(this.deadlineTimer);
    this.armedFor = Infinity;
    for (const waiter of this.calls.close()) {
      waiter.reject(
        new CallError('exited', `'${this.io.path}' exited before replying: ${formatReason(reason)}`, reason),
      );
    }
    this.flushDropped();
    clearTimeout(this.dropTimer);
  }

  /**
   * Settled calls leave the timer armed for a deadline that may no longer be pending: when it fires it expires
   * what is due and re-arms for the earliest left. So the timer moves once per deadline passed, not per call.
   */
  private armDeadline(deadline: number): void {
    clearTimeout(this.deadlineTimer);
    this.armedFor = deadline;
    this.deadlineTimer = setTimeout(() => this.expireCalls(), Math.max(0, Math.ceil(deadline - now())));
  }

  private expireCalls(): void {
    this.deadlineTimer = undefined;
    this.armedFor = Infinity;
    for (const waiter of this.calls.expire(now())) {
      waiter.reject(new CallError('timeout', `'${this.io.path}' did not reply within ${waiter.timeoutMs} ms`));
    }
    const next = this.calls.nextDeadline();
    if (next !== undefined) this.armDeadline(next);
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
      event: 'worker_messages_dropped',
      pid: this.io.pid(),
      rate,
      too_large,
      limits: { maxMessageRate: this.limits.perSecond, maxMessageBytes: this.limits.maxBytes },
    });
  }
}
