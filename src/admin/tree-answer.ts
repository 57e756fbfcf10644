// The body of /tree: the tree's status as the admin endpoint may show it to anyone who can connect. Pure.
// - Bounded: each supervisor lists at most `pageSize` children; the rest are counted, with the URL of the next
//   page (`/tree?path=<supervisor>&offset=<n>`), and the whole text is cut at `maxBytes` with omission markers.
// - No secrets by default: what a worker said about its end (error text, stacks, shutdown details, start-failure
//   messages) is replaced by `[hidden]`; kinds, codes, signals, counts and states stay. `exposeErrors` keeps them.
import { boundedJson } from '../control/bounded.js';
import type { SupervisorStatus } from '../supervisor/tree.js';

export const HIDDEN = '[hidden]';
/** Words a start failure may carry that are the supervisor's own, never a worker's text. */
const OWN_START_FAILURES = new Set(['timeout']);

export interface TreeAnswerOptions {
  /** The supervisor whose status is answered (default: the root). */
  path?: string;
  /** Its children listed from this index on (default 0). */
  offset?: number;
  pageSize: number;
  maxBytes: number;
  exposeErrors: boolean;
}

/** The status of `options.path` within `root`, paged and redacted; undefined when there is no such supervisor. */
export function treeAnswer(root: SupervisorStatus, options: TreeAnswerOptions): string | undefined {
  const node = options.path === undefined || options.path === root.path ? root : find(root, options.path);
  if (!node) return undefined;
  const shaped = page(node, options.offset ?? 0, options);
  return boundedJson(shaped, { maxString: 4096, maxBytes: options.maxBytes });
}

function find(root: SupervisorStatus, path: string): SupervisorStatus | undefined {
  if (!path.startsWith(`${root.path}/`)) return undefined;
  let node: SupervisorStatus | undefined = root;
  while (node && node.path !== path) {
    const rest: string = path.slice(node.path.length + 1);
    const id = rest.split('/')[0];
    node = node.children.find((c) => c.id === id)?.supervisor;
  }
  return node;
}

function page(node: SupervisorStatus, offset: number, options: TreeAnswerOptions): unknown {
  const total = node.children.length;
  const shown = node.children.slice(offset, offset + options.pageSize);
  const children = shown.map((child) => {
    const { supervisor, ...info } = child;
    const visible = options.exposeErrors ? info : redact(info);
    return supervisor ? { ...visible, supervisor: page(supervisor, 0, options) } : visible;
  });
  const next = offset + shown.length;
  const rest = options.exposeErrors ? node : redact(node);
  return {
    ...(rest as object),
    children,
    ...(offset > 0 || next < total
      ? {
          page: {
            offset,
            shown: shown.length,
            total,
            ...(next < total ? { next: `/tree?path=${encodeURIComponent(node.path)}&offset=${next}` } : {}),
          },
        }
      : {}),
  };
}

/** A copy of `value` (children excluded) with every free text a worker could have written replaced by HIDDEN. */
export function redact<T>(value: T): T {
  return walk(value, 0) as T;
}

function walk(value: unknown, depth: number): unknown {
  if (value === null || typeof value !== 'object' || depth > 16) return value;
  if (Array.isArray(value)) return value.map((item) => walk(item, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [key, field] of Object.entries(value as Record<string, unknown>)) {
    if (key === 'children') continue; // paged by the caller
    if (key === 'stack') continue;
    if (key === 'error' || key === 'message')
      out[key] = typeof field === 'string' || typeof field === 'object' ? HIDDEN : field;
    else if (key === 'startFailed')
      out[key] = typeof field === 'string' && OWN_START_FAILURES.has(field) ? field : HIDDEN;
    else if (key === 'shutdown' && typeof field !== 'number') out[key] = HIDDEN;
    else out[key] = walk(field, depth + 1);
  }
  return out;
}
