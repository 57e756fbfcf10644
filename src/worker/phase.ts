// Where one incarnation of a worker (a process or a thread) is in its life, and what its handle asks of that:
// one value instead of a flag per question, moved only forward by the functions below.
import type { ExitReason } from '../types.js';

/** The phases of an incarnation. They only move down this list (`unhealthy` may become `stopping`). */
export type Phase =
  | { readonly name: 'new' }
  | { readonly name: 'starting' }
  | { readonly name: 'running' }
  /** Ended by us for its health or conduct; `cause` becomes its exit reason. Its exit is news if it was running. */
  | { readonly name: 'unhealthy'; readonly cause: ExitReason; readonly wasRunning: boolean }
  /**
   * terminate() or kill(): the exit is ours, not news. `asked`: told to stop, so a clean exit means `shutdown`;
   * `cause`: why we ended it ourselves when it did not stop (its exit reason then).
   */
  | { readonly name: 'stopping'; readonly asked: boolean; readonly cause?: ExitReason }
  | { readonly name: 'exited'; readonly reason: ExitReason };

/** Not yet stopping, ended, or condemned: what a health check may still kill. */
export const isLive = (phase: Phase): boolean =>
  phase.name === 'new' || phase.name === 'starting' || phase.name === 'running';

/** The cause we recorded for ending it ourselves, if any. */
export const causeOf = (phase: Phase): ExitReason | undefined =>
  phase.name === 'unhealthy' || phase.name === 'stopping' ? phase.cause : undefined;

/** It was asked to stop: a clean exit means `shutdown`. */
export const wasAsked = (phase: Phase): boolean => phase.name === 'stopping' && phase.asked;

/** Its exit is news for the supervisor: it was running and nobody stopped it. */
export const exitIsNews = (phase: Phase): boolean =>
  phase.name === 'running' || (phase.name === 'unhealthy' && phase.wasRunning);

/** Being stopped, keeping what was recorded (its cause, having been asked). An exited incarnation stays exited. */
export function stopping(phase: Phase, asked: boolean): Phase {
  if (phase.name === 'exited') return phase;
  const cause = causeOf(phase);
  return { name: 'stopping', asked: asked || wasAsked(phase), ...(cause !== undefined ? { cause } : {}) };
}

/**
 * It said `ready`: a starting incarnation runs; one condemned meanwhile stays so, but its coming exit is now news
 * (it had started, as any running worker). Stopped or exited, nothing changes: the start has failed.
 */
export function ready(phase: Phase): Phase {
  if (phase.name === 'starting') return { name: 'running' };
  return phase.name === 'unhealthy' ? { ...phase, wasRunning: true } : phase;
}

/** `cause` becomes its exit reason, unless one was recorded first or it has exited. */
export function blame(phase: Phase, cause: ExitReason): Phase {
  switch (phase.name) {
    case 'new':
    case 'starting':
    case 'running':
      return { name: 'unhealthy', cause, wasRunning: phase.name === 'running' };
    case 'stopping':
      return phase.cause === undefined ? { ...phase, cause } : phase;
    case 'unhealthy':
    case 'exited':
      return phase;
  }
}
