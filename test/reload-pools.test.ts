// What a reload does to the root's task host pools (src/reload/pool-plan.ts, spec-plan.ts), for any two sets of
// pools, against a reference written here: a pool only in the new spec is added, one only in the old is removed,
// one whose kind, execArgv or resourceLimits changed gets new hosts, one whose other fields changed is updated in
// place, and an unchanged one (defaults written out or not) is left alone. Added and changed pools go before every
// other step of the plan, removed ones after; the root's flags never carry `hosts`; the plan, applied, gives the new
// pools, and planning again gives nothing. A pool is removed only when no task is left in it.
import fc from 'fast-check';
import { isDeepStrictEqual } from 'node:util';
import { describe, expect, it } from 'vitest';
import { supervisor, task, type HostSpec } from '../src/index.js';
import { movesByRestart } from '../src/reload/apply-spec.js';
import { planPoolChanges, poolsAfter, POOL_HOST_FIELDS } from '../src/reload/pool-plan.js';
import { planSpecChange, refuseRemovedPools, specAfter, type SpecStep } from '../src/reload/spec-plan.js';

const NAMES = ['jobs', 'media', 'mail'];

// Plain objects, as a spec module makes them (fast-check's records may have no prototype).
const heartbeat = fc
  .record({ interval: fc.constantFrom(100, 500), timeout: fc.constantFrom(1000, 5000) })
  .map((h) => ({ ...h }));
const hostSpec: fc.Arbitrary<HostSpec> = fc.oneof(
  fc.record(
    {
      kind: fc.constant('process' as const),
      size: fc.integer({ min: 1, max: 4 }),
      heartbeat,
      maxMemory: fc.constantFrom(2 ** 28, 2 ** 29),
      startTimeout: fc.constantFrom(5000, 10_000),
      execArgv: fc.constantFrom('--max-old-space-size=256', '--no-warnings').map((a) => [a]),
    },
    { requiredKeys: [] },
  ),
  fc.record(
    {
      kind: fc.constant('thread' as const),
      size: fc.integer({ min: 1, max: 4 }),
      heartbeat,
      resourceLimits: fc.constantFrom({ maxOldGenerationSizeMb: 64 }, { maxOldGenerationSizeMb: 128 }),
    },
    { requiredKeys: ['kind'] },
  ),
);
const pools = fc.dictionary(fc.constantFrom(...NAMES), hostSpec, { maxKeys: 3 });

/** Pools with their defaults written out (`size: 1` and no size are the same pool). */
const normalized = (all: Record<string, HostSpec>) =>
  Object.fromEntries(Object.entries(all).map(([n, s]) => [n, { ...s, kind: s.kind ?? 'process', size: s.size ?? 1 }]));

/** The reference: what becomes of one pool. */
function expected(before: HostSpec | undefined, after: HostSpec | undefined): string | undefined {
  if (before === undefined) return after === undefined ? undefined : 'add_pool';
  if (after === undefined) return 'remove_pool';
  const norm = (s: HostSpec): Record<string, unknown> => ({ ...s, kind: s.kind ?? 'process', size: s.size ?? 1 });
  if (isDeepStrictEqual(norm(before), norm(after))) return undefined;
  return POOL_HOST_FIELDS.some((f) => !isDeepStrictEqual(norm(before)[f], norm(after)[f]))
    ? 'replace_pool'
    : 'update_pool';
}

const rootWith = (hosts: Record<string, HostSpec>, taskHost: string | undefined) =>
  supervisor({
    ...(Object.keys(hosts).length > 0 ? { hosts } : {}),
    intensity: 3,
    children: [
      ...(taskHost ? [task({ id: 't', module: '/dev/null', host: taskHost })] : []),
      task({ id: 'inline', run: async () => undefined }),
    ],
  });

describe('the pools of a reload', () => {
  it('each pool is added, updated in place, given new hosts, removed or left alone, as the reference says', () => {
    fc.assert(
      fc.property(pools, pools, (old, next) => {
        const { early, late } = planPoolChanges('root', old, next);
        const steps = [...early, ...late];
        for (const name of NAMES) {
          const mine = steps.filter((s) => s.name === name).map((s) => s.op);
          const want = expected(old[name], next[name]);
          expect(mine).toEqual(want === undefined ? [] : [want]);
        }
        expect(late.every((s) => s.op === 'remove_pool')).toBe(true);
        expect(early.every((s) => s.op !== 'remove_pool')).toBe(true);
        // Applied, the steps give the new pools; planned again from there, nothing is left to do.
        const applied = steps.reduce(poolsAfter, old as Record<string, HostSpec> | undefined) ?? {};
        expect(normalized(applied)).toEqual(normalized(next));
        expect(planPoolChanges('root', applied, next)).toEqual({ early: [], late: [] });
      }),
    );
  });

  it('in a whole plan: pools first (removals last), never a flag of the root, and specAfter gives the new spec', () => {
    fc.assert(
      fc.property(pools, pools, fc.boolean(), (old, next, moveTask) => {
        const oldHost = Object.keys(old)[0];
        const newHost = moveTask ? Object.keys(next)[0] : oldHost && next[oldHost] ? oldHost : Object.keys(next)[0];
        const a = rootWith(old, oldHost);
        const b = rootWith(next, newHost);
        const plan = planSpecChange(a, b);
        expect(plan.refused).toEqual([]);
        const isPool = (s: SpecStep) => 'name' in s;
        const firstOther = plan.steps.findIndex((s) => !isPool(s));
        const fromEnd = [...plan.steps].reverse().findIndex((s) => !isPool(s));
        const lastOther = fromEnd < 0 ? -1 : plan.steps.length - 1 - fromEnd;
        plan.steps.forEach((s, i) => {
          if (s.op === 'remove_pool') expect(i).toBeGreaterThan(lastOther);
          else if (isPool(s) && firstOther >= 0) expect(i).toBeLessThan(firstOther);
        });
        for (const s of plan.steps) if (s.op === 'set_flags') expect(Object.keys(s.flags)).not.toContain('hosts');
        const after = specAfter(a, plan.steps);
        expect(normalized(after.hosts ?? {})).toEqual(normalized(b.hosts ?? {}));
        expect(planSpecChange(after, b).steps).toEqual([]);
      }),
    );
  });

  it('a removed pool is refused exactly while a task in it is neither stopped nor moved by the plan', () => {
    const path = fc.constantFrom('root/a', 'root/b', 'root/sub/c', 'root/sub/d');
    fc.assert(
      fc.property(
        fc.uniqueArray(path),
        fc.subarray(['root/a', 'root/sub']),
        fc.subarray(['root/b', 'root/sub/c']),
        (inPool, stopped, restarted) => {
          const steps: SpecStep[] = [
            ...stopped.map((p): SpecStep => ({
              op: 'stop',
              supervisor: p.slice(0, p.lastIndexOf('/')),
              id: p.slice(p.lastIndexOf('/') + 1),
            })),
            ...restarted.map((p): SpecStep => ({
              op: 'restart',
              supervisor: p.slice(0, p.lastIndexOf('/')),
              id: p.slice(p.lastIndexOf('/') + 1),
            })),
            { op: 'remove_pool', supervisor: 'root', name: 'jobs' },
          ];
          const left = inPool.filter(
            (p) => !restarted.includes(p) && !stopped.some((s) => p === s || p.startsWith(`${s}/`)),
          );
          const refused = refuseRemovedPools(steps, (name) => (name === 'jobs' ? inPool : []));
          expect(refused.length).toBe(left.length > 0 ? 1 : 0);
          if (left.length > 0) {
            expect(refused[0]!.path).toBe('root.hosts.jobs');
            for (const p of left) expect(refused[0]!.message).toContain(p);
          }
        },
      ),
    );
  });

  it('a task of a pool given new hosts moves by a restart, unless temporary or dynamic', () => {
    const ref = (restart: 'permanent' | 'transient' | 'temporary', dynamic: boolean) =>
      movesByRestart({ supervisor: 'root', id: 'x', restart, dynamic });
    expect([ref('permanent', false), ref('transient', false), ref('temporary', false), ref('permanent', true)]).toEqual(
      [true, true, false, false],
    );
  });
});
