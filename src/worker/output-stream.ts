// `tree.logs()`: the output of a child or a subtree as an async iterator — its recent lines, then (following) each
// new one as it is read. The buffer of a consumer that falls behind is bounded: lines beyond it are dropped, and the
// next line it gets says how many it missed, so a slow reader costs the supervisor nothing and loses nothing silently.
import { ReaderQueue } from '../reader-queue.js';
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
  const queue = new ReaderQueue<FollowedLine>();
  for (const line of log.recent(scope, recentCount).lines) queue.enqueue(line);
  let missed = 0;

  const finish = (): void => {
    if (queue.closed) return;
    unsubscribe();
    queue.end();
  };
  const unsubscribe =
    options.follow === false
      ? () => undefined
      : log.subscribe((line) => {
          if (!inScope(line.path, scope)) return;
          const followed: FollowedLine = missed > 0 ? { ...line, missed } : line;
          if (queue.handOver(followed)) {
            missed = 0;
          } else if (queue.backlog >= limit) {
            missed += 1;
          } else {
            missed = 0;
            queue.enqueue(followed);
          }
        });
  if (options.follow === false) finish();
  else void ended.then(finish);
  return queue.iterator(finish);
}
