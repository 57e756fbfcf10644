// Test support: a logger that records every tree event, waiting on events, and process checks.
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { pino, type Logger } from 'pino';
import type { TreeEvent } from '../../src/index.js';

export const fixture = (name: string): string => fileURLToPath(new URL(`../fixtures/${name}`, import.meta.url));

export interface Recorder {
  logger: Logger;
  events: TreeEvent[];
  /** Resolves with the first recorded event (past or future) that matches; rejects after `timeoutMs`. */
  waitFor(match: (e: TreeEvent) => boolean, what: string, timeoutMs?: number): Promise<TreeEvent>;
  /** Like waitFor, but only events recorded after this call. */
  next(match: (e: TreeEvent) => boolean, what: string, timeoutMs?: number): Promise<TreeEvent>;
  of<K extends TreeEvent['event']>(name: K): Extract<TreeEvent, { event: K }>[];
}

/** A pino logger whose lines are parsed back into events, so a test sees everything since start(). */
export function recorder(): Recorder {
  const events: TreeEvent[] = [];
  const waiters: Array<{ match: (e: TreeEvent) => boolean; resolve: (e: TreeEvent) => void; from: number }> = [];
  const stream = new Writable({
    write(chunk, _enc, done) {
      for (const line of String(chunk).split('\n')) {
        if (!line) continue;
        const parsed = JSON.parse(line) as TreeEvent & { msg?: string };
        if (!('event' in parsed)) continue;
        events.push(parsed);
        for (const w of [...waiters]) {
          if (w.match(parsed)) {
            waiters.splice(waiters.indexOf(w), 1);
            w.resolve(parsed);
          }
        }
      }
      done();
    },
  });
  const logger = pino({ level: 'debug', base: undefined }, stream);
  const wait = (from: number, match: (e: TreeEvent) => boolean, what: string, timeoutMs = 20_000) => {
    const past = events.slice(from).find(match);
    if (past) return Promise.resolve(past);
    return new Promise<TreeEvent>((resolve, reject) => {
      const timer = setTimeout(
        () =>
          reject(
            new Error(
              `timed out waiting for ${what}; saw: ${events.map((e) => `${e.event}:${'child' in e ? e.child : e.supervisor}`).join(', ')}`,
            ),
          ),
        timeoutMs,
      );
      waiters.push({
        match,
        from,
        resolve: (e) => {
          clearTimeout(timer);
          resolve(e);
        },
      });
    });
  };
  return {
    logger,
    events,
    waitFor: (match, what, timeoutMs) => wait(0, match, what, timeoutMs),
    next: (match, what, timeoutMs) => wait(events.length, match, what, timeoutMs),
    of: (name) => events.filter((e) => e.event === name) as never,
  };
}

export function isAlive(pid: number | undefined): boolean {
  if (pid === undefined) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Polls `check` until it holds (for facts no event announces, such as a pid disappearing). */
export async function eventually(check: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Kills any pid still alive: the last line of defence so a failed test leaves no process behind. */
export function reap(pids: Iterable<number | undefined>): void {
  for (const pid of pids) if (pid !== process.pid && isAlive(pid)) process.kill(pid!, 'SIGKILL');
}
