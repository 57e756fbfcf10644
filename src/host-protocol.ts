// The messages between a supervisor and one task host (a process or a thread running many tasks), both ways.
// Each message about a task carries the task's number in that host (`n`), given by the supervisor at its start.
// What the host sends is untrusted (it runs user code): parsed here, bounded, anything malformed ignored.
import type { ChaosFault } from './protocol.js';
import { isChaosFault } from './protocol.js';
import type { ExitReason } from './types.js';

/** Supervisor → host. */
export type ToHost =
  | { t: 'start'; n: number; path: string; id: string; module: string; export: string; args: string[] }
  /** Abort the task's signal; the host answers `exit` when it settles. */
  | { t: 'stop'; n: number }
  /** The supervisor gave up on the task (brutal_kill, a shutdown timeout): forget it, its signal aborted. */
  | { t: 'abandon'; n: number }
  | { t: 'call'; n: number; c: number; message: unknown; timeout: number }
  | { t: 'cast'; n: number; message: unknown }
  | { t: 'ping'; seq: number }
  /** A chaos fault for one task (`throw`, `exit`) or, without `n`, for the whole host (`hang`, `memory`). */
  | { t: 'chaos'; n?: number; fault: ChaosFault };

/** Host → supervisor. */
export type FromHost =
  | { t: 'ready' }
  | { t: 'started'; n: number }
  | { t: 'start_failed'; n: number; why: string }
  | { t: 'exit'; n: number; reason: ExitReason }
  | { t: 'reply'; n: number; c: number; ok: true; value: unknown }
  | { t: 'reply'; n: number; c: number; ok: false; code: string; message: string }
  | { t: 'send'; n: number; message: unknown }
  /** One pino line of a task's `log` (JSON text, bounded). */
  | { t: 'log'; n: number; line: string }
  | { t: 'pong'; seq: number };

const MAX_TEXT = 4 * 1024;
const MAX_STACK = 16 * 1024;
/** A task's log line longer than this is cut (and no longer parses: it is logged as text). */
export const MAX_LOG_LINE = 16 * 1024;

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);
const isSeq = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;
const text = (v: unknown, max: number): string | undefined =>
  typeof v === 'string' ? (v.length > max ? `${v.slice(0, max)}…` : v) : undefined;

/** A task's exit reason as a host reports it: only the reasons a task can have; anything else is undefined. */
export function parseTaskExit(v: unknown): ExitReason | undefined {
  if (v === 'normal' || v === 'shutdown') return v;
  if (!isObj(v)) return undefined;
  const error = text(v.error, MAX_TEXT);
  if (error !== undefined) {
    const stack = text(v.stack, MAX_STACK);
    return { error, ...(stack !== undefined ? { stack } : {}), ...(v.escaped === true ? { escaped: true } : {}) };
  }
  const abandoned = text(v.abandoned, MAX_TEXT);
  if (abandoned !== undefined) return { abandoned };
  return undefined;
}

export function parseFromHost(raw: unknown): FromHost | undefined {
  if (!isObj(raw)) return undefined;
  switch (raw.t) {
    case 'ready':
      return { t: 'ready' };
    case 'pong':
      return isSeq(raw.seq) ? { t: 'pong', seq: raw.seq } : undefined;
  }
  if (!isSeq(raw.n)) return undefined;
  const n = raw.n;
  switch (raw.t) {
    case 'started':
      return { t: 'started', n };
    case 'start_failed':
      return { t: 'start_failed', n, why: text(raw.why, MAX_TEXT) ?? 'start failed' };
    case 'exit': {
      const reason = parseTaskExit(raw.reason);
      return reason === undefined ? undefined : { t: 'exit', n, reason };
    }
    case 'reply':
      if (!isSeq(raw.c)) return undefined;
      if (raw.ok === true) return { t: 'reply', n, c: raw.c, ok: true, value: raw.value };
      return {
        t: 'reply',
        n,
        c: raw.c,
        ok: false,
        code: text(raw.code, 64) ?? 'handler_failed',
        message: text(raw.message, MAX_TEXT) ?? '',
      };
    case 'send':
      return { t: 'send', n, message: raw.message };
    case 'log':
      return typeof raw.line === 'string' ? { t: 'log', n, line: raw.line.slice(0, MAX_LOG_LINE) } : undefined;
    default:
      return undefined;
  }
}

/** The host trusts its supervisor, but a message of another version must not crash it: checked all the same. */
export function parseToHost(raw: unknown): ToHost | undefined {
  if (!isObj(raw)) return undefined;
  if (raw.t === 'ping') return isSeq(raw.seq) ? { t: 'ping', seq: raw.seq } : undefined;
  if (raw.t === 'chaos')
    return isChaosFault(raw.fault)
      ? { t: 'chaos', fault: raw.fault, ...(isSeq(raw.n) ? { n: raw.n } : {}) }
      : undefined;
  if (!isSeq(raw.n)) return undefined;
  const n = raw.n;
  switch (raw.t) {
    case 'start':
      if (typeof raw.path !== 'string' || typeof raw.id !== 'string' || typeof raw.module !== 'string')
        return undefined;
      if (typeof raw.export !== 'string' || !Array.isArray(raw.args)) return undefined;
      return {
        t: 'start',
        n,
        path: raw.path,
        id: raw.id,
        module: raw.module,
        export: raw.export,
        args: raw.args.filter((a): a is string => typeof a === 'string'),
      };
    case 'stop':
      return { t: 'stop', n };
    case 'abandon':
      return { t: 'abandon', n };
    case 'call':
      return isSeq(raw.c) && isSeq(raw.timeout)
        ? { t: 'call', n, c: raw.c, message: raw.message, timeout: raw.timeout }
        : undefined;
    case 'cast':
      return { t: 'cast', n, message: raw.message };
    default:
      return undefined;
  }
}
