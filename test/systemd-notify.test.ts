// sd_notify and the watchdog, with a real AF_UNIX datagram receiver (python3) standing in for systemd's notify
// socket. Needs the build (the CLI runs from dist/).
import { spawn, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterEach, describe, expect, it } from 'vitest';
import { SystemdNotifier, statusLine, watchdogInterval, type NotifiedTree } from '../src/systemd/notify.js';
import { openTransport } from '../src/systemd/datagram.js';
import type { SupervisorStatus } from '../src/index.js';
import { repo, spawnArborRun, type ArborRun, killArborRun } from './support/arbor-run.js';

const SPEC = join(repo, 'test/fixtures/engines/notify-spec.mjs');
const RECEIVER = join(repo, 'test/fixtures/engines/notify-receiver.py');

const cleanups: Array<() => void | Promise<unknown>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'arbor-notify-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

interface Datagram {
  t: number;
  message: string;
}

interface Receiver {
  messages: Datagram[];
  /** The first datagram (past or future) that matches. */
  next(match: (d: Datagram) => boolean, what: string, timeoutMs?: number): Promise<Datagram>;
}

async function receiver(address: string): Promise<Receiver> {
  const proc: ChildProcess = spawn('python3', [RECEIVER, address], { stdio: ['ignore', 'pipe', 'inherit'] });
  cleanups.push(async () => {
    proc.kill('SIGKILL');
    await new Promise((resolve) =>
      proc.exitCode !== null || proc.signalCode !== null ? resolve(null) : proc.once('close', resolve),
    );
  });
  const messages: Datagram[] = [];
  const waiters = new Set<{ match: (d: Datagram) => boolean; resolve: (d: Datagram) => void }>();
  const bound = new Promise<void>((resolve) => {
    createInterface({ input: proc.stdout! }).on('line', (text) => {
      const line = JSON.parse(text) as Datagram & { bound?: string };
      if (line.bound) return resolve();
      messages.push(line);
      for (const waiter of waiters) {
        if (!waiter.match(line)) continue;
        waiters.delete(waiter);
        waiter.resolve(line);
      }
    });
  });
  await bound;
  return {
    messages,
    next: (match, what, timeoutMs = 30_000) => {
      const past = messages.find(match);
      if (past) return Promise.resolve(past);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.delete(waiter);
          reject(new Error(`timed out waiting for ${what}; got ${JSON.stringify(messages.slice(-5))}`));
        }, timeoutMs);
        const waiter = { match, resolve: (d: Datagram) => (clearTimeout(timer), resolve(d)) };
        waiters.add(waiter);
      });
    },
  };
}

function runArbor(dir: string, env: Record<string, string>): ArborRun {
  const arbor = spawnArborRun(SPEC, dir, env);
  cleanups.push(async () => {
    await killArborRun(arbor);
  });
  return arbor;
}

function getJson(address: string): Promise<{ pid: number; inherited: string[] }> {
  return new Promise((resolve, reject) => {
    http
      .get(`http://${address}/`, { agent: false }, (res) => {
        let body = '';
        res.on('data', (chunk: Buffer) => (body += chunk.toString()));
        res.on('end', () => resolve(JSON.parse(body)));
      })
      .on('error', reject);
  });
}

const fields = (message: string): Record<string, string> =>
  Object.fromEntries(
    message.split('\n').map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]),
  );

const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

describe('sd_notify from arbor run (NOTIFY_SOCKET a path)', () => {
  it('READY=1 after start, STATUS on changes, WATCHDOG=1 every WATCHDOG_USEC/2 but none while the loop is blocked, STOPPING=1 at stop', async () => {
    const dir = tempDir();
    const socket = join(dir, 'notify.sock');
    const systemd = await receiver(socket);
    const arbor = runArbor(dir, { NOTIFY_SOCKET: socket, WATCHDOG_USEC: '600000', BLOCK_MS: '2000' });

    const ready = await systemd.next((d) => d.message.startsWith('READY=1'), 'READY=1');
    const rootStarted = await arbor.line(
      (l) => l.event === 'supervisor_started' && l.supervisor === 'root',
      'root started',
    );
    expect(ready.t).toBeGreaterThanOrEqual((rootStarted.time as number) - 5);
    expect(fields(ready.message)).toEqual({ READY: '1', STATUS: '2/2 workers up, 0 restarts in the last minute' });
    expect(arbor.lines.find((l) => l.event === 'notify_socket')).toMatchObject({ socket, watchdogMs: 300 });

    // Workers inherit nothing that would let them speak to systemd in arbor's name.
    const bound = await arbor.line((l) => l.event === 'listener_bound', 'listener_bound');
    expect((await getJson(bound.address as string)).inherited).toEqual([]);

    // WATCHDOG=1 at half of WATCHDOG_USEC (300 ms).
    const firstPet = systemd.messages.filter((d) => d.message === 'WATCHDOG=1').length;
    await systemd.next(
      (d) =>
        d.message === 'WATCHDOG=1' &&
        systemd.messages.filter((m) => m.message === 'WATCHDOG=1').indexOf(d) >= firstPet + 8,
      '8 more pets',
    );
    const pets = systemd.messages.filter((d) => d.message === 'WATCHDOG=1').map((d) => d.t);
    const gaps = pets.slice(1).map((t, i) => t - pets[i]!);
    expect(median(gaps)).toBeGreaterThan(200);
    expect(median(gaps)).toBeLessThan(1200);

    // A crash shows in STATUS=.
    const w1 = arbor.lines.find((l) => l.event === 'child_started' && l.child === 'w1')!;
    process.kill(w1.pid!, 'SIGKILL');
    await systemd.next(
      (d) => d.message === 'STATUS=2/2 workers up, 1 restart in the last minute',
      'STATUS after the restart',
    );

    // A blocked supervisor loop stops petting; it resumes once the loop turns again.
    process.kill(arbor.proc.pid!, 'SIGUSR2');
    const blockedLine = await new Promise<{ start: number; end: number }>((resolve) => {
      const poll = setInterval(() => {
        const match = /\{"blocked":(\{[^}]*\})\}/.exec(arbor.stderr());
        if (match) {
          clearInterval(poll);
          resolve(JSON.parse(match[1]!));
        }
      }, 20);
    });
    await systemd.next((d) => d.message === 'WATCHDOG=1' && d.t > blockedLine.end, 'a pet after the block');
    // A pet handed to systemd-notify just before the block may arrive a moment later (that process runs on):
    // allow 500 ms for it. The remaining 1.5 s would hold about five pets if the loop were not blocked.
    const duringBlock = systemd.messages.filter(
      (d) => d.message === 'WATCHDOG=1' && d.t > blockedLine.start + 500 && d.t < blockedLine.end,
    );
    expect(blockedLine.end - blockedLine.start).toBeGreaterThanOrEqual(2000);
    expect(duringBlock).toEqual([]);

    process.kill(arbor.proc.pid!, 'SIGTERM');
    const stopping = await systemd.next((d) => d.message.startsWith('STOPPING=1'), 'STOPPING=1');
    // Sent when the stop was asked for: its STATUS still counts both workers up.
    expect(fields(stopping.message).STATUS).toBe('2/2 workers up, 1 restart in the last minute, stopping');
    expect((await arbor.exited).code).toBe(0);
  });

  it('the root giving up sends STOPPING=1 and stops the watchdog', async () => {
    const dir = tempDir();
    const socket = join(dir, 'notify.sock');
    const systemd = await receiver(socket);
    const arbor = runArbor(dir, { NOTIFY_SOCKET: socket, WATCHDOG_USEC: '200000', INTENSITY: '0' });
    await systemd.next((d) => d.message.startsWith('READY=1'), 'READY=1');
    const w1 = await arbor.line((l) => l.event === 'child_started' && l.child === 'w1', 'w1 started');
    process.kill(w1.pid!, 'SIGKILL');
    await systemd.next((d) => d.message.startsWith('STOPPING=1'), 'STOPPING=1');
    expect((await arbor.exited).code).toBe(1);
    const stopping = systemd.messages.findIndex((d) => d.message.startsWith('STOPPING=1'));
    expect(systemd.messages.slice(stopping + 1).filter((d) => d.message === 'WATCHDOG=1')).toEqual([]);
  });
});

describe('an abstract NOTIFY_SOCKET (@name)', () => {
  it('READY=1 and STOPPING=1 arrive', async () => {
    const dir = tempDir();
    const address = `@arbor-notify-test-${process.pid}-${Date.now()}`;
    const systemd = await receiver(address);
    const arbor = runArbor(dir, { NOTIFY_SOCKET: address });
    const ready = await systemd.next((d) => d.message.startsWith('READY=1'), 'READY=1');
    expect(fields(ready.message).STATUS).toBe('2/2 workers up, 0 restarts in the last minute');
    process.kill(arbor.proc.pid!, 'SIGTERM');
    await systemd.next((d) => d.message.startsWith('STOPPING=1'), 'STOPPING=1');
    expect((await arbor.exited).code).toBe(0);
  });
});

describe('reloads (Type=notify-reload)', () => {
  it('SIGHUP to arbor run: RELOADING=1 with MONOTONIC_USEC when the reload starts, READY=1 when it finished', async () => {
    const dir = tempDir();
    const socket = join(dir, 'notify.sock');
    const systemd = await receiver(socket);
    const arbor = runArbor(dir, { NOTIFY_SOCKET: socket });
    await systemd.next((d) => d.message.startsWith('READY=1'), 'READY=1');
    process.kill(arbor.proc.pid!, 'SIGHUP');
    const reloading = await systemd.next((d) => d.message.startsWith('RELOADING=1'), 'RELOADING=1');
    expect(fields(reloading.message).MONOTONIC_USEC).toMatch(/^\d+$/);
    const finished = await arbor.line((l) => l.event === 'reload_finished', 'reload_finished');
    const ready = await systemd.next(
      (d) => d.message.startsWith('READY=1') && d.t > reloading.t,
      'READY=1 after the reload',
    );
    expect(ready.t).toBeGreaterThanOrEqual((finished.time as number) - 5);
    expect(fields(ready.message).STATUS).toBe('2/2 workers up, 0 restarts in the last minute');
    expect(arbor.lines.filter((l) => l.event === 'child_replaced').length).toBe(2);
  });

  it('reload_started sends RELOADING=1 with MONOTONIC_USEC from CLOCK_MONOTONIC; reload_finished or reload_failed sends READY=1', async () => {
    const dir = tempDir();
    const socket = join(dir, 'notify.sock');
    const systemd = await receiver(socket);
    const events = new EventEmitter();
    const status: SupervisorStatus = {
      path: 'root',
      state: 'running',
      strategy: 'one_for_one',
      intensity: { restarts: 0, limit: 1, period: 5000 },
      children: [],
    };
    // A tree as the notifier sees it, whose events the test emits: reloads are driven by name alone.
    const tree = Object.assign(events, {
      status: () => status,
      done: new Promise<never>(() => undefined),
      spec: { id: 'root' },
    });
    const errors: Error[] = [];
    const notifier = new SystemdNotifier(
      tree as unknown as NotifiedTree,
      openTransport(socket, (e) => errors.push(e)),
      undefined,
    );
    cleanups.push(() => notifier.close());
    notifier.ready();
    await systemd.next((d) => d.message.startsWith('READY=1'), 'READY=1');

    const before = process.hrtime.bigint() / 1000n;
    events.emit('event', { event: 'reload_started', supervisor: 'root' });
    const reloading = fields((await systemd.next((d) => d.message.startsWith('RELOADING=1'), 'RELOADING=1')).message);
    const after = process.hrtime.bigint() / 1000n;
    expect(BigInt(reloading.MONOTONIC_USEC!)).toBeGreaterThanOrEqual(before);
    expect(BigInt(reloading.MONOTONIC_USEC!)).toBeLessThanOrEqual(after);
    events.emit('event', { event: 'reload_finished', supervisor: 'root' });
    await systemd.next(
      (d) => d.message.startsWith('READY=1') && systemd.messages.indexOf(d) > 1,
      'READY=1 after the reload',
    );

    events.emit('event', { event: 'reload_started', supervisor: 'root' });
    events.emit('event', { event: 'reload_failed', supervisor: 'root' });
    await systemd.next(
      (d) => d.message.startsWith('READY=1') && systemd.messages.indexOf(d) > 3,
      'READY=1 after the failed reload',
    );
    expect(systemd.messages.map((d) => d.message.split('\n')[0])).toEqual([
      'READY=1',
      'RELOADING=1',
      'READY=1',
      'RELOADING=1',
      'READY=1',
    ]);
    expect(errors).toEqual([]);
  });
});

describe('a burst of events', () => {
  it("5,000 events read the whole tree's status a few times, not once each; STATUS= still follows the last change", async () => {
    const dir = tempDir();
    const socket = join(dir, 'notify.sock');
    const systemd = await receiver(socket);
    const events = new EventEmitter();
    let reads = 0;
    const children: SupervisorStatus['children'] = [];
    const status = (): SupervisorStatus => {
      reads += 1;
      return {
        path: 'root',
        state: 'running',
        strategy: 'simple_one_for_one',
        intensity: { restarts: 0, limit: 1, period: 5000 },
        children,
      };
    };
    const tree = Object.assign(events, { status, done: new Promise<never>(() => undefined), spec: { id: 'root' } });
    const notifier = new SystemdNotifier(
      tree as unknown as NotifiedTree,
      openTransport(socket, () => undefined),
      undefined,
    );
    cleanups.push(() => notifier.close());
    notifier.ready();
    await systemd.next((d) => d.message.startsWith('READY=1'), 'READY=1');
    const before = reads;
    for (let n = 1; n <= 5000; n += 1) {
      children.push({
        id: `job-${n}`,
        type: 'worker',
        pid: n,
        status: 'running',
        restarts: 0,
        uptime: 0,
        restart: 'temporary',
      });
      events.emit('event', { event: 'child_started', supervisor: 'root', child: `job-${n}`, pid: n, type: 'worker' });
    }
    await systemd.next(
      (d) => d.message === 'STATUS=5000/5000 workers up, 0 restarts in the last minute',
      'STATUS after the burst',
    );
    expect(reads - before).toBeLessThanOrEqual(3);
  });
});

describe('the transport', () => {
  it('a missing systemd-notify is reported, not thrown', async () => {
    const errors: Error[] = [];
    const transport = openTransport('/nonexistent/notify.sock', (e) => errors.push(e), 'no-such-systemd-notify');
    transport.send('READY=1');
    for (let i = 0; i < 200 && errors.length === 0; i += 1) await new Promise((resolve) => setTimeout(resolve, 10));
    expect(errors.map((e) => e.message)).toEqual([
      'no-such-systemd-notify not found (Debian: apt-get install systemd)',
    ]);
    transport.close();
  });

  it('messages go in order; a STATUS= line replaced before it was sent is dropped', async () => {
    const dir = tempDir();
    const socket = join(dir, 'notify.sock');
    const systemd = await receiver(socket);
    // Failures would be reported here (systemd-notify still in flight when the receiver goes is one): none while it runs.
    const errors: Error[] = [];
    const transport = openTransport(socket, (e) => errors.push(e));
    transport.send('READY=1');
    for (let n = 1; n <= 20; n += 1) transport.send(`STATUS=${n}`);
    transport.send('STOPPING=1');
    await systemd.next((d) => d.message === 'STOPPING=1', 'STOPPING=1');
    const sent = systemd.messages.map((d) => d.message);
    expect(sent[0]).toBe('READY=1');
    expect(sent.at(-2)).toBe('STATUS=20');
    expect(sent.length).toBeLessThan(22);
    expect(errors).toEqual([]);
    transport.close();
  });
});

describe('pure parts', () => {
  it('the watchdog period is half of WATCHDOG_USEC, for this pid only', () => {
    expect(watchdogInterval({ WATCHDOG_USEC: '30000000' }, 7)).toBe(15_000);
    expect(watchdogInterval({ WATCHDOG_USEC: '30000000', WATCHDOG_PID: '7' }, 7)).toBe(15_000);
    expect(watchdogInterval({ WATCHDOG_USEC: '30000000', WATCHDOG_PID: '8' }, 7)).toBeUndefined();
    expect(watchdogInterval({ WATCHDOG_USEC: '0' }, 7)).toBeUndefined();
    expect(watchdogInterval({ WATCHDOG_USEC: 'soon' }, 7)).toBeUndefined();
    expect(watchdogInterval({}, 7)).toBeUndefined();
  });

  it('STATUS= counts workers up over expected, in nested supervisors', () => {
    const worker = (id: string, status: 'running' | 'starting') => ({
      id,
      type: 'worker' as const,
      pid: 1,
      status,
      restarts: 0,
      uptime: 0,
      restart: 'permanent' as const,
    });
    const intensity = { restarts: 0, limit: 1, period: 5000 };
    const status: SupervisorStatus = {
      path: 'root',
      state: 'running',
      strategy: 'one_for_one',
      intensity,
      children: [
        worker('a', 'running'),
        {
          ...worker('pool', 'running'),
          type: 'supervisor',
          pid: undefined,
          supervisor: {
            path: 'root/pool',
            state: 'restarting',
            strategy: 'one_for_one',
            intensity,
            children: [worker('b', 'starting'), worker('c', 'running')],
          },
        },
      ],
    };
    expect(statusLine(status, 1, 'running')).toBe('2/3 workers up, 1 restart in the last minute');
    expect(statusLine(undefined, 0, 'stopping')).toBe('0/0 workers up, 0 restarts in the last minute, stopping');
  });
});
