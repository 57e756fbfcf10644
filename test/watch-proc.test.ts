// What `arbor status --watch` reads from /proc, on real processes and sockets: RSS and CPU of a process (this one,
// made busy, checked against process.cpuUsage()), and the accept queue of a listening socket whose owner never accepts.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import {
  cpuPercent,
  findListenQueue,
  parseProcSample,
  readListenQueue,
  readProcSample,
} from '../src/cli/watch-proc.js';

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const cleanup of cleanups.splice(0)) cleanup();
});

describe('process samples', () => {
  it('read RSS and CPU time: CPU % between two samples agrees with what node measures of itself', () => {
    const before = readProcSample(process.pid)!;
    const usageBefore = process.cpuUsage();
    expect(before.rss).toBeGreaterThan(10 * 1024 * 1024);
    const busyUntil = performance.now() + 500;
    while (performance.now() < busyUntil) Math.sqrt(Math.random());
    const after = readProcSample(process.pid)!;
    const usage = process.cpuUsage(usageBefore);
    const reference = ((usage.user + usage.system) / 1000 / (after.at - before.at)) * 100;
    const cpu = cpuPercent(before, after)!;
    // /proc counts in 10 ms ticks: over 500 ms that is 2 % of a core either way, at each end.
    expect(Math.abs(cpu - reference)).toBeLessThan(8);
    expect(cpu).toBeGreaterThan(5); // busy, however loaded the machine
    expect(cpuPercent(before, { ...after, pid: after.pid + 1 })).toBeUndefined(); // another process: no pair
    expect(readProcSample(2 ** 22 + 7)).toBeUndefined(); // no such pid
  });

  it('parse a command with spaces and parentheses in /proc/<pid>/stat', () => {
    const stat = '42 (node (x) y) S 1 42 42 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 11 0 100 1000 2000';
    expect(parseProcSample(42, stat, '9000 1234 300 1 0 500 0', 7)).toEqual({
      pid: 42,
      rss: 1234 * 4096,
      cpuTicks: 300,
      at: 7,
    });
    expect(parseProcSample(42, 'garbage', '', 7)).toBeUndefined();
  });
});

describe('listen queues', () => {
  it('count connections waiting in the accept queue of a socket nobody accepts on', async () => {
    // A listener whose event loop is blocked right after listen(): the kernel completes handshakes, nobody accepts.
    const owner = spawn(
      process.execPath,
      [
        '-e',
        `
      const server = require('node:net').createServer();
      server.listen(0, '127.0.0.1', 16, () => {
        process.stdout.write(server.address().port + '\\n');
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 30000);
      });`,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    cleanups.push(() => owner.kill('SIGKILL'));
    const [line] = (await once(createInterface({ input: owner.stdout! }), 'line')) as [string];
    const address = `127.0.0.1:${Number(line)}`;
    expect(readListenQueue(address)).toEqual({ queued: 0 });

    const clients: Socket[] = [];
    for (let i = 0; i < 3; i++) {
      const socket = connect(Number(line), '127.0.0.1');
      cleanups.push(() => socket.destroy());
      socket.on('error', () => {});
      clients.push(socket);
      await once(socket, 'connect');
    }
    const until = performance.now() + 30_000;
    while (readListenQueue(address)?.queued !== 3 && performance.now() < until) await sleep(20);
    expect(readListenQueue(address)).toEqual({ queued: 3 });
  });

  it('pick the LISTEN line of the port from a /proc/net/tcp table', () => {
    const table = [
      '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode',
      '   0: 0100007F:1F90 0100007F:C350 01 00000000:00000000 00:00000000 00000000     0        0 1',
      '   1: 0100007F:1F90 00000000:0000 0A 00000000:00000005 00:00000000 00000000     0        0 2',
      '   2: 0100007F:1F91 00000000:0000 0A 00000000:00000002 00:00000000 00000000     0        0 3',
    ].join('\n');
    expect(findListenQueue(table, 8080)).toEqual({ queued: 5 });
    expect(findListenQueue(table, 8081)).toEqual({ queued: 2 });
    expect(findListenQueue(table, 8082)).toBeUndefined();
  });
});
