// Liveness and readiness as pure decisions over what the admin server observed of the tree.
import type { SupervisorStatus } from '../supervisor/tree.js';

/** Where the tree is in its life, as the admin server saw it through `start()` and the tree's events. */
export type TreePhase = 'starting' | 'running' | 'stopping' | 'stopped' | 'gave_up' | 'start_failed';

export interface ProbeInput {
  phase: TreePhase;
  /** The root's status, undefined once the root is gone. */
  status: SupervisorStatus | undefined;
  /** The supervisor's event loop lag, in ms, as last measured. */
  lagMs: number;
  maxLagMs: number;
}

export interface ProbeAnswer {
  ok: boolean;
  body: { status: 'ok' | 'ready' | 'unhealthy' | 'not_ready'; reasons: string[] };
}

/** The root's machine states in which it is alive (restarting a child is alive). */
const ALIVE_STATES = new Set(['starting', 'running', 'restarting', 'calling', 'shuttingDown']);

/** /healthz: the root runs and the supervisor's event loop turns fast enough. A graceful stop is still alive. */
export function liveness({ phase, status, lagMs, maxLagMs }: ProbeInput): ProbeAnswer {
  const reasons: string[] = [];
  if (phase === 'gave_up') reasons.push('the root supervisor gave up (max restart intensity)');
  else if (phase === 'start_failed') reasons.push('the tree failed to start');
  else if (phase === 'stopped' || !status) reasons.push('the root supervisor has stopped');
  else if (!ALIVE_STATES.has(status.state)) reasons.push(`the root supervisor is ${status.state}`);
  if (lagMs > maxLagMs) reasons.push(`event loop lag ${Math.round(lagMs)} ms exceeds ${maxLagMs} ms`);
  return reasons.length === 0
    ? { ok: true, body: { status: 'ok', reasons } }
    : { ok: false, body: { status: 'unhealthy', reasons } };
}

/**
 * /readyz: the tree has started, is not stopping, and every listener can answer. A listener whose workers are all
 * restarting counts as ready: its socket keeps listening and connections wait in the backlog until the
 * replacement serves them (~0.1 s), which is shorter than any probe period; taking the pod out for it would only
 * move its load elsewhere. A listener that is itself restarting, or that no worker has listened on yet, is not.
 */
export function readiness(input: ProbeInput): ProbeAnswer {
  const { phase, status } = input;
  const reasons: string[] = [];
  if (phase === 'starting') reasons.push('the tree is starting');
  else if (phase === 'stopping') reasons.push('the tree is stopping (draining)');
  else if (phase === 'gave_up') reasons.push('the root supervisor gave up (max restart intensity)');
  else if (phase === 'start_failed') reasons.push('the tree failed to start');
  else if (phase === 'stopped' || !status) reasons.push('the root supervisor has stopped');
  else {
    if (!ALIVE_STATES.has(status.state) || status.state === 'shuttingDown')
      reasons.push(`the root supervisor is ${status.state}`);
    for (const problem of listenerProblems(status)) reasons.push(problem);
  }
  return reasons.length === 0
    ? { ok: true, body: { status: 'ready', reasons } }
    : { ok: false, body: { status: 'not_ready', reasons } };
}

function listenerProblems(node: SupervisorStatus): string[] {
  const problems: string[] = [];
  for (const child of node.children) {
    const path = `${node.path}/${child.id}`;
    if (child.type === 'listener') {
      if (child.status !== 'running') problems.push(`listener ${path} is ${child.status}`);
      else if (child.listener && !child.listener.listening)
        problems.push(`listener ${path} is not listening yet (no worker has served it)`);
    }
    if (child.supervisor) problems.push(...listenerProblems(child.supervisor));
  }
  return problems;
}
