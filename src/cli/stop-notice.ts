// What a first Ctrl-C of `arbor run` on a terminal says it waits for: the longest a graceful stop can take, from
// the spec's shutdown values — children stop one after another in reverse order (a simple_one_for_one pool's all
// at once), each within its shutdown timeout, after the root's drainDelay.
import type { ChildSpec, SupervisorSpec } from '../types.js';

/** The longest, in ms, a graceful stop of this subtree can take; Infinity when a shutdown is `infinity` all the way. */
export function stopBoundMs(spec: SupervisorSpec): number {
  const children = spec.strategy === 'simple_one_for_one' ? (spec.template ? [spec.template] : []) : spec.children;
  const bounds = children.map(childBoundMs);
  // simple_one_for_one: every dynamic child is asked to stop at once, so the slowest one bounds them all.
  return spec.strategy === 'simple_one_for_one' ? Math.max(0, ...bounds) : bounds.reduce((sum, ms) => sum + ms, 0);
}

function childBoundMs(child: ChildSpec): number {
  // A listener closes its socket at once.
  if (child.type === 'listener') return 0;
  const own = child.shutdown === 'brutal_kill' ? 0 : child.shutdown === 'infinity' ? Infinity : child.shutdown;
  return child.type === 'supervisor' ? Math.min(own, stopBoundMs(child)) : own;
}

/** The line for stderr: `stopping: up to 20 s, Ctrl-C again to force`. */
export function stoppingNotice(spec: SupervisorSpec): string {
  const drain = spec.drainDelay ?? 0;
  const bound = drain + stopBoundMs(spec);
  const wait = Number.isFinite(bound)
    ? `up to ${seconds(bound)}`
    : 'until every child has stopped (a shutdown is infinity)';
  const drainNote = drain > 0 ? ` (serving ${seconds(drain)} more first: drainDelay)` : '';
  return `stopping: ${wait}${drainNote}, Ctrl-C again to force\n`;
}

function seconds(ms: number): string {
  const s = ms / 1000;
  return `${Number.isInteger(s) ? s : s.toFixed(1)} s`;
}
