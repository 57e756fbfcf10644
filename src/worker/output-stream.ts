// `tree.logs()`: the output of a child or a subtree as an async iterator — its recent lines, then (following) each
// new one as it is read. The buffer of a consumer that falls behind is bounded: lines beyond it are dropped, and the
// next line it gets says how many it missed, so a slow reader costs the supervisor nothing and loses nothing silently.
import { inScope, type LoggedLine, type OutputLog } from './output-log.js';

export const DEFAULT_LOGS_BUFFER = 10_000;

/** Options of `tree.logs()` (and `arbor logs`). */
export interface LogsOptions {
  /** How many recent lines come first (default 10; 0 for none). */
  lines?: number;
  /** Go on with each new line until the tree stops (default true); false ends after the recent lines. */
  follow?: boolean;
  /** Lines held for a consumer that is behind; beyond that, lines are dropped and counted in `missed`. */
  buffer?: number;
}

/** A line of output; `missed` counts the lines dropped for this consumer just before it. */
export type FollowedLine = LoggedLine & {
  /** Lines dropped for this consumer just before this one (it fell more than `buffer` lines behind). */
  missed?: number;
};

export function outputStream(
  log: OutputLog,
  scope: string | undefined,
  options: LogsOptions,
  ended: Promise<unknown>,
): AsyncIterableIterator<FollowedLine> {
  const limit = options.buffer ?? DEFAULT_LOGS_BUFFER;
  const recentCount = options.lines ?? 10;
  if (!Number.isSafeInteger(limit) || limit < 1)
    throw new RangeError(`logs(): buffer must be an integer >= 1, got ${limit}`);
  if (!Number.isSafeInteger(recentCount) || recentCount < 0)
    throw new RangeError(`logs(): lines must be an integer >= 0, got ${recentCount}`);
  const queue: FollowedLine[] = [...log.recent(scope, recentCount).lines];
  let head = 0;
  let missed = 0;
  let finished = options.follow === false;
  let waiting: ((result: IteratorResult<FollowedLine>) => void) | undefined;

  const wake = (result: IteratorResult<FollowedLine>): boolean => {
    if (waiting === undefined) return false;
    const deliver = waiting;
    waiting = undefined;
    deliver(result);
    return true;
  };
  const finish = (): void => {
    finished = true;
    unsubscribe();
    wake({ value: undefined, done: true });
  };
  const unsubscribe = finished
    ? () => undefined
    : log.subscribe((line) => {
        if (!inScope(line.path, scope)) return;
        const followed: FollowedLine = missed > 0 ? { ...line, missed } : line;
        if (wake({ value: followed, done: false })) {
          missed = 0;
        } else if (queue.length - head >= limit) {
          missed += 1;
        } else {
          missed = 0;
          queue.push(followed);
        }
      });
  if (!finished) void ended.then(finish);

  const iterator: AsyncIterableIterator<FollowedLine> = {
    next(): Promise<IteratorResult<FollowedLine>> {
      if (head < queue.length) {
        const value = queue[head++]!;
        if (head > 1024 && head * 2 > queue.length) {
          queue.splice(0, head);
          head = 0;
        }
        return Promise.resolve({ value, done: false });
      }
      if (finished) return Promise.resolve({ value: undefined, done: true });
      return new Promise((resolve) => (waiting = resolve));
    },
    return(): Promise<IteratorResult<FollowedLine>> {
      queue.length = head = 0;
      finish();
      return Promise.resolve({ value: undefined, done: true });
    },
    [Symbol.asyncIterator]() {
      return iterator;
    },
  };
  return iterator;
}
