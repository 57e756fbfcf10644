// The parent side of a worker on real forked processes: the ready handshake, start failures, exit reasons,
// termination by shutdown value, heartbeats, and no worker outliving its supervisor.
import { spawn } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterEach, describe, expect, it, onTestFinished } from 'vitest';
import type { ListenerLink } from '../src/child.js';
import type { ExitReason } from '../src/types.js';
import { exitReasonOf } from '../src/worker/exit-reason.js';
import {
  eventually,
  isAlive,
  newWorker,
  reapAll,
  signalZero,
  startFailureOf,
  startWorker,
  track,
  workerFixture,
} from './support/worker.js';

afterEach(reapAll);

describe('start', () => {
  it('a worker is started when it sends ready; its pid is a live process', async () => {
    const { handle } = await startWorker('ready.mjs');
    expect(handle.pid).toEqual(expect.any(Number));
    expect(isAlive(handle.pid!)).toBe(true);
    expect(await handle.terminate()).toBe('shutdown');
    expect(signalZero(handle.pid)).toBe('ESRCH');
  });

  it('a worker that never sends ready fails with { startFailed: "timeout" } and is killed before the rejection', async () => {
    const { handle } = newWorker('never-ready.mjs', { startTimeout: 300 });
    expect(await startFailureOf(handle.start())).toEqual({ startFailed: 'timeout' });
    expect(signalZero(handle.pid)).toBe('ESRCH');
  });

  it('a worker that throws before ready fails with the reported error message, and is reaped', async () => {
    const { handle } = newWorker('crash-before-ready.mjs', { env: { FIXTURE_MESSAGE: 'no config' } });
    expect(await startFailureOf(handle.start())).toEqual({ startFailed: 'no config' });
    expect(signalZero(handle.pid)).toBe('ESRCH');
  });

  it('a worker killed before ready fails with the signal', async () => {
    const { handle } = newWorker('never-ready.mjs');
    const starting = handle.start();
    await eventually(() => handle.pid !== undefined, 'the fork');
    process.kill(handle.pid!, 'SIGKILL');
    expect(await startFailureOf(starting)).toEqual({ startFailed: 'killed by SIGKILL' });
  });

  it('a module that does not exist fails without forking', async () => {
    const { handle } = newWorker('no-such-module.mjs');
    expect(await startFailureOf(handle.start())).toEqual({
      startFailed: `module not found: ${workerFixture('no-such-module.mjs')}`,
    });
    expect(handle.pid).toBeUndefined();
  });

  it('a cwd that does not exist fails without forking', async () => {
    const { handle } = newWorker('ready.mjs', { cwd: '/no/such/dir' });
    expect(await startFailureOf(handle.start())).toEqual({ startFailed: 'cwd not found: /no/such/dir' });
    expect(handle.pid).toBeUndefined();
  });

  it('a worker serving a listener that is not running fails without forking', async () => {
    const { handle } = newWorker('http-echo.mjs', { listen: 'web' });
    expect(await startFailureOf(handle.start())).toEqual({ startFailed: 'listener web is not running' });
    expect(handle.pid).toBeUndefined();
  });

  it('start() twice is one start', async () => {
    const { handle } = newWorker('ready.mjs');
    expect(handle.start()).toBe(handle.start());
    await handle.start();
  });
});

describe('exit reasons of a started worker (onExit, exactly once)', () => {
  const cases: Array<[string, string, Record<string, string>, (reason: ExitReason) => void]> = [
    ['exit code 0 → normal', 'ready.mjs', { FIXTURE_EXIT_AFTER_MS: '20' }, (r) => expect(r).toBe('normal')],
    ['exit code n → { code: n }', 'exit-code.mjs', { FIXTURE_EXIT_CODE: '3' }, (r) => expect(r).toEqual({ code: 3 })],
    [
      'uncaught exception → { error, stack }',
      'throw-after-ready.mjs',
      { FIXTURE_MESSAGE: 'boom' },
      (r) => {
        expect(r).toEqual({ error: 'boom', stack: expect.stringContaining('Error: boom') });
        expect((r as { stack: string }).stack).toContain('throw-after-ready.mjs');
      },
    ],
    [
      'unhandled rejection → { error, stack }',
      'throw-after-ready.mjs',
      { FIXTURE_MESSAGE: 'rejected', FIXTURE_REJECT: '1' },
      (r) => expect(r).toEqual({ error: 'rejected', stack: expect.stringContaining('Error: rejected') }),
    ],
    [
      'shutdown(detail) → { shutdown: detail }',
      'self-shutdown.mjs',
      { FIXTURE_DETAIL: '{"job":42}' },
      (r) => expect(r).toEqual({ shutdown: { job: 42 } }),
    ],
  ];

  it.each(cases)('%s', async (_title, fixtureName, env, check) => {
    const { handle, exits, exited } = newWorker(fixtureName, { env });
    await handle.start();
    const reason = await exited;
    check(reason);
    expect(signalZero(handle.pid)).toBe('ESRCH');
    // A terminate after the fact reports the same exit and calls nobody.
    expect(await handle.terminate()).toEqual(reason);
    expect(exits).toHaveLength(1);
  });

  it('killed by a signal → { signal }', async () => {
    const { handle, exits, exited } = await startWorker('ready.mjs');
    process.kill(handle.pid!, 'SIGKILL');
    expect(await exited).toEqual({ signal: 'SIGKILL' });
    expect(exits).toHaveLength(1);
  });
});

describe('exitReasonOf: what the worker reported wins over how it died, unless it was killed for its health', () => {
  const died = (code: number | null, signal: NodeJS.Signals | null = null) => ({ code, signal });
  it.each([
    ['exit 0', died(0), {}, undefined, false, 'normal'],
    ['exit 2', died(2), {}, undefined, false, { code: 2 }],
    ['SIGTERM, not asked', died(null, 'SIGTERM'), {}, undefined, false, { signal: 'SIGTERM' }],
    ['SIGTERM, asked', died(null, 'SIGTERM'), {}, undefined, true, 'shutdown'],
    ['exit 0, asked', died(0), {}, undefined, true, 'shutdown'],
    ['SIGKILL, asked', died(null, 'SIGKILL'), {}, undefined, true, { signal: 'SIGKILL' }],
    ['reported error, exit 1', died(1), { error: { message: 'x' } }, undefined, false, { error: 'x' }],
    ['reported shutdown, exit 0', died(0), { selfShutdown: { detail: 7 } }, undefined, true, { shutdown: 7 }],
    [
      'reported shutdown without detail, exit 0',
      died(0),
      { selfShutdown: { detail: undefined } },
      undefined,
      false,
      'shutdown',
    ],
    [
      'reported shutdown, then SIGKILL (forged last words)',
      died(null, 'SIGKILL'),
      { selfShutdown: { detail: 7 } },
      undefined,
      false,
      { signal: 'SIGKILL' },
    ],
    ['reported shutdown, exit 3', died(3), { selfShutdown: { detail: 7 } }, undefined, false, { code: 3 }],
    ['reported error, exit 0', died(0), { error: { message: 'x' } }, undefined, false, 'normal'],
    [
      'reported error, then SIGKILL',
      died(null, 'SIGKILL'),
      { error: { message: 'x' } },
      undefined,
      false,
      { signal: 'SIGKILL' },
    ],
    ['killed as hung', died(null, 'SIGKILL'), { error: { message: 'x' } }, { hung: 500 }, false, { hung: 500 }],
  ] as const)('%s', (_title, exit, lastWords, killCause, asked, expected) => {
    expect(exitReasonOf(exit, lastWords, killCause, asked)).toEqual(expected);
  });
});

describe('terminate', () => {
  it('a cooperative worker asked to stop runs its shutdown hooks and exits: shutdown, no onExit', async () => {
    const traceDir = await mkdtemp(join(tmpdir(), 'arbor-worker-'));
    onTestFinished(() => rmSync(traceDir, { recursive: true, force: true }));
    const traceFile = join(traceDir, 'trace.jsonl');
    const { handle, exits } = await startWorker('ready.mjs', {
      shutdown: 5000,
      env: { FIXTURE_TRACE_FILE: traceFile },
    });
    const began = Date.now();
    expect(await handle.terminate()).toBe('shutdown');
    expect(Date.now() - began).toBeLessThan(5000);
    const trace = readFileSync(traceFile, 'utf8')
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line).event);
    expect(trace).toEqual(['ready', 'stopping']);
    expect(exits).toEqual([]);
    expect(signalZero(handle.pid)).toBe('ESRCH');
  });

  it('a worker that ignores the request is SIGKILLed after the shutdown timeout', async () => {
    const { handle, exits } = await startWorker('ignore-sigterm.mjs', { shutdown: 300 });
    const began = Date.now();
    expect(await handle.terminate()).toEqual({ signal: 'SIGKILL' });
    expect(Date.now() - began).toBeGreaterThanOrEqual(290);
    expect(signalZero(handle.pid)).toBe('ESRCH');
    expect(exits).toEqual([]);
  });

  it('brutal_kill does not ask: SIGKILL at once', async () => {
    const { handle } = await startWorker('ignore-sigterm.mjs', { shutdown: 'brutal_kill' });
    expect(await handle.terminate()).toEqual({ signal: 'SIGKILL' });
    expect(signalZero(handle.pid)).toBe('ESRCH');
  });

  it('infinity asks and waits for the worker to finish', async () => {
    const { handle } = await startWorker('ready.mjs', { shutdown: 'infinity' });
    expect(await handle.terminate()).toBe('shutdown');
  });

  it('kill() is SIGKILL now, whatever the shutdown value', async () => {
    const { handle, exits } = await startWorker('ready.mjs', { shutdown: 'infinity' });
    expect(await handle.kill()).toEqual({ signal: 'SIGKILL' });
    expect(signalZero(handle.pid)).toBe('ESRCH');
    expect(exits).toEqual([]);
  });

  it('is idempotent: a second call returns the same promise', async () => {
    const { handle } = await startWorker('ready.mjs');
    const first = handle.terminate();
    expect(handle.terminate()).toBe(first);
    expect(await first).toBe('shutdown');
  });

  it('during start: the start fails, and nothing is left alive', async () => {
    const { handle } = newWorker('never-ready.mjs');
    const starting = handle.start();
    await eventually(() => handle.pid !== undefined, 'the fork');
    const stopped = handle.terminate();
    expect(await startFailureOf(starting)).toEqual({ startFailed: 'terminated before ready' });
    expect(await stopped).toBe('shutdown');
    expect(signalZero(handle.pid)).toBe('ESRCH');
  });

  it('before start: the start fails without forking', async () => {
    const { handle } = newWorker('ready.mjs');
    expect(await handle.terminate()).toBe('shutdown');
    expect(await startFailureOf(handle.start())).toEqual({ startFailed: 'terminated before start' });
    expect(handle.pid).toBeUndefined();
  });
});

describe('health checks', () => {
  it('a worker that stops answering pings is SIGKILLed as hung', async () => {
    const { handle, exited } = await startWorker('hang-after-ready.mjs', {
      heartbeat: { interval: 100, timeout: 300 },
    });
    const reason = await exited;
    expect(reason).toEqual({ hung: expect.any(Number) });
    expect((reason as { hung: number }).hung).toBeGreaterThanOrEqual(300);
    expect(signalZero(handle.pid)).toBe('ESRCH');
  });

  it('a worker that answers its pings lives on', async () => {
    const { handle, exits } = await startWorker('ready.mjs', { heartbeat: { interval: 50, timeout: 1000 } });
    // A fixed wait is the point: nothing may happen within it. Longer than the timeout, with many pings; the
    // timeout is generous so a slow machine does not count as hung.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect(exits).toEqual([]);
    expect(isAlive(handle.pid!)).toBe(true);
  });

  it('a worker whose resident memory exceeds maxMemory is SIGKILLed: { memory: bytes }', async () => {
    const maxMemory = 200 * 1024 * 1024;
    const { exited } = await startWorker('grow-memory.mjs', { maxMemory, heartbeat: { interval: 50, timeout: 5000 } });
    const reason = await exited;
    expect(reason).toEqual({ memory: expect.any(Number) });
    expect((reason as { memory: number }).memory).toBeGreaterThan(maxMemory);
  });
});

describe('ipc', () => {
  it('malformed or unknown messages from a worker are counted in ipc_ignored lines and change nothing', async () => {
    const lines: Array<{ event?: string; level: number; messages?: number }> = [];
    const sink = new Writable({
      write(chunk, _encoding, done) {
        for (const line of String(chunk).split('\n').filter(Boolean)) lines.push(JSON.parse(line));
        done();
      },
    });
    const garbage = [
      { type: 'arbor:bogus' },
      { type: 'arbor:pong', seq: -1 },
      'text',
      { hello: 1 },
      { type: 'arbor:error' },
    ];
    const { handle, exits } = newWorker(
      'ready.mjs',
      { env: { FIXTURE_SEND: JSON.stringify(garbage) } },
      {
        logger: pino({ level: 'warn' }, sink),
      },
    );
    await handle.start();
    // Sent before ready, over the same ordered channel: all of it has arrived by now. The first is logged at once,
    // the others summed up in one line when the interval ends or, as here, when the worker is gone.
    expect(lines.filter((line) => line.event === 'ipc_ignored')).toEqual([expect.objectContaining({ messages: 1 })]);
    expect(exits).toEqual([]);
    expect(await handle.terminate()).toBe('shutdown');
    const ignored = lines.filter((line) => line.event === 'ipc_ignored');
    expect(ignored).toHaveLength(2);
    expect(ignored.reduce((sum, line) => sum + (line.messages ?? 0), 0)).toBe(garbage.length);
  });

  it('an exit is seen even when the channel was disconnected from the supervisor side (node emits no close then)', async () => {
    const link: ListenerLink = {
      id: 'web',
      address: { host: '127.0.0.1', port: 0 },
      attach: (worker) => ({ ready: () => worker.disconnect(), detach: () => {} }),
    };
    const { handle, exited } = newWorker('ready.mjs', { listen: 'web' }, { resolveListener: () => link });
    await handle.start();
    // The runtime leaves when its channel closes.
    expect(await exited).toBe('normal');
    expect(signalZero(handle.pid)).toBe('ESRCH');
  });
});

describe('a worker does not outlive its supervisor', () => {
  it('when the supervisor process is SIGKILLed, its worker exits by itself', async () => {
    const supervisorProcess = spawn(process.execPath, [workerFixture('supervise-one.mjs')], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    track(supervisorProcess);
    const line = await new Promise<string>((resolve) =>
      createInterface({ input: supervisorProcess.stdout! }).once('line', resolve),
    );
    const workerPid = (JSON.parse(line) as { pid: number }).pid;
    track(workerPid);
    expect(isAlive(workerPid)).toBe(true);

    supervisorProcess.kill('SIGKILL');
    await eventually(() => !isAlive(workerPid), `worker ${workerPid} to exit`, 20_000);
  });
});
