// Spec validation (DESIGN.md §2): the whole spec is checked before anything starts, and every problem names
// the path of the bad field, e.g. `root.children[2].shutdown`.
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, test, vi } from 'vitest';
import { listener, supervisor, worker } from '../../src/supervisor/spec.js';
import { SpecError, validateSpec, type SpecProblem } from '../../src/supervisor/validate.js';
import type { ChildSpec, WorkerSpec } from '../../src/types.js';

// fork() is replaced so that a test can tell whether anything was forked; it never starts a process.
const forks = vi.hoisted(() => ({ modules: [] as string[] }));
vi.mock('node:child_process', async (importOriginal) => {
  const actual = await importOriginal<typeof import('node:child_process')>();
  return {
    ...actual,
    fork: (module: string) => {
      forks.modules.push(module);
      throw new Error(`test: fork(${module}) refused`);
    },
  };
});

/** Any existing file will do as a worker module: validation only checks that it is there. */
const MODULE = fileURLToPath(import.meta.url);

/** A value of the wrong type, as a user's JavaScript spec could hold. */
const bad = <T>(value: unknown): T => value as T;

const problem = (path: string, message: string | RegExp): SpecProblem =>
  ({
    path,
    message: typeof message === 'string' ? expect.stringContaining(message) : expect.stringMatching(message),
  }) as SpecProblem;

describe('a valid spec has no problems', () => {
  test('listener, workers serving it, a nested pool and a dynamic pool: no problems', () => {
    const spec = supervisor({
      strategy: 'rest_for_one',
      intensity: 3,
      period: 10_000,
      children: [
        listener({ id: 'web', port: 8080, mode: 'round_robin' }),
        worker({ id: 'w1', module: MODULE, listen: 'web', shutdown: 'brutal_kill' }),
        supervisor({ id: 'pool', children: [worker({ id: 'w2', module: MODULE, listen: 'web' })] }),
        supervisor({
          id: 'jobs',
          strategy: 'simple_one_for_one',
          template: { id: 'job', module: MODULE, restart: 'temporary', listen: 'web' },
        }),
        supervisor({
          id: 'session',
          autoShutdown: 'any_significant',
          children: [worker({ id: 'main', module: MODULE, restart: 'transient', significant: true })],
        }),
      ],
    });
    expect(validateSpec(spec)).toEqual([]);
  });
});

describe('supervisor flags', () => {
  test('duplicate ids among siblings: reported at the second one, naming the first', () => {
    const spec = supervisor({ children: [worker({ id: 'a', module: MODULE }), worker({ id: 'a', module: MODULE })] });
    expect(validateSpec(spec)).toEqual([problem('root.children[1].id', "duplicate id 'a' (also root.children[0])")]);
  });

  test('drainDelay: a non-negative integer on the root; on a nested supervisor it is refused', () => {
    expect(validateSpec(supervisor({ drainDelay: 2000 }))).toEqual([]);
    expect(validateSpec(supervisor({ drainDelay: bad(-1) }))).toEqual([problem('root.drainDelay', 'integer >= 0')]);
    const nested = supervisor({ children: [supervisor({ id: 'pool', drainDelay: 100 })] });
    expect(validateSpec(nested)).toEqual([problem('root.children[0].drainDelay', 'only the root supervisor')]);
  });

  test('the same id under different supervisors is fine', () => {
    const spec = supervisor({
      children: [
        worker({ id: 'a', module: MODULE }),
        supervisor({ id: 'b', children: [worker({ id: 'a', module: MODULE })] }),
      ],
    });
    expect(validateSpec(spec)).toEqual([]);
  });

  test('unknown strategy: root.strategy', () => {
    expect(validateSpec(supervisor({ strategy: bad('one_for_some') }))).toEqual([
      problem('root.strategy', "unknown strategy 'one_for_some'"),
    ]);
  });

  test.each([-1, 1.5, Number.NaN, '3'])('intensity %o: root.intensity', (intensity) => {
    expect(validateSpec(supervisor({ intensity: bad(intensity) }))).toEqual([
      problem('root.intensity', 'must be an integer >= 0'),
    ]);
  });

  test('intensity 0 is allowed (give up at the first restart)', () => {
    expect(validateSpec(supervisor({ intensity: 0 }))).toEqual([]);
  });

  test.each([0, -5, 1.5, Infinity])('period %s: root.period', (period) => {
    expect(validateSpec(supervisor({ period }))).toEqual([problem('root.period', 'must be an integer > 0 (ms)')]);
  });

  test('unknown autoShutdown: root.autoShutdown', () => {
    expect(validateSpec(supervisor({ autoShutdown: bad('sometimes') }))).toEqual([
      problem('root.autoShutdown', "got 'sometimes'"),
    ]);
  });
});

describe('workers', () => {
  test('a worker module that does not exist: root.children[0].module, naming the absolute path', () => {
    const spec = supervisor({ children: [worker({ id: 'w', module: 'no/such/worker.js' })] });
    expect(validateSpec(spec)).toEqual([
      problem('root.children[0].module', `module not found: ${resolve(process.cwd(), 'no/such/worker.js')}`),
    ]);
  });

  test('a worker module that is a directory: root.children[0].module', () => {
    const spec = supervisor({ children: [worker({ id: 'w', module: fileURLToPath(new URL('.', import.meta.url)) })] });
    expect(validateSpec(spec)).toEqual([problem('root.children[0].module', 'module not found')]);
  });

  test('a relative module is resolved against the worker cwd', () => {
    const here = fileURLToPath(new URL('.', import.meta.url));
    expect(
      validateSpec(supervisor({ children: [worker({ id: 'w', module: 'validate.test.ts', cwd: here })] })),
    ).toEqual([]);
  });

  test.each([-1, 1.5, 'later', null])('shutdown %o: root.children[2].shutdown', (shutdown) => {
    const spec = supervisor({
      children: [
        worker({ id: 'a', module: MODULE }),
        worker({ id: 'b', module: MODULE }),
        worker({ id: 'c', module: MODULE, shutdown: bad(shutdown) }),
      ],
    });
    expect(validateSpec(spec)).toEqual([
      problem('root.children[2].shutdown', "must be 'brutal_kill', 'infinity' or a timeout in ms"),
    ]);
  });

  test.each(['brutal_kill', 'infinity', 0, 30_000] as const)('shutdown %s is allowed', (shutdown) => {
    expect(validateSpec(supervisor({ children: [worker({ id: 'w', module: MODULE, shutdown })] }))).toEqual([]);
  });

  test('an unknown restart type: root.children[0].restart', () => {
    const spec = supervisor({ children: [worker({ id: 'w', module: MODULE, restart: bad('sometimes') })] });
    expect(validateSpec(spec)).toEqual([
      problem('root.children[0].restart', 'must be one of permanent, transient, temporary'),
    ]);
  });

  test('a child that is not a child spec: root.children[1]', () => {
    const spec = supervisor({ children: [worker({ id: 'w', module: MODULE }), bad<ChildSpec>('w2.js')] });
    expect(validateSpec(spec)).toEqual([problem('root.children[1]', 'must be a child spec')]);
  });
});

describe('listeners and the workers that serve them', () => {
  test('a worker listening on an id that no listener has: root.children[0].listen', () => {
    const spec = supervisor({ children: [worker({ id: 'w', module: MODULE, listen: 'web' })] });
    expect(validateSpec(spec)).toEqual([problem('root.children[0].listen', "no listener 'web'")]);
  });

  test('a worker listening on a sibling worker: not a listener', () => {
    const spec = supervisor({
      children: [worker({ id: 'web', module: MODULE }), worker({ id: 'w', module: MODULE, listen: 'web' })],
    });
    expect(validateSpec(spec)).toEqual([problem('root.children[1].listen', "no listener 'web'")]);
  });

  test('a listener placed after the worker that uses it: root.children[0].listen', () => {
    const spec = supervisor({
      children: [worker({ id: 'w', module: MODULE, listen: 'web' }), listener({ id: 'web' })],
    });
    expect(validateSpec(spec)).toEqual([
      problem('root.children[0].listen', "listener 'web' must come before this worker"),
    ]);
  });

  test("a listener among the root's children, started before the branch that holds the worker: found", () => {
    const spec = supervisor({
      children: [
        worker({ id: 'pad', module: MODULE }),
        listener({ id: 'web' }),
        supervisor({
          id: 'a',
          children: [supervisor({ id: 'b', children: [worker({ id: 'w', module: MODULE, listen: 'web' })] })],
        }),
      ],
    });
    expect(validateSpec(spec)).toEqual([]);
  });

  test("a listener among an ancestor's children, started after the branch: root.children[0].children[0].listen", () => {
    const spec = supervisor({
      children: [
        supervisor({ id: 'pool', children: [worker({ id: 'w', module: MODULE, listen: 'web' })] }),
        listener({ id: 'web' }),
      ],
    });
    expect(validateSpec(spec)).toEqual([
      problem(
        'root.children[0].children[0].listen',
        "listener 'web' must come before the supervisor that holds this worker",
      ),
    ]);
  });

  test('a listener of the root started after a two-level branch: root.children[0].children[1].children[0].listen', () => {
    const spec = supervisor({
      children: [
        supervisor({
          id: 'a',
          children: [
            worker({ id: 'pad', module: MODULE }),
            supervisor({ id: 'b', children: [worker({ id: 'w', module: MODULE, listen: 'web' })] }),
          ],
        }),
        listener({ id: 'web' }),
      ],
    });
    expect(validateSpec(spec)).toEqual([
      problem('root.children[0].children[1].children[0].listen', "listener 'web' must come before"),
    ]);
  });

  test("a dynamic pool's template may use a listener started after the pool: dynamic children start once the tree is up", () => {
    const spec = supervisor({
      children: [
        supervisor({
          id: 'jobs',
          strategy: 'simple_one_for_one',
          template: { id: 'job', module: MODULE, listen: 'web' },
        }),
        listener({ id: 'web' }),
      ],
    });
    expect(validateSpec(spec)).toEqual([]);
  });

  test('a listener inside a sibling supervisor is not visible: root.children[1].listen', () => {
    const spec = supervisor({
      children: [
        supervisor({ id: 'edge', children: [listener({ id: 'web' })] }),
        worker({ id: 'w', module: MODULE, listen: 'web' }),
      ],
    });
    expect(validateSpec(spec)).toEqual([problem('root.children[1].listen', "no listener 'web'")]);
  });

  test.each([-1, 70_000, 1.5])('port %s: root.children[0].port', (port) => {
    expect(validateSpec(supervisor({ children: [listener({ id: 'web', port })] }))).toEqual([
      problem('root.children[0].port', 'must be an integer from 0 to 65535'),
    ]);
  });

  test.each([0, 65_535])('port %s is allowed', (port) => {
    expect(validateSpec(supervisor({ children: [listener({ id: 'web', port })] }))).toEqual([]);
  });

  test('an unknown listener mode: root.children[0].mode', () => {
    const spec = supervisor({ children: [listener({ id: 'web', mode: bad('cluster') })] });
    expect(validateSpec(spec)).toEqual([
      problem('root.children[0].mode', "must be 'shared' or 'round_robin', got 'cluster'"),
    ]);
  });
});

describe('significant children and autoShutdown', () => {
  test("a significant child under autoShutdown 'never': root.autoShutdown", () => {
    const spec = supervisor({
      children: [worker({ id: 'w', module: MODULE, restart: 'transient', significant: true })],
    });
    expect(validateSpec(spec)).toEqual([problem('root.autoShutdown', 'has significant children')]);
  });

  test('a significant permanent child: root.children[0].significant', () => {
    const spec = supervisor({
      autoShutdown: 'any_significant',
      children: [worker({ id: 'w', module: MODULE, significant: true })],
    });
    expect(validateSpec(spec)).toEqual([
      problem('root.children[0].significant', 'a permanent child cannot be significant'),
    ]);
  });

  test("a simple_one_for_one with a significant template under autoShutdown 'never': root.autoShutdown", () => {
    const spec = supervisor({
      strategy: 'simple_one_for_one',
      template: { id: 'job', module: MODULE, restart: 'temporary', significant: true },
    });
    expect(validateSpec(spec)).toEqual([problem('root.autoShutdown', 'has significant children')]);
  });
});

describe('simple_one_for_one', () => {
  test('without a template: root.template', () => {
    expect(validateSpec(supervisor({ strategy: 'simple_one_for_one' }))).toEqual([
      problem('root.template', 'needs a worker template'),
    ]);
  });

  test('with static children: root.children', () => {
    const spec = supervisor({
      strategy: 'simple_one_for_one',
      template: { id: 'job', module: MODULE },
      children: [worker({ id: 'w', module: MODULE })],
    });
    expect(validateSpec(spec)).toEqual([problem('root.children', 'has no static children')]);
  });

  test('a template whose module does not exist: root.template.module', () => {
    const spec = supervisor({ strategy: 'simple_one_for_one', template: { id: 'job', module: 'missing.js' } });
    expect(validateSpec(spec)).toEqual([problem('root.template.module', 'module not found')]);
  });

  test('a template on another strategy: root.template', () => {
    expect(validateSpec(supervisor({ template: { id: 'job', module: MODULE } }))).toEqual([
      problem('root.template', 'only a simple_one_for_one supervisor'),
    ]);
  });

  test('a supervisor template (a subtree per dynamic child) is validated as a subtree, at root.template.…', () => {
    const room = (children: ReturnType<typeof worker>[]) =>
      supervisor({
        strategy: 'simple_one_for_one',
        template: supervisor({ id: 'room', children }),
      });
    expect(
      validateSpec(room([worker({ id: 'chat', module: MODULE }), worker({ id: 'presence', module: MODULE })])),
    ).toEqual([]);
    expect(
      validateSpec(
        room([worker({ id: 'chat', module: 'missing.js' }), worker({ id: 'chat', module: MODULE, shutdown: -1 })]),
      ),
    ).toEqual([
      problem('root.template.children[0].module', 'module not found'),
      problem('root.template.children[1].id', "duplicate id 'chat'"),
      problem('root.template.children[1].shutdown', 'must be'),
    ]);
  });

  test("a subtree template's workers may use an ancestor's listener started after the pool; inside the subtree, order counts", () => {
    const spec = (roomChildren: Array<ReturnType<typeof worker> | ReturnType<typeof listener>>) =>
      supervisor({
        children: [
          supervisor({
            id: 'rooms',
            strategy: 'simple_one_for_one',
            template: supervisor({ id: 'room', children: roomChildren }),
          }),
          listener({ id: 'web' }),
        ],
      });
    expect(validateSpec(spec([worker({ id: 'chat', module: MODULE, listen: 'web' })]))).toEqual([]);
    expect(
      validateSpec(spec([worker({ id: 'chat', module: MODULE, listen: 'own' }), listener({ id: 'own' })])),
    ).toEqual([problem('root.children[0].template.children[0].listen', "listener 'own' must come before this worker")]);
  });

  test('a listener as template: root.template.type', () => {
    const spec = supervisor({ strategy: 'simple_one_for_one', template: bad<WorkerSpec>(listener({ id: 'web' })) });
    expect(validateSpec(spec)).toEqual([problem('root.template.type', "must be 'worker', 'task' or 'supervisor'")]);
  });
});

describe('the root and nested paths', () => {
  test.each([
    ['a worker', worker({ id: 'w', module: MODULE })],
    ['null', null],
    ['a string', 'spec.js'],
  ])('a root that is %s, not a supervisor: root', (_, spec) => {
    expect(validateSpec(spec)).toEqual([problem('root', 'the root must be a supervisor spec')]);
  });

  test('a bad field deep in the tree is named by its whole path: root.children[1].children[0].module', () => {
    const spec = supervisor({
      children: [
        worker({ id: 'a', module: MODULE }),
        supervisor({ id: 'pool', children: [worker({ id: 'w', module: 'gone.js' })] }),
      ],
    });
    expect(validateSpec(spec)).toEqual([problem('root.children[1].children[0].module', 'module not found')]);
  });

  test('every problem is reported, not only the first', () => {
    const spec = supervisor({
      intensity: -1,
      children: [
        worker({ id: 'a', module: 'gone.js' }),
        supervisor({ id: 'pool', strategy: bad('fast'), children: [listener({ id: 'web', port: 70_000 })] }),
        worker({ id: 'a', module: MODULE, shutdown: -5 }),
      ],
    });
    expect(validateSpec(spec).map((p) => p.path)).toEqual([
      'root.intensity',
      'root.children[0].module',
      'root.children[1].strategy',
      'root.children[1].children[0].port',
      'root.children[2].id',
      'root.children[2].shutdown',
    ]);
  });
});

describe('start(spec) refuses a bad spec before forking anything', () => {
  afterEach(() => {
    forks.modules.length = 0;
  });

  test('start() of a spec whose third child has a bad shutdown rejects with SpecError, and no worker was forked', async () => {
    const { start } = await import('../../src/index.js');
    const spec = supervisor({
      children: [
        worker({ id: 'a', module: MODULE }),
        worker({ id: 'b', module: MODULE }),
        worker({ id: 'c', module: MODULE, shutdown: -1 }),
      ],
    });
    const error: unknown = await start(spec, { logger: false }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(SpecError);
    expect((error as SpecError).problems).toEqual([problem('root.children[2].shutdown', 'a timeout in ms')]);
    expect((error as SpecError).message).toContain('root.children[2].shutdown');
    expect(forks.modules).toEqual([]);
  });

  test('control: start() of a valid spec does reach fork(), so the check above can see a fork', async () => {
    const { start } = await import('../../src/index.js');
    const spec = supervisor({ intensity: 0, children: [worker({ id: 'a', module: MODULE })] });
    await expect(start(spec, { logger: false })).rejects.toThrow();
    expect(forks.modules).toEqual([MODULE]);
  });
});

describe('typos, deep or cyclic specs, and numbers as written', () => {
  test("a misspelt field is rejected with a guess: startTimout → did you mean 'startTimeout'?", () => {
    const spec = supervisor({ children: [worker({ id: 'w', module: MODULE, ...bad<object>({ startTimout: 100 }) })] });
    expect(validateSpec(spec)).toEqual([
      problem('root.children[0].startTimout', "unknown field; did you mean 'startTimeout'?"),
    ]);
  });

  test('hearbeat on a worker, intervall in a heartbeat, Strategy on a supervisor, prot on a listener', () => {
    const spec = supervisor({
      ...bad<object>({ Strategy: 'one_for_all' }),
      children: [
        listener({ id: 'l', ...bad<object>({ prot: 80 }) }),
        worker({ id: 'w', module: MODULE, ...bad<object>({ hearbeat: { interval: 1, timeout: 1 } }) }),
        worker({ id: 'h', module: MODULE, heartbeat: bad({ intervall: 10, timeout: 10 }) }),
      ],
    });
    expect(validateSpec(spec)).toEqual([
      problem('root.Strategy', "did you mean 'strategy'?"),
      problem('root.children[0].prot', "did you mean 'port'?"),
      problem('root.children[1].hearbeat', "did you mean 'heartbeat'?"),
      problem('root.children[2].heartbeat.intervall', "did you mean 'interval'?"),
      problem('root.children[2].heartbeat', 'must be { interval, timeout }'),
    ]);
  });

  test('a field nothing resembles lists the known ones', () => {
    const spec = supervisor({ children: [worker({ id: 'w', module: MODULE, ...bad<object>({ colour: 'red' }) })] });
    expect(validateSpec(spec)).toEqual([
      problem('root.children[0].colour', /unknown field \(known: id, restart, .*module/),
    ]);
  });

  test('a spec nested 20,000 deep reports its depth at a shortened path, not a stack overflow', () => {
    let spec = supervisor({ id: 'leaf' });
    for (let i = 0; i < 20_000; i++) spec = supervisor({ id: `s${i}`, children: [spec] });
    const problems = validateSpec(spec);
    expect(problems).toEqual([
      problem(
        'root.children[0].children[0].children[0].….children[0].children[0].children[0]',
        'nested deeper than 100 levels',
      ),
    ]);
  });

  test('a spec that contains itself reports the cycle with its path', () => {
    const inner = supervisor({ id: 'inner' });
    const spec = supervisor({ children: [supervisor({ id: 'mid', children: [inner] })] });
    inner.children.push(spec);
    expect(validateSpec(spec)).toEqual([
      problem(
        'root.children[0].children[0].children[0]',
        'the spec contains itself: this is the same object as its ancestor root',
      ),
    ]);
  });

  test.each([
    [Infinity, 'got Infinity'],
    [Number.NaN, 'got NaN'],
    [-Infinity, 'got -Infinity'],
    [10n, 'got 10n'],
  ])('startTimeout %s is reported as written (%s), not as null', (value, text) => {
    const spec = supervisor({ children: [worker({ id: 'w', module: MODULE, startTimeout: bad(value) })] });
    expect(validateSpec(spec)).toEqual([problem('root.children[0].startTimeout', text)]);
  });

  test('a cyclic value in a field is shown with its cycle marked, without throwing', () => {
    const env: Record<string, unknown> = {};
    env.self = env;
    const spec = supervisor({ children: [worker({ id: 'w', module: MODULE, heartbeat: bad(env) })] });
    expect(validateSpec(spec)).toContainEqual(
      problem('root.children[0].heartbeat', 'got <ref *1> { self: [Circular *1] }'),
    );
  });

  test('Infinity inside an object stays Infinity', () => {
    const spec = supervisor({
      children: [worker({ id: 'w', module: MODULE, heartbeat: bad({ interval: Infinity, timeout: 10 }) })],
    });
    expect(validateSpec(spec)).toEqual([
      problem('root.children[0].heartbeat', 'got { interval: Infinity, timeout: 10 }'),
    ]);
  });
});

describe('standby', () => {
  test("true, 'warm', 'hot' and { mode, count } are valid", () => {
    for (const standby of [true, false, 'warm', 'hot', { mode: 'hot', count: 8 }, { mode: 'warm' }] as const) {
      expect(validateSpec(supervisor({ children: [worker({ id: 'w', module: MODULE, standby })] }))).toEqual([]);
    }
  });

  test('an unknown mode, a count that is not a positive integer up to 256, or an unknown field: reported', () => {
    for (const standby of [
      'cold',
      { mode: 'hot', count: 0 },
      { mode: 'hot', count: 1.5 },
      { mode: 'hot', count: 257 },
      { mode: 'hot', cout: 2 },
      { count: 2 },
    ]) {
      const spec = supervisor({ children: [worker({ id: 'w', module: MODULE, standby: bad(standby) })] });
      expect(validateSpec(spec)).toEqual([
        problem('root.children[0].standby', "must be true, false, 'warm', 'hot' or { mode"),
      ]);
    }
  });
});

describe('backoff', () => {
  test('on a worker, a listener or a nested supervisor, with or without the optional fields: valid', () => {
    const backoff = { min: 100, max: 5000 };
    const spec = supervisor({
      children: [
        listener({ id: 'l', backoff }),
        worker({ id: 'w', module: MODULE, backoff: { ...backoff, factor: 1.5, jitter: 0.3, resetAfter: 60_000 } }),
        supervisor({ id: 's', backoff, children: [] }),
      ],
    });
    expect(validateSpec(spec)).toEqual([]);
  });

  test('bad numbers, max below min, an unknown field: each reported with its path', () => {
    const spec = supervisor({
      children: [
        worker({
          id: 'w',
          module: MODULE,
          backoff: bad({ min: -1, max: 10, factor: 0.5, jitter: 2, resetAfter: 1.5, mx: 3 }),
        }),
      ],
    });
    expect(validateSpec(spec)).toEqual(
      expect.arrayContaining([
        problem('root.children[0].backoff.mx', "did you mean 'max'"),
        problem('root.children[0].backoff.min', 'must be an integer >= 0'),
        problem('root.children[0].backoff.factor', 'from 1 to 100'),
        problem('root.children[0].backoff.jitter', 'from 0 to 1'),
        problem('root.children[0].backoff.resetAfter', 'must be an integer >= 0'),
      ]),
    );
    const low = supervisor({ children: [worker({ id: 'w', module: MODULE, backoff: { min: 500, max: 100 } })] });
    expect(validateSpec(low)).toEqual([problem('root.children[0].backoff.max', 'must be >= min (500)')]);
  });

  test('on the root: reported (nothing restarts the root)', () => {
    expect(validateSpec(supervisor({ backoff: { min: 1, max: 2 } }))).toEqual([
      problem('root.backoff', 'never restarted'),
    ]);
  });
});
