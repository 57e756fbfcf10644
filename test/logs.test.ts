// A worker's output as a user of `arbor run` sees it: every line a JSON log record naming the child, its pid and
// stream; `arbor logs` to read one child or a subtree (a dead incarnation's last lines included) and to follow it;
// a flood bounded; a failed start explained by the worker's own stderr. Real processes, from dist/ as installed.
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  arborCommand,
  arborRunScope,
  CLI,
  repo,
  spawnArborRun,
  type ArborRun,
  type LogLine,
} from './support/arbor-run.js';

const ARBOR = pathToFileURL(join(repo, 'dist/index.js')).href;
const CHATTY = join(repo, 'test/fixtures/chatty.mjs');
const { runs, tempDir } = arborRunScope('arbor-logs-');

/** A spec with one chatty worker at root/pool/web-1 (and a quiet sibling subtree root/other/w). */
function writeSpec(dir: string, env: Record<string, string> = {}, extra = ''): string {
  const spec = join(dir, 'spec.mjs');
  writeFileSync(
    spec,
    `
    import { supervisor, worker } from ${JSON.stringify(ARBOR)};
    export default supervisor({ id: 'root', intensity: 10, period: 10000, children: [
      supervisor({ id: 'pool', intensity: 10, children: [
        worker({ id: 'web-1', module: ${JSON.stringify(CHATTY)}, env: ${JSON.stringify(env)} ${extra} }),
      ] }),
      supervisor({ id: 'other', children: [worker({ id: 'w', module: ${JSON.stringify(CHATTY)}, env: { CHATTY_LONG: '10' } })] }),
    ] });
  `,
  );
  return spec;
}

function run(env: Record<string, string> = {}, args: string[] = [], extra = ''): { arbor: ArborRun; dir: string } {
  const dir = tempDir();
  const arbor = spawnArborRun(writeSpec(dir, env, extra), dir, {}, { args });
  runs.push(arbor);
  return { arbor, dir };
}

const started = (arbor: ArborRun) =>
  arbor.line((l) => l.event === 'supervisor_started' && l.supervisor === 'root', 'the root started');
const outputOf = (arbor: ArborRun, path: string) => arbor.lines.filter((l) => l.event === 'output' && l.path === path);

describe('captured output', () => {
  it("records each line of a worker's stdout and stderr with its path, pid and stream; JSON lines as objects", async () => {
    const { arbor } = run();
    await started(arbor);
    const web = await arbor.line((l) => l.event === 'child_started' && l.child === 'web-1', 'web-1 started');
    const pid = web.pid!;
    // The harness parses every stdout line as JSON: a raw line would have failed it already.
    await arbor.line(
      (l) => l.event === 'output' && l.path === 'root/pool/web-1' && l.stream === 'stderr',
      'the stderr line',
    );
    const lines = outputOf(arbor, 'root/pool/web-1');
    expect(lines).toContainEqual(
      expect.objectContaining({
        pid,
        stream: 'stdout',
        line: `hello from ${pid}`,
        supervisor: 'root/pool',
        child: 'web-1',
      }),
    );
    expect(lines).toContainEqual(
      expect.objectContaining({ pid, stream: 'stderr', line: `warning from ${pid}`, level: 40 }),
    );
    expect(lines).toContainEqual(
      expect.objectContaining({
        pid,
        stream: 'stdout',
        record: expect.objectContaining({ msg: 'pino line', answer: 42 }),
      }),
    );
    const long = lines.find((l) => typeof l.line === 'string' && l.line.startsWith('xxx'))!;
    expect((long.line as string).length).toBe(16 * 1024);
    expect(long.truncated).toBe(40000 - 16 * 1024);
  });

  it('--pretty prefixes each line of output with [path pid]', async () => {
    const dir = tempDir();
    const spec = writeSpec(dir, { CHATTY_LONG: '10' });
    const proc = spawn(process.execPath, [CLI, 'run', spec, '--control', join(dir, 'ctl.sock'), '--pretty'], {
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, TMPDIR: dir },
    });
    let text = '';
    const exited = new Promise((resolve) => proc.on('close', resolve));
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no prefixed line in: ${text}`)), 30_000);
        proc.stdout.on('data', (chunk: Buffer) => {
          text += chunk.toString();
          if (
            /\[root\/pool\/web-1 \d+\] hello from \d+/.test(text) &&
            /\[root\/other\/w \d+\] warning from/.test(text)
          ) {
            clearTimeout(timer);
            resolve();
          }
        });
      });
      expect(text).toMatch(/\[root\/pool\/web-1 \d+\] pino line \{"answer":42\}/);
    } finally {
      proc.kill('SIGTERM');
      await exited;
    }
  });

  it("arbor logs prints one child's or a subtree's recent lines, a dead incarnation's included, and -f follows", async () => {
    const { arbor } = run({ CHATTY_LONG: '10' });
    await started(arbor);
    const first = (await arbor.line((l) => l.event === 'child_started' && l.child === 'web-1', 'web-1 started')).pid!;
    await arbor.line((l) => l.event === 'output' && l.path === 'root/other/w' && l.stream === 'stderr', 'w printed');
    await arbor.line(
      (l) => l.event === 'output' && l.path === 'root/pool/web-1' && l.stream === 'stderr',
      'web-1 printed',
    );

    const subtree = await arborCommand('logs', 'root/pool', '--control', arbor.control);
    expect(subtree.code).toBe(0);
    expect(subtree.stdout).toContain(`[root/pool/web-1 ${first}] hello from ${first}\n`);
    expect(subtree.stdout).not.toContain('root/other');
    expect(subtree.stderr).toContain(`[root/pool/web-1 ${first}] warning from ${first}\n`);
    const all = await arborCommand('logs', '--control', arbor.control);
    expect(all.stdout).toContain('[root/other/w ');
    const json = await arborCommand('logs', 'root/pool/web-1', '-n', '2', '--json', '--control', arbor.control);
    const records = json.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as LogLine);
    expect(records).toHaveLength(2);
    expect(records.every((r) => r.path === 'root/pool/web-1' && r.pid === first && typeof r.seq === 'number')).toBe(
      true,
    );

    // Follow, then kill the worker: the follower sees the new incarnation's lines as they come.
    const follower = spawn(
      process.execPath,
      [CLI, 'logs', 'root/pool/web-1', '-f', '-n', '1', '--control', arbor.control],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let followed = '';
    follower.stdout.on('data', (chunk: Buffer) => (followed += chunk.toString()));
    let followerErr = '';
    follower.stderr.on('data', (chunk: Buffer) => (followerErr += chunk.toString()));
    const followerExited = new Promise((resolve) => follower.on('close', resolve));
    try {
      // Once it follows (it printed the one recent line asked for, on stdout or stderr), kill the worker.
      const following = Date.now() + 30_000;
      while (!`${followed}${followerErr}`.includes(`[root/pool/web-1 ${first}]`)) {
        if (Date.now() > following) throw new Error(`the follower printed no recent line: ${followed} ${followerErr}`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      const followedBeforeKill = followed.length;
      const followerErrBeforeKill = followerErr.length;
      process.kill(first, 'SIGKILL');
      const second = (
        await arbor.line(
          (l) => l.event === 'child_started' && l.child === 'web-1' && l.pid !== first,
          'web-1 restarted',
        )
      ).pid!;
      const deadline = Date.now() + 20_000;
      while (!followed.includes(`[root/pool/web-1 ${second}] hello from ${second}`)) {
        if (Date.now() > deadline)
          throw new Error(`the follower did not print the new incarnation's line: ${followed}`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      // Only new lines after the kill: nothing of the dead incarnation is printed again.
      expect(followed.slice(followedBeforeKill)).not.toContain(`hello from ${first}`);
      expect(followed.slice(followedBeforeKill)).not.toContain(`${first}]`);
      expect(followerErr.slice(followerErrBeforeKill)).not.toContain(`${first}]`);
      // The dead incarnation's lines are still there, before the new one's.
      const after = await arborCommand('logs', 'root/pool/web-1', '--control', arbor.control);
      const at = (text: string) => after.stdout.indexOf(text);
      expect(at(`[root/pool/web-1 ${first}] hello from ${first}`)).toBeGreaterThanOrEqual(0);
      expect(at(`[root/pool/web-1 ${second}] hello from ${second}`)).toBeGreaterThan(at(`hello from ${first}`));
    } finally {
      follower.kill('SIGKILL');
      await followerExited;
    }
  });

  it('a flood of output is counted and dropped, and never holds up a restart or the control socket', async () => {
    const { arbor } = run({ CHATTY_MODE: 'flood' });
    await started(arbor);
    const first = (await arbor.line((l) => l.event === 'child_started' && l.child === 'web-1', 'web-1 started')).pid!;
    const dropped = await arbor.line(
      (l) => l.event === 'output_dropped' && l.path === 'root/pool/web-1',
      'a drop summary',
      30_000,
    );
    expect(dropped.lines).toBeGreaterThan(0);
    expect(dropped.bytes).toBeGreaterThan(0);
    // The supervisor still answers and restarts while the flood goes on.
    const status = await arborCommand('status', '--json', '--control', arbor.control);
    expect(status.code).toBe(0);
    const gone = arbor.lines.find((l) => l.event === 'child_exited' && l.pid === first);
    expect(gone, `web-1 exited by itself: ${JSON.stringify(gone)}`).toBeUndefined();
    process.kill(first, 'SIGKILL');
    await arbor.line(
      (l) => l.event === 'child_started' && l.child === 'web-1' && l.pid !== first,
      'web-1 restarted',
      30_000,
    );
    // Lines kept: at most the burst plus the sustained rate over the time the run has lived.
    const kept = outputOf(arbor, 'root/pool/web-1').length;
    const lived = (Date.now() - (arbor.lines[0]!.time as number)) / 1000;
    expect(kept).toBeLessThanOrEqual(2 * 1000 + 1000 * lived);
  });

  it("a worker's grandchild holding its pipes open does not hold up its restart", async () => {
    const { arbor } = run({ CHATTY_MODE: 'grandchild', CHATTY_LONG: '10' });
    await started(arbor);
    const first = (await arbor.line((l) => l.event === 'child_started' && l.child === 'web-1', 'web-1 started')).pid!;
    const announced = await arbor.line(
      (l) => l.event === 'output' && typeof l.line === 'string' && l.line.startsWith('grandchild '),
      'the grandchild',
    );
    const grandchild = Number((announced.line as string).split(' ')[1]);
    try {
      process.kill(first, 'SIGKILL');
      const exited = await arbor.line((l) => l.event === 'child_exited' && l.pid === first, 'web-1 exited');
      const restarted = await arbor.line(
        (l) => l.event === 'child_started' && l.child === 'web-1' && l.pid !== first,
        'web-1 restarted',
      );
      // The grandchild (its own session) still holds the pipes: the exit is taken after a short grace, not when it dies.
      expect(isAlive(grandchild)).toBe(true);
      expect((restarted.time as number) - (exited.time as number)).toBeLessThan(5000);
    } finally {
      try {
        process.kill(grandchild, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
  });
});

describe('start failures', () => {
  it("say why: a worker that exits before ready has its last stderr lines in start_failed and in arbor's message", async () => {
    const { arbor } = run({ CHATTY_MODE: 'die' });
    const { code } = await arbor.exited;
    expect(code).toBe(1);
    const failed = arbor.lines.find((l) => l.event === 'start_failed' && l.child === 'web-1')!;
    expect(failed.reason).toEqual({
      startFailed: 'exited with code 3',
      stderr: ['Error: cannot reach the database at db:5432'],
    });
    expect(arbor.stderr()).toContain('Error: cannot reach the database at db:5432');
    // Its stdout line was logged, attributed, before the failure.
    expect(
      arbor.lines.some(
        (l) =>
          l.event === 'output' &&
          l.path === 'root/pool/web-1' &&
          typeof l.line === 'string' &&
          l.line.startsWith('starting '),
      ),
    ).toBe(true);
  });
});

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
