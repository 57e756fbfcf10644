// Addressing messages in a tree: a path names a worker (`root/jobs/job-3`) or a supervisor, whose running worker
// children form a pool and one of them is picked. The messaging itself is the worker room's (worker/messaging.ts).
import { CallError } from '../call-error.js';
import { isAddressable, type Addressable } from '../child.js';
import type { SupervisorNode } from './node.js';

/** How a call or cast addressed to a supervisor picks one of its running workers. */
export type Pick = 'round_robin' | 'random' | 'least_busy';
export const PICKS: readonly Pick[] = ['round_robin', 'random', 'least_busy'];

/** Like OTP's gen_server:call default. */
export const DEFAULT_CALL_TIMEOUT = 5000;
/** setTimeout's largest delay. */
const MAX_TIMEOUT = 2 ** 31 - 1;

/** Options of `tree.cast`. */
export interface CastOptions {
  /** When the path names a supervisor: which running worker child gets it (default `round_robin`). */
  pick?: Pick;
}

/** Options of `tree.call`. */
export interface CallOptions extends CastOptions {
  /** ms to wait for the reply (default 5000): then the call fails with `timeout`. */
  timeout?: number;
}

/** Round-robin position per supervisor; forgotten with the supervisor. */
const cursors = new WeakMap<SupervisorNode, number>();

/** The worker a message to `path` goes to; throws CallError `not_found` or `not_running`. */
export function resolveWorker(
  path: string,
  nodeAt: (path: string) => SupervisorNode | undefined,
  pick: Pick = 'round_robin',
): Addressable {
  if (pick !== 'round_robin' && !PICKS.includes(pick))
    throw new TypeError(`pick must be one of ${PICKS.join(', ')}, got ${String(pick)}`);
  const pool = nodeAt(path);
  if (pool !== undefined) return pickWorker(pool, pick);
  const slash = path.lastIndexOf('/');
  const parent = slash > 0 ? nodeAt(path.slice(0, slash)) : undefined;
  const record = parent?.children.get(path.slice(slash + 1));
  if (record === undefined || (record.spec.type !== 'worker' && record.spec.type !== 'task'))
    throw new CallError('not_found', `no worker at '${path}'`);
  if (record.status !== 'running' || !isAddressable(record.handle) || !record.handle.available) {
    throw new CallError('not_running', `'${path}' is ${record.status === 'running' ? 'stopping' : record.status}`);
  }
  return record.handle;
}

function pickWorker(node: SupervisorNode, pick: Pick): Addressable {
  // One pass, no allocation but the list of candidates: this runs for every call to a pool.
  const dynamic = node.spec.strategy === 'simple_one_for_one';
  const ready: Addressable[] = [];
  let workers = 0;
  for (const c of node.children) {
    if (c.spec.type !== 'worker' && c.spec.type !== 'task' && !dynamic) continue;
    workers++;
    if (c.status === 'running' && isAddressable(c.handle) && c.handle.available) ready.push(c.handle);
  }
  if (workers === 0 && !dynamic) throw new CallError('not_found', `supervisor '${node.path}' has no worker children`);
  if (ready.length === 0) throw new CallError('not_running', `no running worker under '${node.path}'`);
  switch (pick) {
    case 'random':
      return ready[Math.floor(Math.random() * ready.length)]!;
    case 'least_busy':
      return ready.reduce((best, w) => (w.pendingCalls < best.pendingCalls ? w : best));
    case 'round_robin': {
      const next = (cursors.get(node) ?? 0) % ready.length;
      cursors.set(node, next + 1);
      return ready[next]!;
    }
  }
}

export function callTimeout(options: CallOptions): number {
  const timeout = options.timeout ?? DEFAULT_CALL_TIMEOUT;
  if (typeof timeout !== 'number' || !Number.isFinite(timeout) || timeout <= 0 || timeout > MAX_TIMEOUT) {
    throw new TypeError(`timeout must be a number of ms from 1 to ${MAX_TIMEOUT}, got ${String(timeout)}`);
  }
  return timeout;
}
