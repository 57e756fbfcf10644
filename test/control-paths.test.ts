// Where control sockets live, and what arbor may touch there: a private per-user directory checked before use,
// planted links and files never followed, overwritten or deleted, only sockets arbor bound removed. Client commands
// say which tree they reached, and `arbor chaos` signals no pid before checking it belongs to that tree.
// Needs the build (`npm test` builds first): the CLI runs from dist/, as installed.
import { spawn, type ChildProcess } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createConnection, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { isAlive } from './support/tree.js';
import { arborRunScope, CLI, repo, spawnArborRun, type ArborRun } from './support/arbor-run.js';

const EXAMPLE = join(repo, 'examples/workers/spec.js');
const uid = process.getuid!();

const { runs, tempDir } = arborRunScope('arbor-paths-');
const others: ChildProcess[] = [];
const https: HttpServer[] = [];

afterEach(() => {
  for (const child of others.splice(0)) child.kill('SIGKILL');
  for (const server of https.splice(0)) server.close();
});

/** One `arbor` command to its end. TMPDIR is `dir`, so the private directory is `<dir>/arbor-<uid>`. */
function arbor(dir: string, ...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      env: { ...process.env, TMPDIR: dir, XDG_RUNTIME_DIR: '', ARBOR_CONTROL: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    others.push(child);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** `arbor run` of the example with the default control socket (in its private directory). */
async function runDefault(dir: string): Promise<ArborRun & { socket: string }> {
  const run = spawnArborRun(EXAMPLE, dir, {}, { control: null });
  runs.push(run);
  const line = await run.line((l) => l.event === 'control_listening', 'the control socket');
  await run.line((l) => l.event === 'supervisor_started' && l.supervisor === 'root', 'the root started');
  return Object.assign(run, { socket: line.control as string });
}

describe('--control paths that are not ours are refused, untouched', () => {
  it('a regular file: refused with a clear error, its content intact', async () => {
    const dir = tempDir();
    const file = join(dir, 'precious.txt');
    writeFileSync(file, 'keep me');
    const result = await arbor(dir, 'run', EXAMPLE, '--control', file);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`${file} exists and is not a socket; refusing to replace it`);
    expect(readFileSync(file, 'utf8')).toBe('keep me');
  });

  it('a symbolic link (to a file, or dangling): refused, neither the link nor its target touched', async () => {
    const dir = tempDir();
    const target = join(dir, 'target.txt');
    writeFileSync(target, 'keep me');
    const link = join(dir, 'link.sock');
    symlinkSync(target, link);
    const dangling = join(dir, 'dangling.sock');
    symlinkSync(join(dir, 'nowhere'), dangling);
    for (const path of [link, dangling]) {
      const result = await arbor(dir, 'run', EXAMPLE, '--control', path);
      expect(result.code).toBe(1);
      expect(result.stderr).toContain(`${path} is a symbolic link; refusing to follow or remove it`);
      expect(lstatSync(path).isSymbolicLink()).toBe(true);
    }
    expect(readFileSync(target, 'utf8')).toBe('keep me');
    expect(existsSync(join(dir, 'nowhere'))).toBe(false);
  });

  it('a missing directory, and a path over the unix-socket limit: said in words, no stray socket', async () => {
    const dir = tempDir();
    const missing = await arbor(dir, 'run', EXAMPLE, '--control', join(dir, 'no/such/dir/c.sock'));
    expect(missing).toMatchObject({
      code: 1,
      stderr: expect.stringContaining(`directory ${join(dir, 'no/such/dir')} does not exist`),
    });
    const long = join(dir, `${'x'.repeat(120)}.sock`);
    const tooLong = await arbor(dir, 'run', EXAMPLE, '--control', long);
    expect(tooLong.code).toBe(1);
    expect(tooLong.stderr).toMatch(/is \d+ bytes long; a unix socket path is limited to 107 bytes/);
    expect(readdirSync(dir).filter((name) => name.startsWith('x'))).toEqual([]);
  });

  it("a live arbor at the path is refused; stopping one run never removes another run's socket at the same path", async () => {
    const dir = tempDir();
    const first = spawnArborRun(EXAMPLE, dir);
    runs.push(first);
    await first.line((l) => l.event === 'supervisor_started' && l.supervisor === 'root', 'the first root');
    const refused = await arbor(dir, 'run', EXAMPLE, '--control', first.control);
    expect(refused).toMatchObject({
      code: 1,
      stderr: expect.stringContaining(`another arbor is listening at ${first.control}`),
    });
    // The socket file of the first run goes away (a user's clean-up), and a second run binds the same path.
    rmSync(first.control);
    const second = spawnArborRun(EXAMPLE, dir);
    runs.push(second);
    await second.line((l) => l.event === 'supervisor_started' && l.supervisor === 'root', 'the second root');
    first.proc.kill('SIGTERM');
    expect((await first.exited).code).toBe(0);
    expect(lstatSync(second.control).isSocket()).toBe(true);
    const status = await arbor(dir, 'status', '--control', second.control);
    expect(status).toMatchObject({ code: 0, stdout: expect.stringContaining('ticker-a') });
  });

  it('a live datagram or seqpacket socket, or a stream socket whose backlog is full (a stopped run): refused, left in place', async () => {
    const dir = tempDir();
    const holder = spawn('python3', [join(repo, 'test/fixtures/unix-sockets.py'), dir], {
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    others.push(holder);
    await new Promise<void>((resolve, reject) => {
      holder.stdout.once('data', () => resolve());
      holder.once('exit', (code) => reject(new Error(`unix-sockets.py exited ${code}`)));
    });
    for (const [name, code] of [
      ['dgram.sock', 'EPROTOTYPE'],
      ['seqpacket.sock', 'EPROTOTYPE'],
      ['full.sock', 'EAGAIN'],
    ] as const) {
      const path = join(dir, name);
      const result = await arbor(dir, 'run', EXAMPLE, '--control', path);
      expect(result.code).toBe(1);
      expect(result.stderr).toContain(
        `${path} is a socket that may be in use (connecting to it gave ${code}); refusing to replace it`,
      );
      expect(lstatSync(path).isSocket()).toBe(true);
    }
    holder.stdin.end();
  });

  it('a SIGSTOPped run whose control backlog is full keeps its socket; it answers once continued', async () => {
    const dir = tempDir();
    const first = spawnArborRun(EXAMPLE, dir);
    runs.push(first);
    await first.line((l) => l.event === 'supervisor_started' && l.supervisor === 'root', 'the first root');
    process.kill(first.proc.pid!, 'SIGSTOP');
    const fillers: Socket[] = [];
    try {
      // Connections nobody accepts until the kernel refuses more (EAGAIN): the backlog is full.
      for (let i = 0; i < 2048; i++) {
        const outcome = await new Promise<string>((resolve) => {
          const socket = createConnection(first.control);
          fillers.push(socket);
          socket.once('connect', () => resolve('connected'));
          socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? 'error'));
        });
        if (outcome !== 'connected') break;
      }
      const second = await arbor(dir, 'run', EXAMPLE, '--control', first.control);
      expect(second.code).toBe(1);
      expect(second.stderr).toContain(`${first.control} is a socket that may be in use (connecting to it gave EAGAIN)`);
      expect(lstatSync(first.control).isSocket()).toBe(true);
    } finally {
      for (const socket of fillers) socket.destroy();
      process.kill(first.proc.pid!, 'SIGCONT');
    }
    const status = await arbor(dir, 'status', '--control', first.control);
    expect(status).toMatchObject({ code: 0, stdout: expect.stringContaining('ticker-a') });
  });

  it('a stale socket of ours (a run that was SIGKILLed) is replaced', async () => {
    const dir = tempDir();
    const first = spawnArborRun(EXAMPLE, dir);
    runs.push(first);
    await first.line((l) => l.event === 'supervisor_started' && l.supervisor === 'root', 'the first root');
    process.kill(-first.proc.pid!, 'SIGKILL');
    await first.exited;
    expect(lstatSync(first.control).isSocket()).toBe(true);
    const second = spawnArborRun(EXAMPLE, dir);
    runs.push(second);
    await second.line((l) => l.event === 'supervisor_started' && l.supervisor === 'root', 'the second root');
  });
});

describe('the private directory of runs', () => {
  it('default sockets and run records live in <tmp>/arbor-<uid>, mode 0700; status says which tree it reached', async () => {
    const dir = tempDir();
    const run = await runDefault(dir);
    const privateDir = join(dir, `arbor-${uid}`);
    expect(run.socket).toBe(join(privateDir, `arbor-${run.proc.pid}.sock`));
    expect(lstatSync(privateDir).mode & 0o777).toBe(0o700);
    expect(lstatSync(run.socket).mode & 0o777).toBe(0o600);
    const status = await arbor(dir, 'status');
    expect(status.code).toBe(0);
    expect(status.stderr).toBe(`arbor: reached pid ${run.proc.pid}, spec ${EXAMPLE}, socket ${run.socket}\n`);
    expect(status.stdout).toContain('ticker-a');
  });

  it('several runs: status takes the latest and lists the others; a command that changes a tree is refused', async () => {
    const dir = tempDir();
    const older = await runDefault(dir);
    const newer = await runDefault(dir);
    const status = await arbor(dir, 'status');
    expect(status.code).toBe(0);
    expect(status.stderr).toContain(`arbor: reached pid ${newer.proc.pid}`);
    expect(status.stderr).toContain(`1 other run(s) alive`);
    expect(status.stderr).toContain(`  pid ${older.proc.pid}, spec ${EXAMPLE}, socket ${older.socket}`);
    const restart = await arbor(dir, 'restart', 'root/ticker-a');
    expect(restart.code).toBe(1);
    expect(restart.stderr).toMatch(/^several_runs: 2 arbor runs are alive; name one with --control <socket>:/);
    const chaos = await arbor(dir, 'chaos', '--duration', '1s');
    expect(chaos).toMatchObject({ code: 1, stderr: expect.stringContaining('several_runs: 2 arbor runs are alive') });
  });

  it("a private directory that is squatted (a link, open to others, another user's): a fresh private one is used and named, nothing is written through the squatted one", async () => {
    const squat: Array<[string, (path: string, dir: string) => void]> = [
      [
        'a link',
        (path, dir) => {
          mkdirSync(join(dir, 'elsewhere'), { mode: 0o700 });
          symlinkSync(join(dir, 'elsewhere'), path);
        },
      ],
      [
        'open to others',
        (path) => {
          mkdirSync(path, { mode: 0o777 });
          chmodSync(path, 0o777);
        },
      ],
    ];
    // Only root can make a directory another user's; elsewhere this case is left to the mode check above.
    if (uid === 0)
      squat.push(["another user's", (path) => (mkdirSync(path, { mode: 0o700 }), chownSync(path, 65534, 65534))]);
    for (const [what, plant] of squat) {
      const dir = tempDir();
      const squatted = join(dir, `arbor-${uid}`);
      plant(squatted, dir);
      const run = await runDefault(dir);
      const fallback = await run.line((l) => l.event === 'runs_dir_fallback', `the fallback (${what})`);
      expect(fallback.instead).toBe(squatted);
      expect(fallback.dir).toMatch(new RegExp(`^${dir}/arbor-${uid}-[A-Za-z0-9]{6}$`));
      expect(lstatSync(fallback.dir as string).mode & 0o777).toBe(0o700);
      expect(run.socket).toBe(join(fallback.dir as string, `arbor-${run.proc.pid}.sock`));
      expect(readdirSync(squatted)).toEqual([]);
      if (what === 'a link') expect(readdirSync(join(dir, 'elsewhere'))).toEqual([]);
      const status = await arbor(dir, 'status');
      expect(status, what).toMatchObject({ code: 0, stdout: expect.stringContaining('ticker-a') });
      expect(status.stderr).toContain(`socket ${run.socket}`);
    }
  });

  it('planted records (a link, a foreign file) are not followed or trusted; the old pointer file is ignored', async () => {
    const dir = tempDir();
    const privateDir = join(dir, `arbor-${uid}`);
    mkdirSync(privateDir, { mode: 0o700 });
    const decoy = join(dir, 'decoy.json');
    writeFileSync(
      decoy,
      JSON.stringify({ pid: process.pid, spec: '/x', control: join(dir, 'fake.sock'), startedAt: Date.now() }),
    );
    symlinkSync(decoy, join(privateDir, `arbor-${process.pid}.run`));
    writeFileSync(join(dir, `arbor-${uid}.current`), `${join(dir, 'fake.sock')}\n`);
    const status = await arbor(dir, 'status');
    expect(status).toMatchObject({ code: 1, stderr: expect.stringMatching(/^no_arbor: no running arbor found/) });
    expect(readFileSync(decoy, 'utf8')).toContain('"pid"');
  });
});

describe('arbor chaos checks the tree before it signals', () => {
  /** A control socket served by a separate process that lies: it claims `claimedPid` and lists `workerPid`. */
  async function fakeTree(dir: string, claimedPid: 'self' | number, workerPid: number): Promise<string> {
    const socket = join(dir, 'fake.sock');
    const script = `
      const net = require('node:net');
      const claimed = ${JSON.stringify(claimedPid)} === 'self' ? process.pid : ${JSON.stringify(claimedPid)};
      const status = { path: 'root', strategy: 'one_for_one', state: 'running', children: [
        { id: 'victim', type: 'worker', status: 'running', pid: ${workerPid}, restarts: 0 } ] };
      net.createServer((s) => { let b = ''; s.on('data', (d) => { b += d; let i;
        while ((i = b.indexOf('\\n')) >= 0) { const r = JSON.parse(b.slice(0, i)); b = b.slice(i + 1);
          const result = r.op === 'info' ? { pid: claimed } : r.op === 'proc' ? { pid: claimed, rss: 1, fds: 1 }
            : r.op === 'events' ? { events: [], next: 0, missed: 0 } : status;
          s.write(JSON.stringify({ id: r.id, ok: true, result }) + '\\n'); } }); })
        .listen(${JSON.stringify(socket)}, () => console.log('ready'));
    `;
    const fake = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    others.push(fake);
    await new Promise((resolve) => fake.stdout.once('data', resolve));
    return socket;
  }

  async function httpTarget(): Promise<string> {
    const server = createHttpServer((_req, res) => res.end('ok'));
    https.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(server.address() as { port: number }).port}/`;
  }

  /** `arbor chaos` for 2 s at 4 faults/s of `mix`, against a fake tree whose only worker is a bystander. */
  async function chaosAgainstFake(claimedPid: 'self' | number, mix: string) {
    const dir = tempDir();
    const bystander = spawn('sleep', ['60'], { stdio: 'ignore' });
    others.push(bystander);
    const socket = await fakeTree(dir, claimedPid, bystander.pid!);
    const url = await httpTarget();
    const result = await arbor(
      dir,
      'chaos',
      '--control',
      socket,
      '--url',
      url,
      '--duration',
      '2s',
      '--rate',
      '4',
      '--mix',
      mix,
    );
    return { result, socket, bystander };
  }

  it('a socket whose process claims another pid is refused before anything is signalled', async () => {
    const { result, socket, bystander } = await chaosAgainstFake(process.pid, 'sigkill');
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(
      `not_verified: the process answering at ${socket} claims pid ${process.pid}, which does not hold that socket`,
    );
    expect(isAlive(bystander.pid)).toBe(true);
  });

  it.each(['sigkill', 'kill-all'])(
    'a pid that is not a child of the supervisor holding the socket is skipped, not signalled, and the report says why (%s)',
    async (mix) => {
      const { result, bystander } = await chaosAgainstFake('self', mix);
      expect(result.code).toBe(0);
      expect(result.stdout).toMatch(/faults {6}injected 0 of \d+/);
      expect(result.stdout).toContain(
        `pid ${bystander.pid} is no child of the supervisor (gone, or not this tree's); not signalled`,
      );
      expect(isAlive(bystander.pid)).toBe(true);
    },
  );
});
