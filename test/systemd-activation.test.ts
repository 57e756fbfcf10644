// systemd socket activation: the real `systemd-socket-activate` opens the port and execs `arbor run`, whose
// listener adopts the passed socket. Needs the build (the CLI runs from dist/) and Debian's systemd package.
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync, readlinkSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { listener, supervisor, validateSpec } from '../src/index.js';
import { parseActivation, selectSocket } from '../src/listener/activation.js';
import { arborRunScope, repo, spawnArborRun } from './support/arbor-run.js';

const SPEC = join(repo, 'test/fixtures/engines/activated-spec.mjs');
const SOCKET_ACTIVATE = '/usr/bin/systemd-socket-activate';

const { runs: started, tempDir } = arborRunScope('arbor-activation-');

/** systemd-socket-activate passes its child only PATH, HOME, TERM, LISTEN_* and what `-E` sets. */
function activate(port: number, dir: string, specFd: string): string[] {
  return [SOCKET_ACTIVATE, '-l', `127.0.0.1:${port}`, '--fdname=web', '-E', `SPEC_FD=${specFd}`, '-E', `TMPDIR=${dir}`];
}

/** A port that is free now (systemd-socket-activate takes no port 0). */
async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

type Outcome = { ok: true; body: string } | { ok: false; code: string };

/** One request on a new connection. */
function get(port: number, path = '/', timeoutMs = 10_000): Promise<Outcome> {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path, agent: false, timeout: timeoutMs }, (res) => {
      let body = '';
      res.on('data', (chunk: Buffer) => (body += chunk.toString()));
      res.on('end', () => resolve({ ok: true, body }));
      res.on('error', (e: NodeJS.ErrnoException) => resolve({ ok: false, code: e.code ?? e.message }));
    });
    req.on('timeout', () => req.destroy(Object.assign(new Error('timeout'), { code: 'TIMEOUT' })));
    req.on('error', (e: NodeJS.ErrnoException) => resolve({ ok: false, code: e.code ?? e.message }));
  });
}

/** Inodes of the sockets listening on `port`, from the kernel's TCP table. */
function listeningInodes(port: number): string[] {
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
  return readFileSync('/proc/net/tcp', 'utf8')
    .split('\n')
    .slice(1)
    .map((line) => line.trim().split(/\s+/))
    .filter((cols) => cols[1]?.endsWith(`:${hexPort}`) && cols[3] === '0A')
    .map((cols) => cols[9]!);
}

function socketInode(pid: number, fd: number): string | undefined {
  try {
    return /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`))?.[1];
  } catch {
    return undefined;
  }
}

async function until<T>(probe: () => T | undefined, what: string, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('reading LISTEN_PID / LISTEN_FDS / LISTEN_FDNAMES (sd_listen_fds)', () => {
  const env = { LISTEN_PID: '42', LISTEN_FDS: '2', LISTEN_FDNAMES: 'web:admin' };

  it('numbers the passed sockets from fd 3 with their names', () => {
    expect(parseActivation(env, 42)).toEqual({
      sockets: [
        { fd: 3, name: 'web' },
        { fd: 4, name: 'admin' },
      ],
    });
    expect(parseActivation({ LISTEN_PID: '42', LISTEN_FDS: '1' }, 42)).toEqual({
      sockets: [{ fd: 3, name: 'unknown' }],
    });
  });

  it('refuses variables meant for another process, missing or malformed ones', () => {
    expect(parseActivation(env, 43)).toEqual({
      error:
        'systemd socket activation: LISTEN_PID=42 is not this process (43); the sockets were passed to another process',
    });
    expect(parseActivation({}, 42)).toEqual({
      error:
        'systemd socket activation: LISTEN_PID and LISTEN_FDS not set (start arbor from a .socket unit, or under systemd-socket-activate)',
    });
    expect(parseActivation({ ...env, LISTEN_FDS: '0' }, 42)).toEqual({
      error: 'systemd socket activation: LISTEN_FDS=0, no socket was passed',
    });
    expect(parseActivation({ ...env, LISTEN_FDS: '-1' }, 42)).toHaveProperty('error');
    expect(parseActivation({ ...env, LISTEN_FDS: '99999999' }, 42)).toHaveProperty('error');
  });

  it("'systemd' is the only socket passed; 'systemd:<name>' the one with that FileDescriptorName=", () => {
    const two = parseActivation(env, 42);
    expect(selectSocket(two, 'systemd:admin')).toEqual({ fd: 4 });
    expect(selectSocket(two, 'systemd')).toEqual({
      error:
        "systemd socket activation: 2 sockets were passed (web (fd 3), admin (fd 4)); name one with fd: 'systemd:<name>'",
    });
    expect(selectSocket(two, 'systemd:api')).toEqual({
      error:
        "systemd socket activation: no socket named 'api' among web (fd 3), admin (fd 4) (LISTEN_FDNAMES, FileDescriptorName= in the .socket unit)",
    });
    expect(selectSocket(parseActivation({ LISTEN_PID: '1', LISTEN_FDS: '1' }, 1), 'systemd')).toEqual({ fd: 3 });
  });
});

it("spec validation takes fd: 'systemd' and 'systemd:<name>', and names the bad field otherwise", () => {
  const spec = (fd: unknown) => supervisor({ children: [listener({ id: 'web', fd: fd as 'systemd' })] });
  expect(validateSpec(spec('systemd'))).toEqual([]);
  expect(validateSpec(spec('systemd:web'))).toEqual([]);
  expect(validateSpec(spec('systemd:'))).toEqual([
    {
      path: 'root.children[0].fd',
      message: "must be a file descriptor (integer >= 0), 'systemd' or 'systemd:<name>', got 'systemd:'",
    },
  ]);
});

describe('arbor run under systemd-socket-activate', () => {
  it('answers the request that activated it, never binds the port, keeps LISTEN_* from workers, refuses nothing across crashes', async () => {
    const port = await freePort();
    const dir = tempDir();
    const arbor = spawnArborRun(SPEC, dir, {}, { through: activate(port, dir, 'systemd:web') });
    started.push(arbor);
    const pid = arbor.proc.pid!;

    // Before any connection systemd-socket-activate only listens: the socket it made is this process's fd 3.
    const inode = await until(
      () => (listeningInodes(port).length === 1 ? socketInode(pid, 3) : undefined),
      'the activation socket',
    );
    expect(listeningInodes(port)).toEqual([inode]);

    // The first request makes it exec arbor; it waits in the backlog and is answered by a worker.
    const first = await get(port, '/', 30_000);
    expect(first).toMatchObject({ ok: true });
    const bound = await arbor.line((l) => l.event === 'listener_bound', 'listener_bound');
    expect(bound).toMatchObject({ fd: 3, activation: 'systemd:web', address: `127.0.0.1:${port}` });
    expect(JSON.parse((first as { body: string }).body).inherited).toEqual([]);
    // Same process (exec), same socket, and still the only one listening on that port: arbor bound nothing.
    expect(socketInode(pid, 3)).toBe(inode);
    expect(listeningInodes(port)).toEqual([inode]);
    expect(readFileSync(`/proc/${pid}/cmdline`, 'utf8')).toContain('arbor');

    // Workers crash under a client loop: no connection is refused.
    await arbor.line((l) => l.event === 'supervisor_started' && l.supervisor === 'root', 'the root started');
    const outcomes: Outcome[] = [];
    let loading = true;
    const load = (async () => {
      while (loading) outcomes.push(await get(port));
    })();
    for (let crash = 0; crash < 4; crash += 1) {
      const workers = arbor.lines.filter((l) => l.event === 'child_started' && l.supervisor === 'root/pool');
      const victim = workers.filter((l) => l.child === `w${(crash % 2) + 1}`).at(-1)!;
      const before = workers.length;
      process.kill(victim.pid!, 'SIGKILL');
      await until(
        () =>
          arbor.lines.filter((l) => l.event === 'child_started' && l.supervisor === 'root/pool').length > before
            ? true
            : undefined,
        `restart ${crash + 1}`,
      );
    }
    loading = false;
    await load;
    const refused = outcomes.filter((o) => !o.ok && o.code === 'ECONNREFUSED').length;
    expect(refused).toBe(0);
    expect(outcomes.filter((o) => o.ok).length).toBeGreaterThan(10);
    expect(listeningInodes(port)).toEqual([inode]);

    process.kill(pid, 'SIGTERM');
    expect((await arbor.exited).code).toBe(0);
  });

  it('names no socket: the tree fails to start with a message that says what was passed', async () => {
    const port = await freePort();
    const dir = tempDir();
    const arbor = spawnArborRun(SPEC, dir, {}, { through: activate(port, dir, 'systemd:api') });
    started.push(arbor);
    await until(() => (listeningInodes(port).length === 1 ? true : undefined), 'the activation socket');
    void get(port, '/', 30_000);
    expect((await arbor.exited).code).toBe(1);
    expect(arbor.stderr()).toContain("systemd socket activation: no socket named 'api' among web (fd 3)");
  });

  it('without activation variables, or with variables for another pid, the error says so', async () => {
    const missing = spawnArborRun(SPEC, tempDir(), { SPEC_FD: 'systemd' });
    started.push(missing);
    expect((await missing.exited).code).toBe(1);
    expect(missing.stderr()).toContain('systemd socket activation: LISTEN_PID and LISTEN_FDS not set');

    const elsewhere = spawnArborRun(SPEC, tempDir(), { SPEC_FD: 'systemd', LISTEN_PID: '1', LISTEN_FDS: '1' });
    started.push(elsewhere);
    expect((await elsewhere.exited).code).toBe(1);
    expect(elsewhere.stderr()).toMatch(/LISTEN_PID=1 is not this process \(\d+\)/);
  });
});

it("the machine has systemd-socket-activate (.ci/run installs Debian's systemd package when missing)", () => {
  expect(execFileSync(SOCKET_ACTIVATE, ['--version'], { encoding: 'utf8' })).toMatch(/systemd \d+/);
});

it('the example units parse: systemd-analyze verify finds no bad key or value, and the socket name is the one the example spec asks for', () => {
  const dir = join(repo, 'examples/systemd');
  const verify = spawnSync('systemd-analyze', ['verify', '--man=no', './arbor-http.socket', './arbor-http.service'], {
    cwd: dir,
    encoding: 'utf8',
  });
  // It also checks the machine (ExecStart's binary, the user): only what is wrong in the files themselves counts.
  expect(
    `${verify.stdout}${verify.stderr}`
      .split('\n')
      .filter((line) => /Failed to parse|Unknown (key|section)|ignoring/i.test(line)),
  ).toEqual([]);
  expect(readFileSync(join(dir, 'arbor-http.socket'), 'utf8')).toMatch(/^FileDescriptorName=http$/m);
  expect(readFileSync(join(repo, 'examples/http-service/spec.js'), 'utf8')).toContain("fd: 'systemd:http'");
  const service = readFileSync(join(dir, 'arbor-http.service'), 'utf8');
  for (const line of ['Type=notify', 'NotifyAccess=all', 'KillMode=mixed', 'Restart=on-failure'])
    expect(service).toMatch(new RegExp(`^${line}$`, 'm'));
  expect(service).toMatch(/^WatchdogSec=\d+$/m);
  // The control socket in the service's own runtime directory, not in a shared temp dir.
  expect(service).toMatch(/^RuntimeDirectory=arbor-http$/m);
  expect(service).toMatch(/^ExecStart=.* --control %t\/arbor-http\/control\.sock /m);
});
