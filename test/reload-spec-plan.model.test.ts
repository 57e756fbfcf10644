// What a new spec changes in a running tree (src/reload/spec-plan.ts), checked against a small model of a running
// tree written here: each supervisor holds its flags and its child records (a record's spec is what the child
// restarts with; a supervisor child also has its running subtree, which its record does not change), and the tree
// API's calls act on it as OTP's do (start_child appends, terminate+delete removes, code_change sets flags). Any two
// specs: the plan, run on the model of the old one, leaves it running the new one, in OTP's order; or it is refused
// exactly when a running listener's socket fields, the root's id or a supervisor's kind would change.
import fc from 'fast-check';
import { isDeepStrictEqual } from 'node:util';
import { describe, expect, it } from 'vitest';
import { listener, supervisor, task, worker } from '../src/index.js';
import { planSpecChange, specAfter, type SpecStep } from '../src/reload/spec-plan.js';
import type { ChildSpec, SupervisorSpec } from '../src/types.js';

// ---- the model of a running tree ----

interface LiveSupervisor {
  flags: Record<string, unknown>;
  children: LiveChild[];
}
interface LiveChild {
  spec: ChildSpec;
  /** A supervisor child's running subtree. */
  running?: LiveSupervisor;
  /** The spec its current incarnation started from (a task runs the function it started with). */
  startedWith: ChildSpec;
}

const flagsOf = (spec: SupervisorSpec): Record<string, unknown> => {
  const { children: _children, id: _id, type: _type, ...flags } = spec;
  return flags;
};

function boot(spec: SupervisorSpec): LiveSupervisor {
  return { flags: flagsOf(spec), children: spec.children.map(bootChild) };
}
const bootChild = (spec: ChildSpec): LiveChild =>
  spec.type === 'supervisor' ? { spec, startedWith: spec, running: boot(spec) } : { spec, startedWith: spec };

function at(root: LiveSupervisor, rootId: string, path: string): LiveSupervisor {
  const [first, ...rest] = path.split('/');
  if (first !== rootId) throw new Error(`no supervisor at ${path}`);
  let node = root;
  for (const id of rest) {
    const child = node.children.find((c) => c.spec.id === id)?.running;
    if (!child) throw new Error(`no running supervisor at ${path}`);
    node = child;
  }
  return node;
}

/** The tree API's calls on the model: each refuses what the real one refuses. */
function perform(root: LiveSupervisor, rootId: string, step: SpecStep): void {
  const sup = at(root, rootId, step.supervisor);
  const find = (id: string) => sup.children.find((c) => c.spec.id === id);
  switch (step.op) {
    case 'set_flags':
      Object.assign(sup.flags, step.flags);
      return;
    case 'replace_spec': {
      const child = find(step.id);
      if (!child || child.spec.type !== step.spec.type)
        throw new Error(`replace_spec: no ${step.spec.type} ${step.id}`);
      child.spec = step.spec; // the record only: a running subtree is not restarted
      return;
    }
    case 'stop':
      if (!find(step.id)) throw new Error(`stop: no ${step.id}`);
      sup.children = sup.children.filter((c) => c.spec.id !== step.id);
      return;
    case 'start':
      if (find(step.spec.id)) throw new Error(`start: ${step.spec.id} exists (already_started)`);
      sup.children.push(bootChild(step.spec));
      return;
    case 'restart': {
      const child = find(step.id);
      if (!child || child.spec.type === 'supervisor') throw new Error(`restart: no ${step.id}`);
      child.startedWith = child.spec;
      return;
    }
    case 'add_pool':
    case 'update_pool':
    case 'replace_pool':
    case 'remove_pool':
      // The specs drawn here declare no pools (test/reload-pools.test.ts checks them).
      throw new Error(`${step.op}: no pools in these specs`);
  }
}

/** The model runs `next`: flags, records and running subtrees; kept children in their old order, new ones after. */
function expectRuns(live: LiveSupervisor, old: SupervisorSpec, next: SupervisorSpec): void {
  expect(live.flags).toEqual(flagsOf(next));
  const kept = old.children
    .filter((o) => next.children.some((n) => n.id === o.id && n.type === o.type))
    .map((c) => c.id);
  const added = next.children.filter((n) => !kept.includes(n.id)).map((c) => c.id);
  expect(live.children.map((c) => c.spec.id)).toEqual([...kept, ...added]);
  for (const child of live.children) {
    const wanted = next.children.find((c) => c.id === child.spec.id)!;
    expect(child.spec).toEqual(wanted);
    // A task runs its new function (workers get theirs from the rolling reload that follows).
    if (wanted.type === 'task' && wanted.restart !== 'temporary') expect(child.startedWith).toEqual(wanted);
    if (wanted.type === 'supervisor') {
      const before = old.children.find((c) => c.id === wanted.id && c.type === 'supervisor') as
        SupervisorSpec | undefined;
      expectRuns(child.running!, before ?? wanted, wanted);
    }
  }
}

/** The reference for refusals: a kept listener whose socket changes, a kept supervisor switching to or from dynamic. */
function mustRefuse(old: SupervisorSpec, next: SupervisorSpec): boolean {
  if (old.id !== next.id) return true;
  if ((old.strategy === 'simple_one_for_one') !== (next.strategy === 'simple_one_for_one')) return true;
  return next.children.some((n) => {
    const o = old.children.find((c) => c.id === n.id && c.type === n.type);
    if (!o) return false;
    if (o.type === 'listener' && n.type === 'listener')
      return (['host', 'port', 'backlog', 'mode', 'fd'] as const).some((f) => o[f] !== n[f]);
    return o.type === 'supervisor' && n.type === 'supervisor' && mustRefuse({ ...o, id: 'x' }, { ...n, id: 'x' });
  });
}

// ---- generated specs: few ids, so that two specs share children, change some and differ in others ----

const IDS = ['a', 'b', 'c', 'd'];
/** Two versions of a task's code: each import of a spec makes new function objects, equal when their source is. */
const RUN_V1 = async () => 'v1';
const RUN_V2 = async () => 'v2';

const childArb = (id: string, depth: number): fc.Arbitrary<ChildSpec> => {
  const kinds: Array<fc.Arbitrary<ChildSpec>> = [
    fc
      .record({ v: fc.constantFrom('1', '2'), restart: fc.constantFrom('permanent' as const, 'transient' as const) })
      .map(({ v, restart }) => worker({ id, module: '/srv/app.js', env: { V: v }, restart })),
    fc
      .record({
        port: fc.constantFrom(0, 0, 0, 8080),
        restart: fc.constantFrom('permanent' as const, 'transient' as const),
      })
      .map(({ port, restart }) => listener({ id, port, restart })),
    fc
      .record({
        run: fc.constantFrom(RUN_V1, RUN_V2),
        restart: fc.constantFrom('permanent' as const, 'temporary' as const),
      })
      .map(({ run, restart }) => task({ id, run, restart })),
  ];
  if (depth < 2) kinds.push(supervisorArb(id, depth + 1));
  return fc.oneof(...kinds);
};

const supervisorArb = (id: string, depth: number): fc.Arbitrary<SupervisorSpec> =>
  fc
    .record({
      ids: fc.shuffledSubarray(IDS),
      intensity: fc.integer({ min: 1, max: 3 }),
      strategy: fc.constantFrom(
        'one_for_one' as const,
        'rest_for_one' as const,
        'one_for_one' as const,
        'simple_one_for_one' as const,
      ),
    })
    .chain(({ ids, intensity, strategy }) =>
      strategy === 'simple_one_for_one'
        ? fc.constantFrom('1', '2').map((v) =>
            supervisor({
              id,
              strategy,
              intensity,
              template: worker({ id: 'job', module: '/srv/job.js', env: { V: v } }),
            }),
          )
        : fc
            .tuple(...ids.map((child) => childArb(child, depth)))
            .map((children) => supervisor({ id, strategy, intensity, children })),
    );

const rootArb = supervisorArb('root', 0);

describe('a new spec, applied to a running tree', () => {
  it('runs the new spec after the plan, in OTP order; refused exactly when something cannot change in place', () => {
    fc.assert(
      fc.property(rootArb, rootArb, (old, next) => {
        const plan = planSpecChange(old, next);
        expect(plan.refused.length > 0).toBe(mustRefuse(old, next));
        if (plan.refused.length > 0) return;

        const live = boot(old);
        for (const step of plan.steps) perform(live, old.id, step);
        expectRuns(live, old, next);
        // The spec the next reload compares to is the new one (children as running: kept, then added).
        const sorted = (s: SupervisorSpec): unknown => ({
          ...s,
          children: [...s.children]
            .sort((x, y) => x.id.localeCompare(y.id))
            .map((c) => (c.type === 'supervisor' ? sorted(c) : c)),
        });
        expect(sorted(specAfter(old, plan.steps))).toEqual(sorted(next));
        // Applying it again changes nothing.
        expect(planSpecChange(specAfter(old, plan.steps), next).steps).toEqual([]);

        // OTP's order: every stop before every start; within a supervisor, stops in reverse start order and starts
        // in spec order; flags and workers' specs first; a supervisor's own record last, after its subtree.
        const kinds = plan.steps.map((s) =>
          s.op === 'replace_spec' && s.spec.type === 'supervisor'
            ? 'commit'
            : s.op === 'set_flags' || s.op === 'replace_spec'
              ? 'update'
              : s.op,
        );
        // (Pools, which these specs do not declare: added or changed first, removed last; test/reload-pools.test.ts.)
        const phase = {
          add_pool: -1,
          update_pool: -1,
          replace_pool: -1,
          update: 0,
          stop: 1,
          start: 2,
          restart: 3,
          commit: 4,
          remove_pool: 5,
        } as const;
        expect(kinds.map((k) => phase[k])).toEqual([...kinds.map((k) => phase[k])].sort((x, y) => x - y));
        const bySupervisor = (op: 'stop' | 'start') => {
          const out = new Map<string, string[]>();
          for (const s of plan.steps) {
            if (s.op === op)
              out.set(s.supervisor, [...(out.get(s.supervisor) ?? []), s.op === 'start' ? s.spec.id : s.id]);
          }
          return out;
        };
        const order = (supPath: string, spec: SupervisorSpec | undefined): string[] => {
          if (!spec) return [];
          if (supPath === old.id) return spec.children.map((c) => c.id);
          const [, ...rest] = supPath.split('/');
          let s: SupervisorSpec | undefined = spec;
          for (const id of rest)
            s = s?.children.find((c): c is SupervisorSpec => c.id === id && c.type === 'supervisor');
          return s?.children.map((c) => c.id) ?? [];
        };
        for (const [sup, ids] of bySupervisor('stop'))
          expect(ids).toEqual(
            order(sup, old)
              .filter((id) => ids.includes(id))
              .reverse(),
          );
        for (const [sup, ids] of bySupervisor('start'))
          expect(ids).toEqual(order(sup, next).filter((id) => ids.includes(id)));
        // Nothing is touched that did not change.
        if (isDeepStrictEqual(old, next)) expect(plan.steps).toEqual([]);
      }),
      { numRuns: 500 },
    );
  });

  it('a pool of 2 grown to 3 and a listener moved: refused, naming the field', () => {
    const pool = (n: number, port: number) =>
      supervisor({
        children: [
          listener({ id: 'http', port }),
          supervisor({
            id: 'pool',
            children: Array.from({ length: n }, (_, i) =>
              worker({ id: `web-${i + 1}`, module: '/srv/app.js', listen: 'http' }),
            ),
          }),
        ],
      });
    const plan = planSpecChange(pool(2, 8080), pool(3, 8081));
    expect(plan.refused).toEqual([
      {
        path: 'root.children[0].port',
        message:
          "the port of listener 'root/http' cannot change while it runs (port 8080 → 8081): its socket is bound; stop the tree and start it again",
      },
    ]);
    const grown = planSpecChange(pool(2, 8080), pool(3, 8080));
    expect(grown.refused).toEqual([]);
    expect(
      grown.steps.map((s) => (s.op === 'start' ? `start ${s.supervisor}/${s.spec.id}` : `${s.op} ${s.supervisor}`)),
    ).toEqual(['start root/pool/web-3', 'replace_spec root']);
    const shrunk = planSpecChange(pool(3, 8080), pool(1, 8080));
    expect(shrunk.steps.filter((s) => s.op === 'stop').map((s) => (s as { id: string }).id)).toEqual([
      'web-3',
      'web-2',
    ]);
  });

  it('a task whose function is the same source, from a new import, is unchanged; a new one is restarted', () => {
    const spec = (run: () => Promise<string>) => supervisor({ children: [task({ id: 'sync', run })] });

    const sameSource = new Function(`return ${String(RUN_V1)}`)() as () => Promise<string>;
    expect(sameSource).not.toBe(RUN_V1);
    expect(planSpecChange(spec(RUN_V1), spec(sameSource)).steps).toEqual([]);
    expect(planSpecChange(spec(RUN_V1), spec(RUN_V2)).steps.map((s) => s.op)).toEqual(['replace_spec', 'restart']);
  });

  it("the root's id is refused by name", () => {
    expect(planSpecChange(supervisor({ id: 'root' }), supervisor({ id: 'app' })).refused[0]!.path).toBe('root.id');
  });
});
