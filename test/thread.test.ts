// Thread children (`worker({ kind: 'thread' })`): a throw, process.exit, heap OOM or a busy loop ends only the thread,
// which its supervisor restarts; the supervisor's own process and the sibling threads go on. Real threads.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, openSync, closeSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  start,
  supervisor,
  worker,
  type SupervisorSpec,
  type Tree,
  type TreeEvent,
  type WorkerOptions,
} from '../src/index.js';
import { liveThreads } from '../src/thread/handle.js';
import { eventually, fixture, recorder, type Recorder } from './support/tree.js';

const running: Array<{ tree: Tree; rec: Recorder }> = [];
const cleanups: Array<() => void> = [];
afterEach(async () => {
  for (const { tree } of running.splice(0)) await tree.stop({ brutal: true }).catch(() => undefined);
  for (const cleanup of cleanups.splice(0)) cleanup();
  await eventually(() => liveThreads() === 0, 'every thread gone');
});

async function run(spec: SupervisorSpec) {
  const rec = recorder();
  const tree = await start(spec, { logger: rec.logger });
  running.push({ tree, rec });
  return { tree, rec };
}

const thread = (id: string, extra: Partial<WorkerOptions> = {}) =>
  worker({ id, kind: 'thread', module: fixture('thread-faults.mjs'), ...extra });
/** A thread of this process waits in open() of a FIFO for a writer: its kernel wait channel says so. */
const blockedInFifoOpen = (): boolean =>
  readdirSync('/proc/self/task').some((task) => {
    try {
      return readFileSync(`/proc/self/task/${task}/wchan`, 'utf8') === 'wait_for_partner';
    } catch {
      return false; // ended meanwhile
    }
  });
const exited = (child: string) => (e: TreeEvent) => e.event === 'child_exited' && e.child === child;
const started = (child: string) => (e: TreeEvent) => e.event === 'child_started' && e.child === child;

describe('a failing thread ends alone and is restarted', () => {
  it.each([
    ['process.exit(3)', 'exit3', {}, { code: 3 }],
    [
      'heap OOM over resourceLimits',
      'oom',
      { resourceLimits: { maxOldGenerationSizeMb: 16 } },
      { memory: 16 * 1024 * 1024 },
    ],
    [
      'a busy loop (heartbeat missed)',
      'spin',
      { heartbeat: { interval: 100, timeout: 500 } },
      { hung: expect.any(Number) },
    ],
  ] as const)('%s', async (_what, fault, extra, reason) => {
    const { tree, rec } = await run(supervisor({ intensity: 3, children: [thread('victim', extra), thread('peer')] }));
    const peer = await tree.call('root/peer', 'whoami');
    const back = rec.next(started('victim'), 'victim restarted');
    tree.cast('root/victim', fault);
    expect(await rec.waitFor(exited('victim'), 'victim exit')).toMatchObject({ reason, action: 'restart' });
    await back;
    // The supervisor's process was never blocked nor killed, and the sibling thread is the same one.
    expect(await tree.call('root/peer', 'whoami')).toBe(peer);
    expect(tree.whichChildren()).toMatchObject([
      { id: 'victim', type: 'worker', kind: 'thread', restarts: 1, pid: undefined },
      { id: 'peer', restarts: 0 },
    ]);
  });

  it('a thread that throws while loading fails to start, with the error as the reason', async () => {
    const error = await start(supervisor({ children: [thread('broken', { env: { THROW_AT_START: '1' } })] }), {
      logger: false,
    }).catch((e: Error) => e);
    expect(String(error)).toContain('broken at load');
  });
});

describe('messages over the MessagePort', () => {
  it('call, cast and send work as with a process worker', async () => {
    const { tree, rec } = await run(supervisor({ children: [thread('t')] }));
    const id = await tree.call('root/t', 'whoami');
    expect(typeof id).toBe('number');
    expect(await tree.call('root/t', 'send')).toBe(true);
    expect(await rec.waitFor((e) => e.event === 'worker_message', 'worker_message')).toMatchObject({
      path: 'root/t',
      message: { hello: id },
    });
  });

  it("a thread's output is read line by line into the tree's log, never written raw to the supervisor's stdout", async () => {
    const { tree, rec } = await run(supervisor({ children: [thread('t')] }));
    await tree.call('root/t', 'print');
    const out = await rec.waitFor(
      (e) =>
        (e as { event: string; line?: string }).event === 'output' &&
        (e as { line?: string }).line === 'hello from a thread',
      'stdout line',
    );
    expect(out).toMatchObject({ path: 'root/t', stream: 'stdout' });
    expect(
      await rec.waitFor((e) => (e as { line?: string }).line === 'a warning from a thread', 'stderr line'),
    ).toMatchObject({ path: 'root/t', stream: 'stderr' });
    const lines: string[] = [];
    for await (const line of tree.logs('root/t', { follow: false })) if (line.line !== undefined) lines.push(line.line);
    expect(lines).toEqual(['hello from a thread', 'a warning from a thread']);
  });

  it('chaos faults reach the thread (exit), and sigterm-self never hits the host', async () => {
    const { tree, rec } = await run(
      supervisor({ intensity: 3, children: [thread('t', { env: { ARBOR_CHAOS: '1' } })] }),
    );
    expect(tree.injectFault('root/t', 'sigterm-self')).toMatchObject({ path: 'root/t', pid: undefined });
    expect(typeof (await tree.call('root/t', 'whoami'))).toBe('number');
    tree.injectFault('root/t', 'exit');
    expect(await rec.waitFor(exited('t'), 't exit')).toMatchObject({ reason: { code: 1 }, action: 'restart' });
  });
});

describe('a thread that terminate() cannot end', () => {
  it('is reported to its host as stuck and given up as { host_down }', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'arbor-thread-'));
    const fifo = join(dir, 'fifo');
    execFileSync('mkfifo', [fifo]);
    // Unblocks the thread's open() afterwards, so that it ends and nothing is left running.
    cleanups.push(() => {
      closeSync(openSync(fifo, 'w'));
      rmSync(dir, { recursive: true, force: true });
    });
    const { tree, rec } = await run(
      supervisor({ children: [thread('stuck', { env: { FIFO: fifo }, shutdown: 'brutal_kill' })] }),
    );
    tree.cast('root/stuck', 'block');
    await eventually(blockedInFifoOpen, 'the thread blocked in open()');
    await tree.terminateChild('root', 'stuck');
    expect(rec.of('child_terminated')).toMatchObject([
      { child: 'stuck', reason: { host_down: expect.stringContaining('did not end within') } },
    ]);
    await rec.waitFor((e) => (e as { event: string }).event === 'thread_unkillable', 'thread_unkillable logged');
  });
});
