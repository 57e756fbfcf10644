// The lifecycle of one worker incarnation (src/worker/phase.ts), under random sequences of what can happen to it.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { blame, causeOf, exitIsNews, isLive, ready, stopping, wasAsked, type Phase } from '../src/worker/phase.js';
import type { ExitReason } from '../src/types.js';

type Happening =
  | { kind: 'start' }
  | { kind: 'ready' }
  | { kind: 'stop'; asked: boolean }
  | { kind: 'blame'; cause: ExitReason }
  | { kind: 'exit'; reason: ExitReason };

const RANK: Record<Phase['name'], number> = { new: 0, starting: 1, running: 2, unhealthy: 3, stopping: 3, exited: 4 };

/** What the handles do with each happening (process.ts, thread/handle.ts). */
function step(phase: Phase, happening: Happening): Phase {
  switch (happening.kind) {
    case 'start':
      return phase.name === 'new' ? { name: 'starting' } : phase;
    case 'ready':
      return ready(phase);
    case 'stop':
      return stopping(phase, happening.asked);
    case 'blame':
      return blame(phase, happening.cause);
    case 'exit':
      return phase.name === 'exited' ? phase : { name: 'exited', reason: happening.reason };
  }
}

const reason = fc.constantFrom<ExitReason>({ hung: 1 }, { memory: 2 }, { killed: 'brutal_kill' }, 'normal');
const happening: fc.Arbitrary<Happening> = fc.oneof(
  fc.constant({ kind: 'start' as const }),
  fc.constant({ kind: 'ready' as const }),
  fc.boolean().map((asked) => ({ kind: 'stop' as const, asked })),
  reason.map((cause) => ({ kind: 'blame' as const, cause })),
  reason.map((r) => ({ kind: 'exit' as const, reason: r })),
);

describe('a worker incarnation’s phase', () => {
  it('only moves forward; the first cause, having been asked and having exited are never lost', () => {
    fc.assert(
      fc.property(fc.array(happening, { maxLength: 12 }), (happenings) => {
        let phase: Phase = { name: 'new' };
        let firstCause: ExitReason | undefined;
        let stopped = false;
        let asked = false;
        for (const h of happenings) {
          const next = step(phase, h);
          expect(RANK[next.name]).toBeGreaterThanOrEqual(RANK[phase.name]);
          if (phase.name === 'exited') expect(next).toBe(phase);
          if (h.kind === 'blame' && firstCause === undefined && phase.name !== 'exited' && isLive(phase))
            firstCause = h.cause;
          if (h.kind === 'blame' && firstCause === undefined && phase.name === 'stopping') firstCause = h.cause;
          if (h.kind === 'stop' && phase.name !== 'exited') {
            stopped = true;
            asked ||= h.asked;
          }
          if (next.name !== 'exited' && firstCause !== undefined) expect(causeOf(next)).toEqual(firstCause);
          if (next.name !== 'exited' && stopped) expect(wasAsked(next)).toBe(asked);
          // Once stopped, its exit is never news for the supervisor; an exit of a running incarnation is.
          if (stopped) expect(exitIsNews(next)).toBe(false);
          if (next.name === 'running') expect(exitIsNews(next)).toBe(true);
          phase = next;
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('a health kill after ready is news; one during the start is not, until the worker says ready', () => {
    const during = blame({ name: 'starting' }, { hung: 5 });
    expect(exitIsNews(during)).toBe(false);
    expect(exitIsNews(step(during, { kind: 'ready' }))).toBe(true);
    expect(exitIsNews(blame({ name: 'running' }, { hung: 5 }))).toBe(true);
    expect(isLive(during)).toBe(false);
  });
});
