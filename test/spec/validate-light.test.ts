// Validation of the light kinds of child: tasks and threads. Bad input is a SpecError naming the path of the bad
// field, and nothing is started: no task runs, no thread is created.
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';
import {
  SpecError,
  start,
  supervisor,
  task,
  worker,
  type ChildSpec,
  type SupervisorSpec,
  type TaskSpec,
} from '../../src/index.js';
import { validateSpec } from '../../src/supervisor/validate.js';

const MODULE = fileURLToPath(import.meta.url);
const bad = <T = ChildSpec>(value: unknown): T => value as T;

/** Starts `spec` expecting a SpecError; returns its problems, and checks that no task ran. */
async function refused(spec: SupervisorSpec, ran: { count: number }) {
  const error = await start(spec, { logger: false }).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(SpecError);
  expect(ran.count).toBe(0);
  return (error as SpecError).problems;
}

describe('tasks', () => {
  test('a valid task, a dynamic task template and a thread: no problems', () => {
    expect(
      validateSpec(
        supervisor({
          children: [
            task({ id: 't', run: async () => {} }),
            supervisor({
              id: 'pool',
              strategy: 'simple_one_for_one',
              template: task({ id: 's', restart: 'temporary', run: async () => {} }),
            }),
            worker({
              id: 'th',
              kind: 'thread',
              module: MODULE,
              resourceLimits: { maxOldGenerationSizeMb: 32 },
              heartbeat: { interval: 100, timeout: 500 },
            }),
          ],
        }),
      ),
    ).toEqual([]);
  });

  test('run not a function, a task with listen, an unknown host, a task template without run: errors with paths, nothing started', async () => {
    const ran = { count: 0 };
    const good = task({ id: 'good', run: async () => void ran.count++ });
    const problems = await refused(
      supervisor({
        children: [
          good,
          bad(task({ id: 'a', run: bad<TaskSpec['run']>('index.js') })),
          bad({ ...task({ id: 'b', run: async () => {} }), listen: 'web' }),
          bad(task({ id: 'c', run: async () => {}, host: bad<'inline'>('elsewhere') })),
          supervisor({
            id: 'pool',
            strategy: 'simple_one_for_one',
            template: bad({ ...task({ id: 's', run: async () => {} }), run: undefined }),
          }),
        ],
      }),
      ran,
    );
    expect(problems).toEqual([
      { path: 'root.children[1].run', message: expect.stringContaining('must be a function') },
      { path: 'root.children[2].listen', message: expect.stringContaining('a task cannot listen') },
      {
        path: 'root.children[3].host',
        message: expect.stringContaining(
          "must be 'inline' or a host pool declared in the root's hosts (none declared), got 'elsewhere'",
        ),
      },
      { path: 'root.children[4].template.run', message: expect.stringContaining('must be a function') },
    ]);
  });

  test('an unknown child type names the kinds there are', () => {
    expect(validateSpec(supervisor({ children: [bad({ type: 'fiber', id: 'x' })] }))).toEqual([
      { path: 'root.children[0].type', message: "must be 'worker', 'task', 'listener' or 'supervisor', got 'fiber'" },
    ]);
  });
});

describe('threads', () => {
  test('an unknown kind, resourceLimits on a process, listen/cwd/standby/maxMemory on a thread: each explained', () => {
    const problems = validateSpec(
      supervisor({
        children: [
          bad(worker({ id: 'a', module: MODULE, kind: bad('fiber') })),
          worker({ id: 'b', module: MODULE, resourceLimits: { maxOldGenerationSizeMb: 64 } }),
          bad(
            worker({ id: 'c', module: MODULE, kind: 'thread', listen: 'web', cwd: '/', standby: true, maxMemory: 1e8 }),
          ),
          worker({
            id: 'd',
            module: MODULE,
            kind: 'thread',
            resourceLimits: bad({ maxOldGenerationSizeMb: -1, heap: 3 }),
          }),
        ],
      }),
    );
    expect(problems).toEqual([
      { path: 'root.children[0].kind', message: "must be 'process' or 'thread', got 'fiber'" },
      {
        path: 'root.children[1].resourceLimits',
        message: expect.stringContaining('only a thread takes resourceLimits'),
      },
      {
        path: 'root.children[2].listen',
        message: expect.stringContaining('server handles and sockets cannot be transferred to a thread'),
      },
      { path: 'root.children[2].cwd', message: expect.stringContaining('shares its process') },
      { path: 'root.children[2].standby', message: expect.stringContaining('standby spares are for process workers') },
      { path: 'root.children[2].maxMemory', message: expect.stringContaining('resourceLimits') },
      { path: 'root.children[3].resourceLimits.heap', message: expect.stringContaining('unknown field') },
      {
        path: 'root.children[3].resourceLimits.maxOldGenerationSizeMb',
        message: 'must be an integer > 0 (MB), got -1',
      },
    ]);
  });
});
