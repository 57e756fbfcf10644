// The `arbor` command as a user runs it: a real `arbor run` process, its control socket, and the client commands.
// Needs the build (`npm test` builds first): the CLI runs from dist/, as installed.
import { existsSync, statSync, writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { ControlClient } from '../src/control/client.js';
import type { SupervisorStatus } from '../src/index.js';
import { fixture, isAlive } from './support/tree.js';
import { arborRunScope, CLI, arborCommand, repo, spawnArborRun, type ArborRun } from './support/arbor-run.js';

const EXAMPLE = join(repo, 'examples/workers/spec.js');
const ARBOR = pathToFileURL(join(repo, 'dist/index.js')).href;

type Arbor = ArborRun;

// `arbor run` leads its own process group (spawned detached); its workers each lead theirs, so they are killed by
// the pids the log announced (they would also exit on their own once the IPC channel closes).
const { runs: started, tempDir } = arborRunScope('arbor-cli-');

beforeAll(() => {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: build first (npx tsc -p tsconfig.json)`);
});

/** `arbor run <spec>` in a fresh temp dir, with its control socket there; TMPDIR keeps its latest-run file there too. */
function runArbor(spec: string, dir = tempDir()): Arbor {
  const arbor = spawnArborRun(spec, dir);
  started.push(arbor);
  return arbor;
}

async function runningExample(): Promise<Arbor> {
  const arbor = runArbor(EXAMPLE);
  await arbor.line((l) => l.event === 'supervisor_started' && l.supervisor === 'root', 'the root started');
  return arbor;
}

async function status(arbor: Arbor): Promise<SupervisorStatus> {
  const client = new ControlClient(arbor.control);
  try {
    return (await client.request('status')) as SupervisorStatus;
  } finally {
    client.close();
  }
}

/** Polls until `probe` returns a value: for facts no log line announces. */
async function eventually<T>(probe: () => Promise<T | undefined>, what: string, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

function workerPids(node: SupervisorStatus): number[] {
  return node.children.flatMap((c) => [
    ...(c.type === 'worker' && c.pid !== undefined ? [c.pid] : []),
    ...(c.supervisor ? workerPids(c.supervisor) : []),
  ]);
}

/** Sends raw bytes to the control socket; collects response lines until `expected` arrived or the server closed. */
function rawExchange(
  control: string,
  payload: string,
  expected: number,
): Promise<{ responses: any[]; closed: boolean }> {
  return new Promise((resolve, reject) => {
    const socket = createConnection(control);
    const responses: any[] = [];
    let buffered = '';
    socket.setEncoding('utf8');
    socket.on('error', reject);
    socket.on('data', (chunk: string) => {
      buffered += chunk;
      const parts = buffered.split('\n');
      buffered = parts.pop()!;
      responses.push(...parts.map((p) => JSON.parse(p)));
      if (responses.length >= expected && expected > 0) {
        socket.end();
        resolve({ responses, closed: false });
      }
    });
    socket.on('end', () => resolve({ responses, closed: true }));
    socket.write(payload);
  });
}

function writeModule(dir: string, name: string, source: string): string {
  const file = join(dir, name);
  writeFileSync(file, source);
  return file;
}

describe('arbor run', () => {
  it('starts the example tree; arbor status shows its children with live pids; the control socket is 0600', async () => {
    const arbor = await runningExample();
    expect(arbor.lines[0]).toMatchObject({ event: 'control_listening', control: arbor.control });
    expect(statSync(arbor.control).mode & 0o777).toBe(0o600);

    const json = await arborCommand('status', '--json', '--control', arbor.control);
    expect(json.code).toBe(0);
    const tree = JSON.parse(json.stdout) as SupervisorStatus;
    expect(tree).toMatchObject({ path: 'root', state: 'running', strategy: 'one_for_one' });
    expect(tree.children.map((c) => [c.id, c.type, c.status])).toEqual([
      ['ticker-a', 'worker', 'running'],
      ['ticker-b', 'worker', 'running'],
      ['jobs', 'supervisor', 'running'],
    ]);
    expect(tree.children[2]!.supervisor).toMatchObject({
      path: 'root/jobs',
      strategy: 'simple_one_for_one',
      children: [],
    });
    const logged = arbor.lines.filter((l) => l.event === 'child_started' && l.type === 'worker').map((l) => l.pid);
    expect(workerPids(tree)).toEqual(logged);
    expect(workerPids(tree).every(isAlive)).toBe(true);

    const text = await arborCommand('status', '--control', arbor.control);
    expect(text.stdout).toContain(`ticker-a  worker  running  pid ${tree.children[0]!.pid}  restarts 0`);
    expect(text.stdout).toContain('jobs  supervisor simple_one_for_one  running  [running]');
  });

  it('a worker SIGKILLed is restarted: status shows a new pid and restarts=1', async () => {
    const arbor = await runningExample();
    const before = (await status(arbor)).children[0]!;
    process.kill(before.pid!, 'SIGKILL');
    const after = await eventually(async () => {
      const child = (await status(arbor)).children[0]!;
      return child.status === 'running' && child.pid !== before.pid ? child : undefined;
    }, 'ticker-a runs again');
    expect(after).toMatchObject({ id: 'ticker-a', restarts: 1, lastExit: { signal: 'SIGKILL' } });
    expect(isAlive(after.pid)).toBe(true);
  });

  it('start-child root/jobs adds a dynamic child; restart, stop-child and errors map to the API', async () => {
    const arbor = await runningExample();
    const startChild = await arborCommand('start-child', 'root/jobs', 'nightly', '--control', arbor.control);
    expect(startChild).toMatchObject({
      code: 0,
      stdout: expect.stringMatching(/^started root\/jobs\/job-1 \(pid \d+\)\n$/),
    });
    const jobs = (await status(arbor)).children[2]!.supervisor!;
    expect(jobs.children).toMatchObject([{ id: 'job-1', type: 'worker', status: 'running' }]);
    expect(isAlive(jobs.children[0]!.pid)).toBe(true);

    const oldPid = (await status(arbor)).children[1]!.pid;
    expect((await arborCommand('restart', 'root/ticker-b', '--control', arbor.control)).code).toBe(0);
    const ticker = (await status(arbor)).children[1]!;
    expect(ticker.status).toBe('running');
    expect(ticker.pid).not.toBe(oldPid);

    expect((await arborCommand('stop-child', 'root/jobs/job-1', '--control', arbor.control)).code).toBe(0);
    expect((await status(arbor)).children[2]!.supervisor!.children).toEqual([]);

    const refused = await arborCommand('delete-child', 'root/ticker-a', '--control', arbor.control);
    expect(refused).toMatchObject({ code: 1, stderr: "running: child 'ticker-a' is running\n" });
    const missing = await arborCommand('restart', 'root/nope', '--control', arbor.control);
    expect(missing).toMatchObject({ code: 1, stderr: "not_found: no child 'nope' in 'root'\n" });
  });

  it('start-child of a child that fails to start answers start_failed, not internal', async () => {
    const arbor = spawnArborRun(join(repo, 'test/fixtures/engines/admin-dynamic-spec.mjs'), tempDir());
    started.push(arbor);
    await arbor.line((l) => l.event === 'supervisor_started' && l.supervisor === 'root', 'root started');
    const client = new ControlClient(arbor.control);
    try {
      const failure = await client.request('start-child', { path: 'root/broken' }).then(
        () => undefined,
        (error: unknown) => error,
      );
      expect(failure).toMatchObject({ code: 'start_failed', message: expect.stringContaining('crash before ready') });
    } finally {
      client.close();
    }
    const command = await arborCommand('start-child', 'root/broken', '--control', arbor.control);
    expect(command).toMatchObject({ code: 1, stderr: expect.stringMatching(/^start_failed: /) });
  });

  it('malformed requests get error responses and change nothing', async () => {
    const arbor = await runningExample();
    const before = await status(arbor);
    const snapshot = (s: SupervisorStatus) => s.children.map((c) => [c.id, c.pid, c.restarts, c.status]);

    const { responses } = await rawExchange(
      arbor.control,
      [
        'not json',
        JSON.stringify({ id: 1, op: 'explode' }),
        JSON.stringify({ id: 2, op: 'which', path: 5 }),
        JSON.stringify({ id: 3, op: 'stop-child', path: 'root' }),
        JSON.stringify({ id: 4, op: 'status', extra: true }),
        JSON.stringify({ id: 5, op: 'start-child', path: 'root/jobs', args: [1, 2] }),
        JSON.stringify({ op: 'stop' }),
        '',
      ].join('\n'),
      7,
    );
    const byId = new Map(responses.map((r) => [r.id, r]));
    expect(responses.every((r) => r.ok === false)).toBe(true);
    expect(responses.filter((r) => r.id === null).map((r) => r.error.code)).toEqual(['bad_request', 'bad_request']);
    expect(byId.get(1).error.code).toBe('unknown_op');
    for (const id of [2, 3, 4, 5]) expect(byId.get(id).error.code).toBe('bad_request');

    const oversize = await rawExchange(
      arbor.control,
      `${JSON.stringify({ id: 6, op: 'status', path: 'x'.repeat(100 * 1024) })}\n`,
      0,
    );
    expect(oversize.closed).toBe(true);
    expect(oversize.responses).toMatchObject([{ id: null, ok: false, error: { code: 'too_large' } }]);

    const after = await status(arbor);
    expect(snapshot(after)).toEqual(snapshot(before));
    expect(after.children[2]!.supervisor!.children).toEqual([]);
    expect(arbor.proc.exitCode).toBe(null);
  });

  it('SIGTERM stops the tree gracefully: exit 0, every worker gone, the socket removed', async () => {
    const arbor = await runningExample();
    const client = new ControlClient(arbor.control);
    await client.request('start-child', { path: 'root/jobs', args: ['one'] });
    client.close();
    const pids = workerPids(await status(arbor));
    expect(pids).toHaveLength(3);
    arbor.proc.kill('SIGTERM');
    expect(await arbor.exited).toEqual({ code: 0, signal: null });
    expect(pids.filter(isAlive)).toEqual([]);
    expect(existsSync(arbor.control)).toBe(false);
    expect(arbor.lines.at(-1)).toMatchObject({ event: 'supervisor_stopped', supervisor: 'root', reason: 'normal' });
  });

  it('a second SIGINT during a slow stop kills every child: exit 130, no worker left', async () => {
    const dir = tempDir();
    const spec = writeModule(
      dir,
      'stubborn.mjs',
      `
      import { supervisor, worker } from ${JSON.stringify(ARBOR)};
      export default supervisor({ children: [worker({ id: 'stubborn', module: ${JSON.stringify(fixture('ignore-sigterm.mjs'))}, shutdown: 60000 })] });
    `,
    );
    const arbor = runArbor(spec, dir);
    const started = await arbor.line(
      (l) => l.event === 'child_started' && l.child === 'stubborn',
      'the stubborn worker started',
    );
    await arbor.line((l) => l.event === 'supervisor_started' && l.supervisor === 'root', 'the root started');
    arbor.proc.kill('SIGINT');
    await arbor.line((l) => l.event === 'stop_requested', 'the graceful stop began');
    expect(isAlive(started.pid)).toBe(true);
    arbor.proc.kill('SIGINT');
    expect(await arbor.exited).toEqual({ code: 130, signal: null });
    expect(isAlive(started.pid)).toBe(false);
    expect(arbor.lines.some((l) => l.event === 'stop_forced')).toBe(true);
  });

  it('the root giving up exits 1', async () => {
    const dir = tempDir();
    const spec = writeModule(
      dir,
      'crashing.mjs',
      `
      import { supervisor, worker } from ${JSON.stringify(ARBOR)};
      export default supervisor({ intensity: 1, period: 60000, children: [
        worker({ id: 'crasher', module: ${JSON.stringify(fixture('exit-code.mjs'))}, env: { FIXTURE_EXIT_CODE: '3' } }),
      ] });
    `,
    );
    const arbor = runArbor(spec, dir);
    expect((await arbor.exited).code).toBe(1);
    expect(arbor.lines.map((l) => l.event)).toContain('max_intensity_reached');
    expect(arbor.lines.at(-1)).toMatchObject({ event: 'tree_exited', reason: 'shutdown', exitCode: 1 });
    const pids = arbor.lines.filter((l) => l.event === 'child_started').map((l) => l.pid);
    expect(pids.filter(isAlive)).toEqual([]);
  });

  it('a tree that fails to start exits 1 with the reason, leaving no worker behind', async () => {
    const dir = tempDir();
    const spec = writeModule(
      dir,
      'unstartable.mjs',
      `
      import { supervisor, worker } from ${JSON.stringify(ARBOR)};
      export default supervisor({ children: [
        worker({ id: 'fine', module: ${JSON.stringify(fixture('ignore-sigterm.mjs'))}, shutdown: 'brutal_kill' }),
        worker({ id: 'broken', module: ${JSON.stringify(fixture('crash-before-ready.mjs'))}, env: { FIXTURE_MESSAGE: 'no database' } }),
      ] });
    `,
    );
    const arbor = runArbor(spec, dir);
    expect((await arbor.exited).code).toBe(1);
    // In words, one level: no JSON quoted inside JSON.
    expect(arbor.stderr()).toContain("arbor: the tree failed to start: child 'broken': no database\n");
    expect(arbor.lines.find((l) => l.event === 'tree_start_failed')?.reason).toEqual({
      startFailed: "child 'broken': no database",
    });
    const pids = arbor.lines.filter((l) => l.event === 'child_started').map((l) => l.pid);
    expect(pids).toHaveLength(1);
    expect(pids.filter(isAlive)).toEqual([]);
  });

  it('a bad spec exits 2 and names the bad field', async () => {
    const dir = tempDir();
    const spec = writeModule(
      dir,
      'bad.mjs',
      `
      import { supervisor } from ${JSON.stringify(ARBOR)};
      export default supervisor({ id: 'root', strategy: 'nope' });
    `,
    );
    const arbor = runArbor(spec, dir);
    expect((await arbor.exited).code).toBe(2);
    expect(arbor.stderr()).toMatch(/root\.strategy: unknown strategy 'nope'/);
    expect(existsSync(arbor.control)).toBe(false);
  });

  it('a module that throws on import exits 2 with its message', async () => {
    const dir = tempDir();
    const spec = writeModule(dir, 'throws.mjs', `throw new Error('config file missing: /etc/app.json');\n`);
    const arbor = runArbor(spec, dir);
    expect((await arbor.exited).code).toBe(2);
    expect(arbor.stderr()).toContain('config file missing: /etc/app.json');
  });

  it('a TypeScript spec runs without a build step', async () => {
    const dir = tempDir();
    const spec = writeModule(
      dir,
      'spec.ts',
      `
      import { supervisor, worker, type SupervisorSpec } from ${JSON.stringify(ARBOR)};
      const ticks: number = 1;
      const spec: SupervisorSpec = supervisor({ children: [worker({ id: 'ts-worker', module: ${JSON.stringify(fixture('ignore-sigterm.mjs'))}, shutdown: 'brutal_kill', args: [String(ticks)] })] });
      export default spec;
    `,
    );
    const arbor = runArbor(spec, dir);
    await arbor.line((l) => l.event === 'supervisor_started' && l.supervisor === 'root', 'the root started');
    expect((await status(arbor)).children.map((c) => c.id)).toEqual(['ts-worker']);
    arbor.proc.kill('SIGTERM');
    expect((await arbor.exited).code).toBe(0);
  });
});

describe('arbor client commands', () => {
  it('status with no running arbor exits 1 and says so', async () => {
    const result = await arborCommand('status', '--control', join(tempDir(), 'nothing.sock'));
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^no_arbor: no running arbor at .*nothing\.sock/);
  });

  it('--version prints the package version; a bad command line exits 2 with the usage', async () => {
    expect((await arborCommand('--version')).stdout).toMatch(/^\d+\.\d+\.\d+\n$/);
    const bad = await arborCommand('restart', 'just-an-id');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('Usage:');
  });
});
