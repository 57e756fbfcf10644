// Listener scenarios with real sockets and real forked workers (DESIGN.md §6), all on port 0 at 127.0.0.1.
import { fork, spawnSync, type ChildProcess } from 'node:child_process';
import {
  chmodSync,
  closeSync,
  existsSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import http from 'node:http';
import net from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import pino from 'pino';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { StartFailure, type ChildContext, type ListenerLink, type WorkerAttachment } from '../src/child.js';
import { ListenerHandle, DEFAULT_BACKLOG } from '../src/listener/index.js';
import type { ListenerSpec } from '../src/types.js';

const root = fileURLToPath(new URL('..', import.meta.url));
// Workers run compiled code: the runtime (`arbor-otp/worker`) and, in the fd host, the listener itself.
const httpWorker = join(root, 'test/fixtures/listener-worker.mjs');
const swallowingWorker = join(root, 'test/fixtures/listener-swallow-worker.mjs');
const fdHost = join(root, 'test/fixtures/listener-fd-host.mjs');
const bindAsNobody = join(root, 'test/fixtures/listener-bind-unprivileged.mjs');

// ---------------------------------------------------------------- helpers

const events: Array<Record<string, unknown>> = [];
const logger = pino({ level: 'debug' }, { write: (line: string) => void events.push(JSON.parse(line)) });

function context(path = 'root/web'): ChildContext {
  return { path, logger, onExit: () => {}, resolveListener: () => undefined };
}

function listenerSpec(overrides: Partial<ListenerSpec> = {}): ListenerSpec {
  return {
    type: 'listener',
    id: 'web',
    restart: 'permanent',
    shutdown: 5000,
    significant: false,
    host: '127.0.0.1',
    port: 0,
    backlog: DEFAULT_BACKLOG,
    mode: 'shared',
    ...overrides,
  };
}

const listeners: ListenerHandle[] = [];
const children = new Set<ChildProcess>();
const cleanups: Array<() => void> = [];

async function startListener(overrides: Partial<ListenerSpec> = {}): Promise<ListenerHandle> {
  const handle = new ListenerHandle(listenerSpec(overrides), context());
  listeners.push(handle);
  await handle.start();
  return handle;
}

async function startFailure(overrides: Partial<ListenerSpec>): Promise<unknown> {
  const handle = new ListenerHandle(listenerSpec(overrides), context());
  const error = await handle.start().then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(StartFailure);
  expect(handle.link).toBeUndefined();
  return (error as StartFailure).reason;
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

async function killAndWait(child: ChildProcess): Promise<void> {
  const gone = exited(child);
  child.kill('SIGKILL');
  await gone;
}

function nextMessage(child: ChildProcess, type: string): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const onMessage = (m: Record<string, unknown>): void => {
      if (m?.type !== type) return;
      child.off('exit', onExit);
      child.off('message', onMessage);
      resolve(m);
    };
    const onExit = (): void => reject(new Error(`worker ${child.pid} exited before ${type}`));
    child.on('message', onMessage);
    child.once('exit', onExit);
  });
}

interface Served {
  child: ChildProcess;
  attachment: WorkerAttachment;
}

/** Forks a worker the way a supervisor does: attach before `ready`, then ready(); shared mode waits for listening. */
async function serve(link: ListenerLink, mode: 'shared' | 'round_robin', module = httpWorker): Promise<Served> {
  const env = { ...process.env, ARBOR_WORKER: '1' };
  const child = fork(module, [], { env, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  children.add(child);
  const ready = nextMessage(child, 'arbor:ready');
  const listening = mode === 'shared' ? nextMessage(child, 'arbor:listening') : Promise.resolve({});
  const attachment = link.attach(child);
  child.once('exit', () => attachment.detach());
  await Promise.all([ready.then(() => attachment.ready()), listening]);
  return { child, attachment };
}

type Outcome = { status: number; body: string } | { error: string };

/** One HTTP request on a new connection; `connected`: true once the kernel completed the handshake, false on error. */
function request(port: number): { connected: Promise<boolean>; done: Promise<Outcome> } {
  let onConnect!: (connected: boolean) => void;
  const connected = new Promise<boolean>((resolve) => (onConnect = resolve));
  const done = new Promise<Outcome>((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/', agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', (e: NodeJS.ErrnoException) => resolve({ error: e.code ?? e.message }));
    });
    req.on('socket', (socket: net.Socket) => socket.once('connect', () => onConnect(true)));
    req.setTimeout(20_000, () => req.destroy(Object.assign(new Error('timeout'), { code: 'TIMEOUT' })));
    req.on('error', (e: NodeJS.ErrnoException) => {
      onConnect(false);
      resolve({ error: e.code ?? e.message });
    });
  });
  return { connected, done };
}

const get = (port: number): Promise<Outcome> => request(port).done;
const servedBy = (o: Outcome): string | undefined => ('status' in o && o.status === 200 ? o.body : undefined);
const errorOf = (o: Outcome): string | undefined => ('error' in o ? o.error : undefined);

/** Waits for a condition that an event will make true (stats, counters); fails after `ms`. */
async function until(condition: () => boolean, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** Clients opening connections in a loop until stopped; every outcome is kept. */
function clientLoop(port: number, concurrency: number): { outcomes: Outcome[]; stop(): Promise<void> } {
  const outcomes: Outcome[] = [];
  let running = true;
  const loops = Array.from({ length: concurrency }, async () => {
    while (running) outcomes.push(await get(port));
  });
  return {
    outcomes,
    stop: async () => {
      running = false;
      await Promise.all(loops);
    },
  };
}

function listenOn(server: net.Server): Promise<number> {
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve((server.address() as net.AddressInfo).port)),
  );
}

/** Forked fixtures run compiled code: refuse to run against a dist/ older than the sources it comes from. */
function expectFreshBuild(): void {
  for (const [source, built] of [
    ['src/listener', 'dist/listener/index.js'],
    ['src/worker', 'dist/runtime/runtime.js'],
  ] as const) {
    if (!existsSync(join(root, built))) throw new Error(`${built} is missing: run \`npm run build\` first`);
    const newest = Math.max(...readdirSync(join(root, source)).map((f) => statSync(join(root, source, f)).mtimeMs));
    if (newest > statSync(join(root, built)).mtimeMs)
      throw new Error(`${built} is older than ${source}: run \`npm run build\``);
  }
}

/** As root, a child can run as nobody; port 80 is privileged unless the kernel was told otherwise. */
function canDropPrivileges(): boolean {
  const setting = '/proc/sys/net/ipv4/ip_unprivileged_port_start';
  return process.getuid?.() === 0 && existsSync(setting) && Number(readFileSync(setting, 'utf8')) > 80;
}

function descriptorOf(thing: unknown): number {
  return (thing as { _handle?: { fd: number }; fd?: number })._handle?.fd ?? (thing as { fd: number }).fd;
}

beforeAll(() => expectFreshBuild());

afterEach(async () => {
  await Promise.all([...children].map(killAndWait));
  children.clear();
  await Promise.all(listeners.splice(0).map((l) => l.kill()));
  for (const cleanup of cleanups.splice(0)) cleanup();
  events.length = 0;
});

// ---------------------------------------------------------------- binding

describe('a listener that cannot bind fails to start with a clear reason', () => {
  it('EADDRINUSE names host:port when another server listens there', async () => {
    const other = net.createServer();
    const port = await listenOn(other);
    cleanups.push(() => other.close());
    expect(await startFailure({ port })).toEqual({ startFailed: `EADDRINUSE 127.0.0.1:${port}` });
    expect(events.some((e) => e.event === 'listener_bind_failed')).toBe(true);
  });

  it('EADDRNOTAVAIL for an address this host does not have', async () => {
    expect(await startFailure({ host: '192.0.2.1' })).toEqual({ startFailed: 'EADDRNOTAVAIL 192.0.2.1:0' });
  });

  it('ENOTFOUND for a host name that does not resolve', async () => {
    expect(await startFailure({ host: 'no-such-host.invalid' })).toEqual({
      startFailed: 'ENOTFOUND no-such-host.invalid',
    });
  });

  it('an out-of-range port or backlog', async () => {
    expect(await startFailure({ port: 70000 })).toEqual({ startFailed: 'port 70000 is out of range (0-65535)' });
    expect(await startFailure({ backlog: 0 })).toEqual({ startFailed: 'backlog 0 must be a positive integer' });
  });

  it.skipIf(!canDropPrivileges())('EACCES for a privileged port, said so', async () => {
    // uid 65534 may not read the checkout (a clone in a 0700 directory): it runs one bundled file from a temp dir.
    const dir = mkdtempSync(join(tmpdir(), 'arbor-nobody-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    chmodSync(dir, 0o755);
    const script = join(dir, 'bind.mjs');
    await build({
      entryPoints: [bindAsNobody],
      outfile: script,
      bundle: true,
      format: 'esm',
      platform: 'node',
      logLevel: 'silent',
    });
    chmodSync(script, 0o644);
    const child = fork(script, ['80'], {
      cwd: dir,
      uid: 65534,
      gid: 65534,
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    children.add(child);
    const { result } = await nextMessage(child, 'bound');
    expect(result).toEqual({ error: 'EACCES 127.0.0.1:80 (ports below 1024 need privileges)' });
  });

  it('a host name is resolved, and the link reports the real bound port', async () => {
    const listener = await startListener({ host: 'localhost' });
    const { address } = listener.link!;
    expect(['127.0.0.1', '::1']).toContain(address.host);
    expect(address.port).toBeGreaterThan(0);
  });
});

describe('an inherited descriptor (fd) must be a listening TCP socket', () => {
  it('a file', async () => {
    // In a private directory: a fixed name in a shared /tmp could be anyone's file (or a link to one).
    const dir = mkdtempSync(join(tmpdir(), 'arbor-listener-'));
    const path = join(dir, 'not-a-socket');
    const fd = openSync(path, 'w');
    cleanups.push(() => (closeSync(fd), rmSync(dir, { recursive: true, force: true })));
    expect(await startFailure({ fd })).toEqual({
      startFailed: `fd ${fd} is not a listening socket (not a socket: ${path})`,
    });
  });

  it('a connected socket, which is left open for its owner', async () => {
    const server = net.createServer();
    const port = await listenOn(server);
    const client = net.connect(port, '127.0.0.1');
    await new Promise((resolve) => client.once('connect', resolve));
    cleanups.push(() => (client.destroy(), server.close()));
    const fd = descriptorOf(client);
    expect(await startFailure({ fd })).toEqual({
      startFailed: `fd ${fd} is not a listening socket (TCP state ESTABLISHED)`,
    });
    expect(client.writable).toBe(true);
  });

  it('a bound socket that is not listening, and a descriptor that is not open', async () => {
    const bound = (
      net as unknown as { _createServerHandle: (...a: unknown[]) => { fd: number; close(): void } }
    )._createServerHandle('127.0.0.1', 0, 4, undefined, 0);
    cleanups.push(() => bound.close());
    expect(await startFailure({ fd: bound.fd })).toEqual({
      startFailed: `fd ${bound.fd} is not a listening socket (not listening)`,
    });
    expect(await startFailure({ fd: 987 })).toEqual({ startFailed: 'fd 987 is not a listening socket (not open)' });
  });

  describe.each(['shared', 'round_robin'] as const)(
    '%s: an inherited listening socket (systemd LISTEN_FDS)',
    (mode) => {
      it('is adopted, listens before any worker, survives a listener restart, and is served', async () => {
        const server = net.createServer();
        const port = await listenOn(server);
        const host = fork(fdHost, [], {
          env: { ...process.env, LISTENER_MODE: mode },
          stdio: ['ignore', 'inherit', 'inherit', descriptorOf(server), 'ipc'],
        });
        children.add(host);
        // The host inherited its own descriptor of the socket; ours must not accept anything.
        server.close();
        await nextMessage(host, 'between');
        const between = request(port);
        expect(await between.connected).toBe(true);
        host.send({ type: 'continue' });
        const report = (await nextMessage(host, 'serving')) as {
          stats: { address: { port: number }; listening: boolean }[];
        };
        expect(report.stats.map((s) => s.address.port)).toEqual([port, port]);
        expect(report.stats.every((s) => s.listening)).toBe(true);
        const outcome = await get(port);
        expect(servedBy(outcome)).toMatch(/^\d+$/);
        expect(servedBy(await between.done)).toBe(servedBy(outcome));
        host.send({ type: 'stop' });
        await exited(host);
      });
    },
  );
});

// ---------------------------------------------------------------- shared mode

describe('shared mode', () => {
  it('refuses only until the first worker listened (cold start), then reports listening', async () => {
    const listener = await startListener();
    const { port } = listener.link!.address;
    expect(listener.stats().listening).toBe(false);
    expect(errorOf(await get(port))).toBe('ECONNREFUSED');
    const worker = await serve(listener.link!, 'shared');
    expect(listener.stats()).toMatchObject({ listening: true, workers: { attached: 1, serving: 1 } });
    expect(events.filter((e) => e.event === 'listener_listening')).toHaveLength(1);
    expect(servedBy(await get(port))).toBe(String(worker.child.pid));
  });

  it('two workers serve the same socket', async () => {
    const listener = await startListener();
    const { port } = listener.link!.address;
    const workers = await Promise.all([serve(listener.link!, 'shared'), serve(listener.link!, 'shared')]);
    const pids = workers.map((w) => String(w.child.pid));
    const outcomes = await Promise.all(Array.from({ length: 40 }, () => get(port)));
    for (const outcome of outcomes) expect(pids).toContain(servedBy(outcome));
    expect(listener.stats().workers).toEqual({ attached: 2, serving: 2 });
  });

  it('the worker listens with the spec backlog (node would use 511)', async () => {
    const listener = await startListener({ backlog: 1234 });
    await serve(listener.link!, 'shared');
    const ss = spawnSync('ss', ['-ltnH', `sport = :${listener.link!.address.port}`], { encoding: 'utf8' });
    if (ss.error) return; // no ss on this machine
    expect(ss.stdout.trim().split(/\s+/)[2]).toBe('1234');
  });

  it('SIGKILL of every worker under a client loop: 0 ECONNREFUSED; connections of the gap are answered by the replacement', async () => {
    const listener = await startListener();
    const { port } = listener.link!.address;
    const first = await Promise.all([serve(listener.link!, 'shared'), serve(listener.link!, 'shared')]);
    const clients = clientLoop(port, 8);
    await until(() => clients.outcomes.filter(servedBy).length >= 100);

    await Promise.all(first.map((w) => killAndWait(w.child)));
    expect(listener.stats().workers.attached).toBe(0);
    // No worker is alive: these connections complete their handshake in the kernel backlog.
    const gap = Array.from({ length: 20 }, () => request(port));
    expect(await Promise.all(gap.map((r) => r.connected))).toEqual(gap.map(() => true));

    const replacement = await serve(listener.link!, 'shared');
    const gapOutcomes = await Promise.all(gap.map((r) => r.done));
    await until(() => clients.outcomes.filter((o) => servedBy(o) === String(replacement.child.pid)).length >= 50);
    await clients.stop();

    expect(gapOutcomes.map(servedBy)).toEqual(gap.map(() => String(replacement.child.pid)));
    const errors = clients.outcomes.map(errorOf).filter(Boolean);
    expect(errors.filter((e) => e === 'ECONNREFUSED')).toEqual([]);
    // Only connections the killed workers had accepted can be lost (reset or hang-up), at most one per client.
    expect(errors.length).toBeLessThanOrEqual(8);
  });

  it('terminate closes the supervisor descriptor and resolves shutdown', async () => {
    const listener = await startListener();
    const { port } = listener.link!.address;
    expect(await listener.terminate()).toBe('shutdown');
    expect(listener.link).toBeUndefined();
    expect(errorOf(await get(port))).toBe('ECONNREFUSED');
  });
});

// ---------------------------------------------------------------- round_robin mode

describe('round_robin mode', () => {
  it('listens from start and spreads connections across the ready workers', async () => {
    const listener = await startListener({ mode: 'round_robin' });
    expect(listener.stats().listening).toBe(true);
    const { port } = listener.link!.address;
    const workers = await Promise.all([1, 2, 3].map(() => serve(listener.link!, 'round_robin')));
    const counts = new Map<string, number>();
    for (let i = 0; i < 30; i++) {
      const pid = servedBy(await get(port));
      counts.set(String(pid), (counts.get(String(pid)) ?? 0) + 1);
    }
    for (const w of workers) expect(counts.get(String(w.child.pid)) ?? 0).toBeGreaterThanOrEqual(5);
    await until(() => listener.stats().connections.dispatched === 30);
    expect(listener.stats().connections).toMatchObject({ queued: 0, inFlight: 0, redispatched: 0, dropped: 0 });
  });

  it('kill every worker under a client loop: connections queue, replacements answer them, 0 refused', async () => {
    const listener = await startListener({ mode: 'round_robin' });
    const { port } = listener.link!.address;
    const first = await Promise.all([serve(listener.link!, 'round_robin'), serve(listener.link!, 'round_robin')]);
    const clients = clientLoop(port, 8);
    await until(() => clients.outcomes.filter(servedBy).length >= 100);

    await Promise.all(first.map((w) => killAndWait(w.child)));
    await until(() => listener.stats().workers.attached === 0);
    const gap = Array.from({ length: 20 }, () => request(port));
    expect(await Promise.all(gap.map((r) => r.connected))).toEqual(gap.map(() => true));
    await until(() => listener.stats().connections.queued >= 20);

    const replacements = await Promise.all([
      serve(listener.link!, 'round_robin'),
      serve(listener.link!, 'round_robin'),
    ]);
    const pids = replacements.map((w) => String(w.child.pid));
    const gapOutcomes = await Promise.all(gap.map((r) => r.done));
    await until(() => clients.outcomes.filter((o) => pids.includes(servedBy(o) ?? '')).length >= 50);
    await clients.stop();

    for (const outcome of gapOutcomes) expect(pids).toContain(servedBy(outcome));
    const errors = clients.outcomes.map(errorOf).filter(Boolean);
    expect(errors.filter((e) => e === 'ECONNREFUSED')).toEqual([]);
    expect(errors.length).toBeLessThanOrEqual(8);
    expect(listener.stats().connections.queued).toBe(0);
  });

  it('a connection sent to a worker that dies before acknowledging is re-dispatched to another', async () => {
    const listener = await startListener({ mode: 'round_robin' });
    const { port } = listener.link!.address;
    const swallower = await serve(listener.link!, 'round_robin', swallowingWorker);
    const pending = get(port);
    await until(() => listener.stats().connections.inFlight === 1);

    const good = await serve(listener.link!, 'round_robin');
    await killAndWait(swallower.child);
    expect(servedBy(await pending)).toBe(String(good.child.pid));
    expect(listener.stats().connections).toMatchObject({ redispatched: 1, dispatched: 1, inFlight: 0 });
    expect(events.some((e) => e.event === 'connection_redispatched' && e.pid === swallower.child.pid)).toBe(true);
  });

  it('terminate stops accepting and closes queued connections', async () => {
    const listener = await startListener({ mode: 'round_robin' });
    const { port } = listener.link!.address;
    const queued = request(port);
    await until(() => listener.stats().connections.queued === 1);
    expect(await listener.kill()).toBe('shutdown');
    expect(errorOf(await queued.done)).toMatch(/ECONNRESET|socket hang up/);
    expect(errorOf(await get(port))).toBe('ECONNREFUSED');
  });
});
