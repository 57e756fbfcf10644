// The reload's order and batches, checked against a reference: every worker exactly once, in start order, batches
// of at most maxSurge within one supervisor, listeners and supervisors never replaced.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { batches, workersUnder, type TreeShape } from '../src/reload/plan.js';

/** A random tree shape: supervisors holding workers, listeners and nested supervisors. */
const shapeArb = (path: string, depth: number): fc.Arbitrary<TreeShape> =>
  fc
    .array(fc.constantFrom<'worker' | 'listener' | 'supervisor'>('worker', 'worker', 'listener', 'supervisor'), {
      maxLength: 5,
    })
    .chain((types) =>
      fc.tuple(
        ...types.map((type, i) => {
          const id = `${type[0]}${i}`;
          return type === 'supervisor' && depth < 3
            ? shapeArb(`${path}/${id}`, depth + 1).map((supervisor) => ({ id, type, supervisor }))
            : fc.constant({ id, type: type === 'supervisor' ? ('listener' as const) : type });
        }),
      ),
    )
    .map((children) => ({ path, children }));

/** The reference: a plain depth-first walk. */
function allWorkers(shape: TreeShape): string[] {
  const out: string[] = [];
  for (const child of shape.children) {
    if (child.type === 'worker') out.push(`${shape.path}/${child.id}`);
    if (child.supervisor) out.push(...allWorkers(child.supervisor));
  }
  return out;
}

describe('reload plan', () => {
  it('every worker exactly once, depth first in start order, batches of ≤ maxSurge within one supervisor', () => {
    fc.assert(
      fc.property(shapeArb('root', 0), fc.integer({ min: 1, max: 4 }), (shape, maxSurge) => {
        const plan = batches(workersUnder(shape), maxSurge);
        expect(plan.flat().map((w) => `${w.supervisor}/${w.id}`)).toEqual(allWorkers(shape));
        for (const batch of plan) {
          expect(batch.length).toBeGreaterThan(0);
          expect(batch.length).toBeLessThanOrEqual(maxSurge);
          expect(new Set(batch.map((w) => w.supervisor)).size).toBe(1);
        }
        // Batches are as full as they can be: a short batch is followed by another supervisor's, or is the last.
        plan.forEach((batch, i) => {
          const next = plan[i + 1];
          if (batch.length < maxSurge && next) expect(next[0]!.supervisor).not.toBe(batch[0]!.supervisor);
        });
      }),
    );
  });

  it('a supervisor of two pools, maxSurge 2: [[a1, a2], [a3], [b1]]', () => {
    const shape: TreeShape = {
      path: 'root',
      children: [
        { id: 'http', type: 'listener' },
        {
          id: 'a',
          type: 'supervisor',
          supervisor: { path: 'root/a', children: ['a1', 'a2', 'a3'].map((id) => ({ id, type: 'worker' as const })) },
        },
        { id: 'b', type: 'supervisor', supervisor: { path: 'root/b', children: [{ id: 'b1', type: 'worker' }] } },
      ],
    };
    expect(batches(workersUnder(shape), 2).map((b) => b.map((w) => w.id))).toEqual([['a1', 'a2'], ['a3'], ['b1']]);
  });
});
