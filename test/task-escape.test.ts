// Errors that escape a task (a throw in a callback it set up, a floating rejected promise) are that task's exit,
// `{ error, escaped: true }`: never its host's, never a sibling's. An escape no task owns is the host's failure.
import { spawn } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import { start, supervisor, task, type TaskContext, type Tree, type TreeEvent } from '../src/index.js';
import { fixture, recorder, type Recorder } from './support/tree.js';

const running: Array<{ tree: Tree; rec: Recorder }> = [];
afterEach(async () => {
  for (const { tree } of running.splice(0)) await tree.stop({ brutal: true }).catch(() => undefined);
});

async function run(children: ReturnType<typeof task>[]) {
  const rec = recorder();
  const tree = await start(supervisor({ intensity: 10, children }), { logger: rec.logger });
  running.push({ tree, rec });
  return { tree, rec };
}

const exited = (child: string) => (e: TreeEvent) => e.event === 'child_exited' && e.child === child;
const started = (child: string) => (e: TreeEvent) => e.event === 'child_started' && e.child === child;

/** A task that waits for its stop, answering `whoami` with a token of its incarnation. */
const quiet = (id: string) =>
  task({
    id,
    run: ({ signal, onMessage }: TaskContext) => {
      const token = Math.random();
      onMessage(() => token);
      return new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
    },
  });

/** A task that runs `misbehave` (in its own context) when cast `go`, then waits for its stop. */
const culprit = (id: string, misbehave: () => void) =>
  task({
    id,
    restart: 'transient',
    run: ({ signal, onMessage }: TaskContext) => {
      onMessage(() => misbehave());
      return new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
    },
  });

describe('escaped errors are attributed to the task they came from', () => {
  const escapes: Array<[string, () => void]> = [
    [
      'a throw in a timer callback',
      () =>
        void setTimeout(() => {
          throw new Error('boom in a timer');
        }, 5),
    ],
    ['a floating rejected promise', () => void Promise.reject(new Error('boom in a promise'))],
    [
      'a throw in an emitter callback',
      () => {
        const emitter = new EventEmitter();
        emitter.on('tick', () => {
          throw new Error('boom in an emitter');
        });
        setImmediate(() => emitter.emit('tick'));
      },
    ],
    [
      'a rejection deep in an async chain',
      () => {
        const later = async () => {
          await new Promise((r) => setTimeout(r, 5));
          throw new Error('boom deep down');
        };
        void (async () => later())();
      },
    ],
  ];

  it.each(escapes)(
    '%s ends that task with { error, escaped: true }; the sibling and the host live on',
    async (_what, misbehave) => {
      const hostSaw: unknown[] = [];
      const hostListener = (error: unknown) => hostSaw.push(error);
      // The host's own handlers (a service's `log and exit`) must never hear of a task's escape.
      process.on('uncaughtException', hostListener);
      process.on('unhandledRejection', hostListener);
      try {
        const { tree, rec } = await run([quiet('sibling'), culprit('culprit', misbehave)]);
        const sibling = await tree.call('root/sibling', 'whoami');
        const back = rec.next(started('culprit'), 'culprit restarted');
        tree.cast('root/culprit', 'go');
        const exit = await rec.waitFor(exited('culprit'), 'culprit exit');
        expect(exit).toMatchObject({
          reason: { error: expect.stringContaining('boom'), escaped: true },
          action: 'restart',
        });
        await back;
        expect(await tree.call('root/sibling', 'whoami')).toBe(sibling);
        expect(rec.of('child_exited').map((e) => e.child)).toEqual(['culprit']);
        expect(hostSaw).toEqual([]);
      } finally {
        process.off('uncaughtException', hostListener);
        process.off('unhandledRejection', hostListener);
      }
    },
  );

  it("a callback on an object the host created is the task's once bound with bind()", async () => {
    // Created outside any task, as a socket the host's server accepted: its callbacks run in the host's context.
    const hostEmitter = new EventEmitter();
    const { rec } = await run([
      quiet('peer'),
      task({
        id: 'reader',
        restart: 'transient',
        run: ({ bind, signal }: TaskContext) =>
          new Promise<void>((resolve) => {
            hostEmitter.on(
              'line',
              bind((line: string) => {
                if (line === 'crash') throw new Error('boom on a host object');
              }),
            );
            signal.addEventListener('abort', () => resolve(), { once: true });
          }),
      }),
    ]);
    hostEmitter.emit('line', 'fine');
    setImmediate(() => hostEmitter.emit('line', 'crash'));
    expect(await rec.waitFor(exited('reader'), 'reader exit')).toMatchObject({
      reason: { error: 'boom on a host object', escaped: true },
    });
    hostEmitter.removeAllListeners();
  });

  it('among three sibling tasks, only the one whose callback threw exits', async () => {
    const { tree, rec } = await run([
      quiet('a'),
      culprit(
        'b',
        () =>
          void setImmediate(() => {
            throw new Error('boom from b');
          }),
      ),
      quiet('c'),
    ]);
    tree.cast('root/b', 'go');
    expect(await rec.waitFor(exited('b'), 'b exit')).toMatchObject({ reason: { escaped: true } });
    expect(rec.of('child_exited')).toHaveLength(1);
  });

  it('an escape from a task already ended is logged, not blamed on anyone', async () => {
    const { tree, rec } = await run([
      task({
        id: 'gone',
        restart: 'temporary',
        run: async () => {
          setTimeout(() => {
            throw new Error('boom after the end');
          }, 20);
        },
      }),
      quiet('peer'),
    ]);
    await rec.waitFor(exited('gone'), 'gone exit');
    await rec.waitFor((e) => (e as { event: string }).event === 'task_escape_after_exit', 'escape after exit logged');
    expect(rec.of('child_exited')).toMatchObject([{ child: 'gone', reason: 'normal' }]);
    expect(tree.whichChildren().map((c) => c.id)).toEqual(['peer']);
  });

  it('chaos: a `throw` fault escapes the task, an `exit` fault crashes it; a `hang` is refused (it would hang the host)', async () => {
    const before = process.env.ARBOR_CHAOS;
    process.env.ARBOR_CHAOS = '1';
    try {
      const { tree, rec } = await run([quiet('t')]);
      let back = rec.next(started('t'), 't restarted');
      expect(tree.injectFault('root/t', 'throw')).toEqual({ path: 'root/t', pid: undefined, fault: 'throw' });
      expect(await rec.waitFor(exited('t'), 't exit')).toMatchObject({
        reason: { error: 'arbor chaos: injected uncaught exception', escaped: true },
      });
      await back;
      back = rec.next(started('t'), 't restarted again');
      tree.injectFault('root/t', 'exit');
      expect(await rec.next(exited('t'), 't exit')).toMatchObject({ reason: { error: 'arbor chaos: injected exit' } });
      await back;
      expect(() => tree.injectFault('root/t', 'hang')).toThrow(/supervisor's process/);
    } finally {
      if (before === undefined) delete process.env.ARBOR_CHAOS;
      else process.env.ARBOR_CHAOS = before;
    }
  });
});

describe('an escape that no task owns is the host failing', () => {
  it('the host process reports it as its own and exits 1, as node would', async () => {
    const child = spawn(process.execPath, [fixture('task-host-escape.mjs')], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (chunk) => (out += String(chunk)));
    child.stderr.on('data', (chunk) => (err += String(chunk)));
    const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
    expect(out).toContain('task running');
    expect(err).toContain('no task owns');
    expect(err).toContain('boom outside any task');
    expect(code).toBe(1);
  });
});
