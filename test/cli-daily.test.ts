// Small things of `arbor run` and `arbor status` met in daily use: status --json says which run answered; a first
// Ctrl-C on a terminal says what the stop waits for. Real processes, from dist/ as installed.
import { spawn, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { stopBoundMs, stoppingNotice } from '../src/cli/stop-notice.js';
import { listener, supervisor, worker } from '../src/index.js';
import { arborCommand, arborRunScope, CLI, repo, spawnArborRun } from './support/arbor-run.js';
import { fixture } from './support/tree.js';

const ARBOR = pathToFileURL(join(repo, 'dist/index.js')).href;
const HAS_SCRIPT = spawnSync('script', ['--version']).status === 0;
const { runs, tempDir } = arborRunScope('arbor-daily-');

/** Two workers, stopped one after the other: 12 s + 5 s (the default) at most. */
function writeSpec(dir: string): string {
  const spec = join(dir, 'spec.mjs');
  writeFileSync(
    spec,
    `
    import { supervisor, worker } from ${JSON.stringify(ARBOR)};
    export default supervisor({ id: 'root', children: [
      worker({ id: 'slow', module: ${JSON.stringify(fixture('ready.mjs'))}, shutdown: 12000 }),
      worker({ id: 'web', module: ${JSON.stringify(fixture('ready.mjs'))} }),
    ] });
  `,
  );
  return spec;
}

describe('arbor status --json', () => {
  it('says which run it reached: pid, spec, control socket and start time', async () => {
    const dir = tempDir();
    const spec = writeSpec(dir);
    const arbor = spawnArborRun(spec, dir);
    runs.push(arbor);
    await arbor.line((l) => l.event === 'supervisor_started' && l.supervisor === 'root', 'the root started');
    const { code, stdout } = await arborCommand('status', '--json', '--control', arbor.control);
    expect(code).toBe(0);
    const status = JSON.parse(stdout) as { path: string; children: unknown[]; run: Record<string, unknown> };
    expect(status.path).toBe('root');
    expect(status.children).toHaveLength(2);
    expect(status.run).toMatchObject({ pid: arbor.proc.pid, spec, control: arbor.control });
    expect(status.run.startedAt).toBeTypeOf('number');
  });
});

describe('a first Ctrl-C', () => {
  it.skipIf(!HAS_SCRIPT)(
    'on a terminal says on stderr how long the stop may take, and how to force it',
    async () => {
      const dir = tempDir();
      const spec = writeSpec(dir);
      const command = `exec '${process.execPath}' '${CLI}' run '${spec}' --control '${join(dir, 'ctl.sock')}'`;
      const proc = spawn('script', ['-qefc', command, '/dev/null'], {
        stdio: ['pipe', 'pipe', 'pipe'],
        detached: true,
        env: { ...process.env, TMPDIR: dir, TERM: 'xterm', SHELL: '/bin/sh' },
      });
      let output = '';
      proc.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
      const exited = new Promise<number | null>((resolve) => proc.on('close', resolve));
      const until = async (text: string): Promise<void> => {
        const deadline = Date.now() + 30_000;
        while (!output.includes(text)) {
          if (Date.now() > deadline) throw new Error(`no '${text}' in: ${output}`);
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
      };
      try {
        await until('"event":"supervisor_started","supervisor":"root"');
        proc.stdin.write('\x03');
        await until('stopping: up to 17 s, Ctrl-C again to force');
        expect(await exited).toBe(0);
      } finally {
        try {
          process.kill(-proc.pid!, 'SIGKILL');
        } catch {
          // Already gone.
        }
      }
    },
    60_000,
  );

  it('without a terminal prints nothing of the kind', async () => {
    const dir = tempDir();
    const arbor = spawnArborRun(writeSpec(dir), dir);
    runs.push(arbor);
    await arbor.line((l) => l.event === 'supervisor_started' && l.supervisor === 'root', 'the root started');
    arbor.proc.kill('SIGINT');
    expect((await arbor.exited).code).toBe(0);
    expect(arbor.stderr()).not.toContain('stopping:');
  });

  it('bounds the wait by the shutdown values: in turn for a supervisor, at once for a dynamic pool, plus drainDelay', () => {
    const ready = fixture('ready.mjs');
    const spec = supervisor({
      id: 'root',
      drainDelay: 2000,
      children: [
        listener({ id: 'http' }),
        worker({ id: 'a', module: ready, shutdown: 3000 }),
        worker({ id: 'b', module: ready, shutdown: 'brutal_kill' }),
        supervisor({
          id: 'pool',
          strategy: 'simple_one_for_one',
          template: worker({ id: 'job', module: ready, shutdown: 4000 }),
        }),
        supervisor({ id: 'capped', shutdown: 1000, children: [worker({ id: 'c', module: ready, shutdown: 9000 })] }),
      ],
    });
    expect(stopBoundMs(spec)).toBe(3000 + 0 + 4000 + 1000);
    expect(stoppingNotice(spec)).toBe(
      'stopping: up to 10 s (serving 2 s more first: drainDelay), Ctrl-C again to force\n',
    );
    const endless = supervisor({ children: [worker({ id: 'w', module: ready, shutdown: 'infinity' })] });
    expect(stopBoundMs(endless)).toBe(Infinity);
    expect(stoppingNotice(endless)).toBe(
      'stopping: until every child has stopped (a shutdown is infinity), Ctrl-C again to force\n',
    );
  });
});
