// The control socket under hostile clients and hostile data: every answer is bounded and fails safe, and no client
// can make the supervisor hold unbounded connections, descriptors or memory. `status` keeps answering a fresh
// client and the tree keeps restarting its workers throughout.
// Needs the build (`npm test` builds first): `arbor run` runs from dist/, as installed.
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createConnection, type Socket } from 'node:net';
import { EventEmitter } from 'node:events';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { ControlClient, MAX_ANSWER_BYTES } from '../src/control/client.js';
import { EventLog, MAX_PAGE_BYTES } from '../src/control/event-log.js';
import { boundedJson } from '../src/control/bounded.js';
import { ControlServer } from '../src/control/server.js';
import type { Tree } from '../src/supervisor/tree.js';
import type { TreeEvent } from '../src/supervisor/events.js';
import { arborRunScope, repo, spawnArborRun } from './support/arbor-run.js';

const RUNTIME = pathToFileURL(join(repo, 'dist/runtime/runtime.js')).href;
const ARBOR = pathToFileURL(join(repo, 'dist/index.js')).href;
const MiB = 1024 * 1024;

const { runs, tempDir } = arborRunScope('arbor-ctl-');
const sockets: Socket[] = [];
const servers: ControlServer[] = [];

afterEach(() => {
  for (const socket of sockets.splice(0)) socket.destroy();
  for (const server of servers.splice(0)) server.close();
});

/** Raw answer lines of one connection, as bytes arrive. */
function rawClient(path: string): { socket: Socket; lines: string[]; send(text: string): void } {
  const socket = createConnection(path);
  sockets.push(socket);
  const lines: string[] = [];
  let buffered = '';
  socket.setEncoding('utf8');
  socket.on('error', () => {});
  socket.on('data', (chunk: string) => {
    buffered += chunk;
    let newline: number;
    while ((newline = buffered.indexOf('\n')) >= 0) {
      lines.push(buffered.slice(0, newline));
      buffered = buffered.slice(newline + 1);
    }
  });
  return { socket, lines, send: (text) => socket.write(text) };
}

async function until(check: () => boolean, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

const fdCount = (pid: number): number => readdirSync(`/proc/${pid}/fd`).length;
const rssOf = (pid: number): number =>
  Number(/^VmRSS:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) * 1024;

describe('answers fail safe, whatever the tree holds', () => {
  /**
   * A tree whose status is whatever the test wants: huge, cyclic, unserialisable, or throwing. It emits events as a
   * tree does (the control socket shares a read of the tree until the next one).
   */
  function stubTree(status: () => unknown, events = new EventEmitter()): Tree {
    return Object.assign(events, { spec: { id: 'root' }, status }) as unknown as Tree;
  }

  it('a status of 100 strings of 20 MB, a cycle, a BigInt and a throwing getter: one bounded answer with markers', async () => {
    const huge = 'D'.repeat(2e7);
    const cyclic: Record<string, unknown> = { name: 'loop' };
    cyclic.self = cyclic;
    const nasty = Object.defineProperty({ fine: 1 }, 'boom', {
      enumerable: true,
      get: () => {
        throw new Error('getter');
      },
    });
    const details = Array.from({ length: 100 }, (_, i) => ({ child: `w${i}`, lastExit: { shutdown: huge } }));
    const server = await ControlServer.open(join(tempDir(), 'c.sock'), {
      tree: () => stubTree(() => ({ details, cyclic, big: 10n, nasty })),
      stop: () => {},
    });
    servers.push(server);
    const client = rawClient(server.socketPath);
    client.send('{"id":1,"op":"status"}\n');
    await until(() => client.lines.length === 1, 'the answer');
    const line = client.lines[0]!;
    expect(Buffer.byteLength(line) + 1).toBeLessThanOrEqual(MAX_ANSWER_BYTES);
    const answer = JSON.parse(line) as {
      id: number;
      ok: boolean;
      result: { details: unknown[]; cyclic: unknown; big: string; nasty: unknown };
    };
    expect(answer).toMatchObject({ id: 1, ok: true });
    // The first details are there, cut with a marker; those that did not fit are counted, not silently lost.
    expect(JSON.stringify(answer.result.details[0])).toContain('…[+19983616 chars]');
    expect(answer.result.details.at(-1)).toMatch(/^\[\d+ more omitted\]$/);
  });

  it('cycles, BigInt and throwing getters become markers; a status that throws a non-Error answers an error', async () => {
    const cyclic: Record<string, unknown> = { name: 'loop' };
    cyclic.self = cyclic;
    const nasty = Object.defineProperty({ fine: 1 }, 'boom', {
      enumerable: true,
      get: () => {
        throw new Error('getter');
      },
    });
    let mode: 'odd' | 'throw' = 'odd';
    const status = (): unknown => {
      // Thrown values need not be Errors; this one's message getter throws too.
      if (mode === 'throw')
        throw Object.defineProperty({}, 'message', {
          get: () => {
            throw new Error('no message');
          },
        });
      return { cyclic, big: 10n, nasty };
    };
    const events = new EventEmitter();
    const tree = stubTree(status, events);
    const server = await ControlServer.open(join(tempDir(), 'c.sock'), { tree: () => tree, stop: () => {} });
    servers.push(server);
    const client = rawClient(server.socketPath);
    client.send('{"id":1,"op":"status"}\n');
    await until(() => client.lines.length === 1, 'the first answer');
    expect(JSON.parse(client.lines[0]!)).toEqual({
      id: 1,
      ok: true,
      result: { cyclic: { name: 'loop', self: '[cycle]' }, big: '10n', nasty: { fine: 1, boom: '[unserializable]' } },
    });
    mode = 'throw';
    events.emit('event', { event: 'child_exited' }); // the tree changed: the next status is read anew
    client.send('{"id":2,"op":"status"}\n');
    await until(() => client.lines.length === 2, 'the second answer');
    expect(JSON.parse(client.lines[1]!)).toMatchObject({ id: 2, ok: false, error: { code: 'internal' } });
  });

  it('events with 20 MB reasons: each page bounded, every event delivered once, in order', () => {
    const log = new EventLog();
    const huge = 'D'.repeat(2e7);
    for (let i = 0; i < 40; i++) {
      log.record({
        event: 'child_exited',
        supervisor: 'root',
        child: 'w',
        pid: i,
        reason: { shutdown: huge },
        action: 'restart',
      } as TreeEvent);
    }
    const seen: number[] = [];
    let since = 0;
    for (let page = 0; page < 40; page++) {
      const answer = log.read(since);
      if (answer.events.length === 0) break;
      expect(Buffer.byteLength(JSON.stringify(answer))).toBeLessThanOrEqual(MAX_PAGE_BYTES + 1024);
      seen.push(...answer.events.map((e) => e.seq));
      since = answer.next;
    }
    expect(seen).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
    expect(boundedJson(log.read(0).events[0], { maxString: 1e6, maxBytes: 1e6 })).toContain('…[+');
  });

  it('a worker that shuts itself down with a 2 MB detail, again and again: events and status answer, bounded', async () => {
    const dir = tempDir();
    const worker = join(dir, 'verbose.mjs');
    writeFileSync(
      worker,
      `
      import { ready, shutdown } from ${JSON.stringify(RUNTIME)};
      setInterval(() => {}, 60_000);
      ready();
      setTimeout(() => shutdown('D'.repeat(2e6)), 50);
    `,
    );
    const spec = join(dir, 'spec.mjs');
    writeFileSync(
      spec,
      `
      import { supervisor, worker } from ${JSON.stringify(ARBOR)};
      export default supervisor({ intensity: 1000, period: 60_000, children: [worker({ id: 'verbose', module: ${JSON.stringify(worker)} })] });
    `,
    );
    const run = spawnArborRun(spec, dir);
    runs.push(run);
    await run.line(
      (l) => l.event === 'child_started' && run.lines.filter((x) => x.event === 'child_started').length >= 6,
      'six starts',
      60_000,
    );
    const client = new ControlClient(run.control);
    try {
      const page = (await client.request('events')) as { events: Array<{ reason?: unknown }> };
      expect(page.events.length).toBeGreaterThan(0);
      expect(JSON.stringify(page).length).toBeLessThanOrEqual(MAX_PAGE_BYTES + 1024);
      const status = (await client.request('status')) as { children: Array<{ lastExit?: { shutdown: string } }> };
      expect(status.children[0]!.lastExit?.shutdown.length).toBeLessThan(20_000);
    } finally {
      client.close();
    }
  });
});

describe('connections, idle time and backpressure are bounded', () => {
  it('an idle connection is closed after the idle timeout; one waiting for an answer is not', async () => {
    let release!: () => void;
    const slow = new Promise<void>((resolve) => (release = resolve));
    const tree = { spec: { id: 'root' }, status: () => ({}), terminateChild: () => slow } as unknown as Tree;
    const server = await ControlServer.open(
      join(tempDir(), 'c.sock'),
      { tree: () => tree, stop: () => {} },
      { idleTimeoutMs: 300 },
    );
    servers.push(server);
    const idle = rawClient(server.socketPath);
    const busy = rawClient(server.socketPath);
    busy.send('{"id":1,"op":"stop-child","path":"root/w"}\n');
    const idleClosed = new Promise((resolve) => idle.socket.once('close', resolve));
    await idleClosed;
    // A fixed wait is the point: twice the idle timeout, within which the busy connection must not be closed.
    await new Promise((resolve) => setTimeout(resolve, 600));
    expect(busy.socket.destroyed).toBe(false);
    release();
    await until(() => busy.lines.length === 1, 'the slow answer');
    expect(JSON.parse(busy.lines[0]!)).toMatchObject({ id: 1, ok: true });
  });

  it("2×10,000 idle connections: the supervisor's fds stay bounded, a fresh status answers, a killed worker restarts", async () => {
    const dir = tempDir();
    const run = spawnArborRun(join(repo, 'examples/workers/spec.js'), dir);
    runs.push(run);
    const started = await run.line((l) => l.event === 'child_started' && l.child === 'ticker-b', 'ticker-b started');
    const pid = run.proc.pid!;
    const baseline = fdCount(pid);
    let peak = baseline;
    const sampler = setInterval(() => (peak = Math.max(peak, fdCount(pid))), 10);
    try {
      for (let wave = 0; wave < 2; wave++) {
        const wave_: Socket[] = [];
        let settled = 0;
        for (let i = 0; i < 10_000; i++) {
          const socket = createConnection(run.control);
          socket.on('error', () => {});
          socket.once('close', () => (settled += 1));
          socket.once('connect', () => (settled += 0));
          wave_.push(socket);
          if (i % 500 === 499) await new Promise((resolve) => setImmediate(resolve));
        }
        sockets.push(...wave_);
        // The cap keeps at most 64 of them; the others were closed by the supervisor (or refused by the kernel).
        await until(() => settled >= 10_000 - 64, `wave ${wave + 1} to be trimmed to the cap`, 60_000);
      }
      console.log(`control fds: ${baseline} before, peak ${peak} during 2×10,000 connections`);
      expect(peak - baseline).toBeLessThan(64 + 200); // the cap, plus connections being accepted and closed
      const fresh = new ControlClient(run.control);
      try {
        const status = (await fresh.request('status')) as { path: string };
        expect(status.path).toBe('root');
      } finally {
        fresh.close();
      }
      process.kill(started.pid!, 'SIGKILL');
      await run.line(
        (l) => l.event === 'child_started' && l.child === 'ticker-b' && l.pid !== started.pid,
        'ticker-b restarted',
      );
    } finally {
      clearInterval(sampler);
    }
  });

  it('a client that pipelines status requests and never reads: not read further, RSS bounded, others still served', async () => {
    const dir = tempDir();
    const run = spawnArborRun(join(repo, 'examples/workers/spec.js'), dir);
    runs.push(run);
    const started = await run.line((l) => l.event === 'child_started' && l.child === 'ticker-b', 'ticker-b started');
    const pid = run.proc.pid!;
    const rssBefore = rssOf(pid);
    const greedy = createConnection(run.control);
    sockets.push(greedy);
    greedy.on('error', () => {});
    greedy.pause(); // never reads an answer
    await new Promise((resolve) => greedy.once('connect', resolve));
    const chunk = '{"id":1,"op":"status"}\n'.repeat(4096); // ~100 kB of requests at a time
    let written = 0;
    // Write until the supervisor stops reading: the kernel buffers fill, and 1 s passes (5 windows of 200 ms in a
    // row) without a byte taken. A supervisor that reads on drains within a window and is fed until the deadline.
    const deadline = Date.now() + 5000;
    let unread = 0;
    while (Date.now() < deadline && written < 200 * MiB && unread < 5) {
      greedy.write(chunk);
      written += chunk.length;
      const drained = await Promise.race([
        new Promise((resolve) => greedy.once('drain', () => resolve(true))),
        new Promise((resolve) => setTimeout(() => resolve(false), 200)),
      ]);
      unread = drained ? 0 : unread + 1;
    }
    greedy.removeAllListeners('drain');
    expect(greedy.writableLength).toBeGreaterThan(0);
    const rssGrowth = rssOf(pid) - rssBefore;
    console.log(
      `pipelining client: ${((written - greedy.writableLength) / MiB).toFixed(1)} MiB of requests taken, ${(greedy.writableLength / MiB).toFixed(1)} MiB left unread; supervisor RSS +${(rssGrowth / MiB).toFixed(1)} MiB`,
    );
    expect(rssGrowth).toBeLessThan(64 * MiB);
    const fresh = new ControlClient(run.control);
    try {
      expect(((await fresh.request('status')) as { path: string }).path).toBe('root');
    } finally {
      fresh.close();
    }
    process.kill(started.pid!, 'SIGKILL');
    await run.line(
      (l) => l.event === 'child_started' && l.child === 'ticker-b' && l.pid !== started.pid,
      'ticker-b restarted',
    );
    expect(rssOf(pid) - rssBefore).toBeLessThan(64 * MiB);
  });
});
