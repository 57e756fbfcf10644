// The `logs` op: a page of the workers' recent output, for `arbor logs` (which polls with `since` to follow).
// Nothing is held per client between requests; each answer is bounded in lines and bytes.
import type { Tree } from '../supervisor/tree.js';
import type { OutputPage } from '../worker/output-log.js';

/** The most lines one answer carries, and the most `lines` a request may ask for. */
export const MAX_LOG_LINES = 1000;
/** The most bytes of lines one answer carries (far below the control socket's answer limit). */
export const MAX_LOG_PAGE_BYTES = 512 * 1024;

/** The newest `lines` (default 50) at or under `path`, or with `since`, the lines numbered after it. */
export function logsPage(
  tree: Tree,
  path: string | undefined,
  request: { since?: number | undefined; lines?: number | undefined },
): OutputPage {
  const scope = path === undefined || path === tree.spec.id ? undefined : path;
  if (request.since !== undefined) return tree.output.after(scope, request.since, MAX_LOG_LINES, MAX_LOG_PAGE_BYTES);
  return tree.output.recent(scope, request.lines ?? 50, MAX_LOG_PAGE_BYTES);
}
