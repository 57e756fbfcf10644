// How a worker incarnation ended, in OTP's terms, from what the process did and what it said just before.
// Pure: the supervisor's side of the protocol (./process.ts) gathers the facts.
import type { ExitReason } from '../types.js';

/** What the worker said about its own end just before it came. */
export interface LastWords {
  error?: { message: string; stack?: string };
  /** `at`: when the notice arrived (ms, any monotonic clock; the exit's `now` is read from the same). */
  selfShutdown?: { detail: unknown; at?: number };
}

/**
 * A shutdown notice explains only an exit that follows it this closely (ms): the runtime sends it as its last
 * words, right before exiting. An exit long after one (a notice sent early, or forged) is judged on its own.
 */
export const SHUTDOWN_NOTICE_WINDOW_MS = 3000;

export interface ProcessExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/**
 * DESIGN §1: what the worker reported explains how it died, unless we killed it for its health. Last words only
 * qualify the exit they announce: a self-shutdown an exit with code 0, an error report a non-zero code. Any
 * other end (a SIGKILL after a forged `shutdown` notice) is recorded as it really happened.
 */
export function exitReasonOf(
  exit: ProcessExit,
  lastWords: LastWords,
  killCause: ExitReason | undefined,
  askedToStop: boolean,
  now?: number,
): ExitReason {
  if (killCause !== undefined) return killCause;
  const error = lastWords.error;
  if (error !== undefined && exit.code !== null && exit.code !== 0) {
    return { error: error.message, ...(error.stack !== undefined ? { stack: error.stack } : {}) };
  }
  const notice = lastWords.selfShutdown;
  const recent =
    notice !== undefined &&
    (now === undefined || notice.at === undefined || now - notice.at <= SHUTDOWN_NOTICE_WINDOW_MS);
  if (notice !== undefined && recent && exit.code === 0) {
    // As OTP's exit(shutdown): a worker that stops itself without a detail ends with reason `shutdown`.
    const { detail } = notice;
    return detail === undefined ? 'shutdown' : { shutdown: detail };
  }
  if (askedToStop && (exit.code === 0 || exit.signal === 'SIGTERM')) return 'shutdown';
  if (exit.code === 0) return 'normal';
  if (exit.code !== null) return { code: exit.code };
  return { signal: exit.signal ?? 'unknown' };
}

/** The `startFailed` text for a worker that died before it was ready. */
export function startFailureOf(reason: ExitReason): string {
  if (reason === 'normal') return 'exited with code 0 before ready';
  if (reason === 'shutdown') return 'stopped before ready';
  if ('error' in reason) return reason.error;
  if ('shutdown' in reason) return `stopped itself before ready: ${preview(reason.shutdown)}`;
  if ('code' in reason) return `exited with code ${reason.code}`;
  if ('signal' in reason) return `killed by ${reason.signal}`;
  return JSON.stringify(reason);
}

/** A bounded rendering of an untrusted value, for logs. */
export function preview(value: unknown): string {
  let text: string;
  try {
    text = JSON.stringify(value) ?? String(value);
  } catch {
    text = Object.prototype.toString.call(value);
  }
  return text.length > 200 ? `${text.slice(0, 200)}…` : text;
}
