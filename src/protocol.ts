// IPC messages between a supervisor and its workers: small tagged objects, checked on arrival.
// Anything else from a worker is logged and ignored, never trusted.

/** Supervisor → worker. */
export type ParentMessage =
  /** Shared mode: sent with the listening TCP handle. round_robin mode: no handle; connections follow. */
  | {
      type: 'arbor:handle';
      listener: string;
      mode: 'shared' | 'round_robin';
      /** shared: the backlog the worker passes to `listen(handle, backlog)`; node applies the worker's to the socket. */
      backlog?: number;
    }
  /** round_robin mode: sent with one accepted socket; the worker answers `arbor:connection-ack` with the same seq. */
  | { type: 'arbor:connection'; listener: string; seq: number }
  /**
   * Please stop: run shutdown hooks, then exit 0. `timeout`: ms until the supervisor SIGKILLs (its shutdown value),
   * absent for `infinity`; the drain closes idle keep-alive connections just before it.
   */
  | { type: 'arbor:shutdown'; timeout?: number }
  | { type: 'arbor:ping'; seq: number }
  /** Fault injection; honoured only when the worker runs with ARBOR_CHAOS=1. */
  | { type: 'arbor:chaos'; fault: ChaosFault }
  /** `tree.call`: the worker's handler answers with `arbor:reply` carrying the same id. */
  | { type: 'arbor:call'; id: number; message: unknown }
  /** `tree.cast`: no answer. */
  | { type: 'arbor:cast'; message: unknown }
  /** A standby spare becomes the worker at this path in the tree (standby.ts). */
  | { type: 'arbor:takeover'; path: string }
  /** A parked spare closes the listener's handle it was given ahead of its takeover (the listener is closing). */
  | { type: 'arbor:revoke'; listener: string }
  /**
   * A parked hot spare watches the worker `pid` at `path` through that worker's death socket, sent with this message:
   * when the worker dies, the spare takes its place by itself (`arbor:promoted`).
   */
  | { type: 'arbor:watch'; path: string; pid: number }
  /** A parked spare stops watching (the worker it watched is gone). */
  | { type: 'arbor:unwatch' }
  /** Calls and casts of one turn of the event loop, in order, on one line (see ./batching.ts). */
  | { type: 'arbor:batch'; messages: BatchedParentMessage[] };

/** What may travel in a parent's `arbor:batch`: the messages a busy pool sends many of. */
export type BatchedParentMessage = Extract<ParentMessage, { type: 'arbor:call' | 'arbor:cast' }>;

/** Faults a worker can be asked to inflict on itself (see arbor-otp/worker). */
export const CHAOS_FAULTS = ['throw', 'exit', 'hang', 'memory', 'sigterm-self'] as const;
export type ChaosFault = (typeof CHAOS_FAULTS)[number];

export const isChaosFault = (v: unknown): v is ChaosFault => (CHAOS_FAULTS as readonly unknown[]).includes(v);

/** Worker → supervisor. */
export type WorkerMessage =
  | { type: 'arbor:ready' }
  /** An uncaught exception or unhandled rejection, reported just before the worker exits. */
  | { type: 'arbor:error'; message: string; stack?: string }
  /** The worker is stopping itself through `shutdown(detail)`. */
  | { type: 'arbor:exit-shutdown'; detail: unknown }
  | { type: 'arbor:pong'; seq: number }
  /** Shared mode: the worker's server is listening on the handle of this listener. */
  | { type: 'arbor:listening'; listener: string }
  | { type: 'arbor:connection-ack'; listener: string; seq: number }
  /** A standby spare is ready to take over: booted (warm), or its module waits in serve() / ready() (hot). */
  | { type: 'arbor:parked' }
  /** A parked spare closed its copy of this listener's handle (the answer to `arbor:revoke`). */
  | { type: 'arbor:revoked'; listener: string }
  /** A hot spare read the death of the worker at `path` it watched, and took its place (`arbor:watch`). */
  | { type: 'arbor:promoted'; path: string }
  /** A spare's watch ended with no death: the worker closed its end and lives on (`alive`), or it was disarmed. */
  | { type: 'arbor:unwatched'; path: string; reason: 'alive' | 'reset' }
  /** The answer to `arbor:call` `id`: the handler's value, or why there is none. */
  | { type: 'arbor:reply'; id: number; ok: true; value: unknown }
  | { type: 'arbor:reply'; id: number; ok: false; code: ReplyErrorCode; error: string }
  /** `send(message)` in the worker: a `worker_message` event on the tree. */
  | { type: 'arbor:send'; message: unknown }
  /** Replies and sends of one turn of the event loop, in order, on one line (see ./batching.ts). */
  | { type: 'arbor:batch'; messages: BatchedWorkerMessage[] };

/** What may travel in a worker's `arbor:batch`. */
export type BatchedWorkerMessage = Extract<WorkerMessage, { type: 'arbor:reply' | 'arbor:send' }>;

/** The most messages one `arbor:batch` may hold; a longer one is malformed. */
export const BATCH_MAX_MESSAGES = 512;

/** Why a worker answered a call without a value. */
export const REPLY_ERROR_CODES = ['no_handler', 'handler_failed', 'too_large'] as const;
export type ReplyErrorCode = (typeof REPLY_ERROR_CODES)[number];
const isReplyErrorCode = (v: unknown): v is ReplyErrorCode => (REPLY_ERROR_CODES as readonly unknown[]).includes(v);

/** Default largest message either way between a tree and a worker, in bytes of JSON. */
export const DEFAULT_MAX_MESSAGE_BYTES = 1024 * 1024;
/** Default messages per second a worker may send() its tree. */
export const DEFAULT_MAX_MESSAGE_RATE = 1000;

/**
 * undefined when `message` fits in `limit` bytes of JSON; otherwise its size, or Infinity when it cannot be
 * serialized. Small messages (every call of a busy pool) are settled by a cheap upper bound on their size; only
 * those the bound cannot place under the limit are serialized to be measured.
 */
export function bytesOverLimit(message: unknown, limit: number): number | undefined {
  if (jsonBound(message, limit) <= limit) return undefined;
  const bytes = messageBytes(message);
  if (bytes === undefined) return Infinity;
  return bytes > limit ? bytes : undefined;
}

/** Nested deeper than this, a message is measured by serializing it (which also catches cycles). */
const BOUND_MAX_DEPTH = 32;

/**
 * An upper bound on the bytes of `JSON.stringify(value)` (each UTF-16 unit of a string is at most 6 bytes: `\uXXXX`),
 * or Infinity once it passes `budget` or meets something it does not model (toJSON, bigint, deep nesting).
 */
export function jsonBound(value: unknown, budget: number, depth = 0): number {
  switch (typeof value) {
    case 'string':
      return 2 + 6 * value.length;
    case 'number':
      return 24;
    case 'boolean':
    case 'undefined':
      return 9;
    case 'object': {
      if (value === null) return 4;
      if (depth > BOUND_MAX_DEPTH || typeof (value as { toJSON?: unknown }).toJSON === 'function') return Infinity;
      let total = 2;
      try {
        if (Array.isArray(value)) {
          for (const item of value) {
            total += 1 + jsonBound(item, budget - total, depth + 1);
            if (total > budget) return Infinity;
          }
        } else {
          for (const key of Object.keys(value)) {
            total += 4 + 6 * key.length + jsonBound((value as Record<string, unknown>)[key], budget - total, depth + 1);
            if (total > budget) return Infinity;
          }
        }
      } catch {
        return Infinity; // a getter that throws: serializing will tell
      }
      return total;
    }
    default:
      return Infinity; // function, symbol, bigint: serializing decides
  }
}

/** The size a message has on the IPC channel (JSON), or undefined when it cannot be serialized. */
export function messageBytes(message: unknown): number | undefined {
  // undefined is an empty message (a handler that returns nothing): on the wire, a missing field.
  if (message === undefined) return 0;
  try {
    const json = JSON.stringify(message);
    return json === undefined ? undefined : Buffer.byteLength(json);
  } catch {
    return undefined;
  }
}

const MAX_TEXT = 64 * 1024;
const isText = (v: unknown): v is string => typeof v === 'string' && v.length <= MAX_TEXT;
const isSeq = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

/**
 * What a worker says about its own end enters events, logs and status: it is bounded here, at its entry, so no
 * worker can make any of them large. Longer texts are cut and marked (see `truncate`).
 */
export const REPORT_LIMITS = {
  /** An error's message, in characters. */
  message: 4 * 1024,
  /** An error's stack, in characters. */
  stack: 16 * 1024,
  /** A `shutdown(detail)` detail, in characters of its JSON. */
  detail: 4 * 1024,
} as const;

/**
 * `text` cut to at most `max` characters, the marker of how much was cut included (`…[truncated 19995904 chars]`),
 * so a text cut once (by the worker's runtime) is not cut again (by the supervisor).
 */
export function truncate(text: string, max: number): string {
  if (text.length <= max) return text;
  // The marker is at most this long: the count it holds is below text.length.
  const kept = Math.max(0, max - `…[truncated ${text.length} chars]`.length);
  return `${text.slice(0, kept)}…[truncated ${text.length - kept} chars]`;
}

/** A detail as it came if its JSON fits the limit; else its JSON, cut and marked (a string). */
export function boundDetail(detail: unknown): unknown {
  if (typeof detail === 'string') return truncate(detail, REPORT_LIMITS.detail);
  let json: string | undefined;
  try {
    json = JSON.stringify(detail);
  } catch {
    return '[a detail that cannot be serialized]';
  }
  if (json === undefined || json.length <= REPORT_LIMITS.detail) return detail;
  return truncate(json, REPORT_LIMITS.detail);
}

/** Returns the message if it is a well-formed WorkerMessage, undefined otherwise. */
export function parseWorkerMessage(raw: unknown): WorkerMessage | undefined {
  if (raw === null || typeof raw !== 'object') return undefined;
  const m = raw as Record<string, unknown>;
  switch (m.type) {
    case 'arbor:ready':
      return { type: 'arbor:ready' };
    case 'arbor:error':
      if (typeof m.message !== 'string') return undefined;
      return {
        type: 'arbor:error',
        message: truncate(m.message, REPORT_LIMITS.message),
        ...(typeof m.stack === 'string' ? { stack: truncate(m.stack, REPORT_LIMITS.stack) } : {}),
      };
    case 'arbor:exit-shutdown':
      return { type: 'arbor:exit-shutdown', detail: boundDetail(m.detail) };
    case 'arbor:pong':
      return isSeq(m.seq) ? { type: 'arbor:pong', seq: m.seq } : undefined;
    case 'arbor:listening':
      return isText(m.listener) ? { type: 'arbor:listening', listener: m.listener } : undefined;
    case 'arbor:connection-ack':
      return isText(m.listener) && isSeq(m.seq)
        ? { type: 'arbor:connection-ack', listener: m.listener, seq: m.seq }
        : undefined;
    case 'arbor:reply':
      if (!isSeq(m.id)) return undefined;
      if (m.ok === true) return { type: 'arbor:reply', id: m.id, ok: true, value: m.value };
      return m.ok === false && isReplyErrorCode(m.code) && isText(m.error)
        ? { type: 'arbor:reply', id: m.id, ok: false, code: m.code, error: m.error }
        : undefined;
    case 'arbor:send':
      // `send(undefined)` arrives without the field (JSON has no undefined), as a cast or reply of undefined does.
      return { type: 'arbor:send', message: m.message };
    case 'arbor:parked':
      return { type: 'arbor:parked' };
    case 'arbor:revoked':
      return isText(m.listener) ? { type: 'arbor:revoked', listener: m.listener } : undefined;
    case 'arbor:promoted':
      return isText(m.path) ? { type: 'arbor:promoted', path: m.path } : undefined;
    case 'arbor:unwatched':
      return isText(m.path) && (m.reason === 'alive' || m.reason === 'reset')
        ? { type: 'arbor:unwatched', path: m.path, reason: m.reason }
        : undefined;
    case 'arbor:batch':
      return parseBatch(m.messages, parseWorkerMessage, isBatchedWorkerMessage);
    default:
      return undefined;
  }
}

const isBatchedWorkerMessage = (m: WorkerMessage): m is BatchedWorkerMessage =>
  m.type === 'arbor:reply' || m.type === 'arbor:send';
const isBatchedParentMessage = (m: ParentMessage): m is BatchedParentMessage =>
  m.type === 'arbor:call' || m.type === 'arbor:cast';

/** A batch is well formed only as a whole: a bounded array of well-formed messages of the kinds that may be batched. */
function parseBatch<M, B extends M>(
  raw: unknown,
  parse: (raw: unknown) => M | undefined,
  batchable: (m: M) => m is B,
): { type: 'arbor:batch'; messages: B[] } | undefined {
  if (!Array.isArray(raw) || raw.length === 0 || raw.length > BATCH_MAX_MESSAGES) return undefined;
  const messages: B[] = [];
  for (const item of raw) {
    const message = parse(item);
    if (message === undefined || !batchable(message)) return undefined;
    messages.push(message);
  }
  return { type: 'arbor:batch', messages };
}

/** Returns the message if it is a well-formed ParentMessage, undefined otherwise (worker side). */
export function parseParentMessage(raw: unknown): ParentMessage | undefined {
  if (raw === null || typeof raw !== 'object') return undefined;
  const m = raw as Record<string, unknown>;
  switch (m.type) {
    case 'arbor:handle':
      if (!isText(m.listener) || (m.mode !== 'shared' && m.mode !== 'round_robin')) return undefined;
      return {
        type: 'arbor:handle',
        listener: m.listener,
        mode: m.mode,
        ...(isSeq(m.backlog) && m.backlog > 0 ? { backlog: m.backlog } : {}),
      };
    case 'arbor:connection':
      return isText(m.listener) && isSeq(m.seq)
        ? { type: 'arbor:connection', listener: m.listener, seq: m.seq }
        : undefined;
    case 'arbor:shutdown':
      return { type: 'arbor:shutdown', ...(isSeq(m.timeout) ? { timeout: m.timeout } : {}) };
    case 'arbor:ping':
      return isSeq(m.seq) ? { type: 'arbor:ping', seq: m.seq } : undefined;
    case 'arbor:chaos':
      return isChaosFault(m.fault) ? { type: 'arbor:chaos', fault: m.fault } : undefined;
    case 'arbor:call':
      return isSeq(m.id) ? { type: 'arbor:call', id: m.id, message: m.message } : undefined;
    case 'arbor:cast':
      return { type: 'arbor:cast', message: m.message };
    case 'arbor:takeover':
      return isText(m.path) ? { type: 'arbor:takeover', path: m.path } : undefined;
    case 'arbor:revoke':
      return isText(m.listener) ? { type: 'arbor:revoke', listener: m.listener } : undefined;
    case 'arbor:watch':
      return isText(m.path) && isSeq(m.pid) && m.pid > 0
        ? { type: 'arbor:watch', path: m.path, pid: m.pid }
        : undefined;
    case 'arbor:unwatch':
      return { type: 'arbor:unwatch' };
    case 'arbor:batch':
      return parseBatch(m.messages, parseParentMessage, isBatchedParentMessage);
    default:
      return undefined;
  }
}
