// `arbor status --watch` against a live tree: under a pseudo-terminal (util-linux `script`) it redraws the tree in
// place, a SIGKILLed worker shows up with its new pid and restart count in a later frame, and Ctrl-C restores the
// terminal and exits 0; with stdout on a pipe it prints plain frames, one after another, without escape codes.
// Needs the build (`npm test` builds first): the CLI runs from dist/, as installed.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CLI, repo, spawnArborRun, type ArborRun } from './support/arbor-run.js';

const EXAMPLE = join(repo, 'examples/http-service/spec.js');
const ENTER_SCREEN = '\x1b[?1049h';
const LEAVE_SCREEN = '\x1b[?25h\x1b[?1049l';
const HOME = '\x1b[H';
const HAS_SCRIPT = spawnSync('script', ['--version']).status === 0;

const cleanups: (() => void)[] = [];

beforeAll(() => {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: build first (npx tsc -p tsconfig.json)`);
});

afterEach(() => {
  for (const cleanup of cleanups.splice(0).reverse()) cleanup();
});

function signal(pid: number | undefined, sig: NodeJS.Signals): void {
  try {
    if (pid !== undefined) process.kill(pid, sig);
  } catch {
    // Already gone.
  }
}

/** The example service with two workers (shared listener unless told), stopped (with every worker it started) after the test. */
async function liveTree(env: Record<string, string> = {}): Promise<ArborRun> {
  const dir = mkdtempSync(join(tmpdir(), 'arbor-watch-'));
  const arbor = spawnArborRun(EXAMPLE, dir, { PORT: '0', WORKERS: '2', ...env });
  cleanups.push(() => {
    signal(-arbor.proc.pid!, 'SIGKILL');
    for (const line of arbor.lines)
      if (line.event === 'child_started' && line.pid !== undefined) signal(line.pid, 'SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });
  await arbor.line((l) => l.event === 'supervisor_started' && l.supervisor === 'root', 'the root started');
  return arbor;
}

/** A process whose output accumulates; `until` waits (up to 30 s) for the output to satisfy a condition. */
function watched(proc: ChildProcess): {
  output: () => string;
  until: <T>(find: (output: string) => T | undefined, what: string) => Promise<T>;
  exited: Promise<number | null>;
} {
  let output = '';
  const waiters = new Set<() => void>();
  const onData = (chunk: Buffer): void => {
    output += chunk.toString();
    for (const waiter of waiters) waiter();
  };
  proc.stdout!.on('data', onData);
  proc.stderr!.on('data', onData);
  const exited = new Promise<number | null>((resolve) => proc.on('close', resolve));
  cleanups.push(() => signal(proc.pid, 'SIGKILL'));
  return {
    output: () => output,
    exited,
    until: (find, what) =>
      new Promise((resolve, reject) => {
        const check = (): void => {
          const found = find(output);
          if (found === undefined) return;
          waiters.delete(check);
          clearTimeout(timer);
          resolve(found);
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`timed out waiting for ${what}; output so far:\n${output.slice(-3000)}`));
        }, 30_000);
        waiters.add(check);
        check();
      }),
  };
}

/** The frames drawn so far on the terminal, each as plain lines (escape codes and carriage returns removed). */
function frames(output: string): string[] {
  return (
    output
      .split(HOME)
      .slice(1)
      // eslint-disable-next-line no-control-regex
      .map((frame) => frame.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '').replace(/\r/g, ''))
      .filter((frame) => frame.includes('recent events'))
  );
}

/** web-1's pid and restart count in a frame's tree. */
function web1(frame: string): { pid: number; restarts: number } | undefined {
  const match = /web-1 {2}worker {2}running {2}pid (\d+) {2}restarts (\d+)/.exec(frame);
  return match ? { pid: Number(match[1]), restarts: Number(match[2]) } : undefined;
}

describe('arbor status --watch', () => {
  it.skipIf(!HAS_SCRIPT)(
    `on a terminal: redrawn in place; a killed worker's new pid and restart count appear in a later frame; Ctrl-C restores the terminal${HAS_SCRIPT ? '' : ' (skipped: no util-linux script to make a pseudo-terminal)'}`,
    async () => {
      const arbor = await liveTree();
      // `exec`: without it a shell that does not replace itself (dash, the /bin/sh `script` runs when SHELL is unset)
      // stays in the terminal's foreground group, is killed by the same Ctrl-C, and `script` reports 130 for it.
      const command = `exec '${process.execPath}' '${CLI}' status --watch --control '${arbor.control}'`;
      const proc = spawn('script', ['-qefc', command, '/dev/null'], {
        stdio: ['pipe', 'pipe', 'pipe'],
        env: { ...process.env, TERM: 'xterm', SHELL: '/bin/sh' },
      });
      const watch = watched(proc);

      const before = await watch.until(
        (out) =>
          frames(out)
            .map(web1)
            .find((w) => w !== undefined),
        'a frame with web-1 running',
      );
      expect(watch.output().startsWith(ENTER_SCREEN)).toBe(true);
      expect(before.restarts).toBe(0);
      process.kill(before.pid, 'SIGKILL');

      const after = await watch.until(
        (out) =>
          frames(out).find((frame) => {
            const w = web1(frame);
            return (
              w !== undefined &&
              w.pid !== before.pid &&
              w.restarts === 1 &&
              frame.includes(`child_exited      root/pool/web-1  pid ${before.pid}`)
            );
          }),
        `a frame with web-1's new pid, restarts 1 and the exit of pid ${before.pid} among the recent events`,
      );
      // Live figures of each worker and of the listener's queue, in the same frame.
      expect(after).toMatch(
        /web-1 {2}worker {2}running {2}pid \d+ {2}restarts 1 {2}up \d+s {2}rss \d+\.\d MiB {2}cpu (\d+\.\d%|-)/,
      );
      expect(after).toMatch(
        /web-2 {2}worker {2}running {2}pid \d+ {2}restarts 0 {2}up \d+s {2}rss \d+\.\d MiB {2}cpu \d+\.\d%/,
      );
      expect(after).toMatch(/http {2}listener {2}running {2}127\.0\.0\.1:\d+ shared, 2 serving .* queued \d+/);
      expect(after).toContain(`child_started     root/pool/web-1  pid ${web1(after)!.pid}`);
      // Redrawn in place: every frame starts at the top left, none scrolls the screen.
      expect(frames(watch.output()).length).toBeGreaterThanOrEqual(2);

      proc.stdin!.write('\x03'); // Ctrl-C, turned into SIGINT by the terminal
      expect(await watch.exited).toBe(0);
      expect(watch.output().trimEnd().endsWith(LEAVE_SCREEN)).toBe(true);
    },
    60_000,
  );

  it('without a terminal: plain frames one after another, no escape codes; SIGINT exits 0 (round_robin listener)', async () => {
    const arbor = await liveTree({ LISTENER_MODE: 'round_robin' });
    const proc = spawn(process.execPath, [CLI, 'status', '--watch', '--control', arbor.control], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const watch = watched(proc);
    await watch.until((out) => (out.split('arbor status --watch').length > 2 ? true : undefined), 'two frames');
    proc.kill('SIGINT');
    expect(await watch.exited).toBe(0);
    const output = watch.output();
    expect(output).not.toContain('\x1b');
    const header = output.split('\n').filter((line) => line.startsWith('arbor status --watch'));
    expect(header.length).toBeGreaterThanOrEqual(2);
    expect(
      output.split('\n').filter((line) => line.startsWith('root  supervisor rest_for_one  [running]')).length,
    ).toBe(header.length);
    expect(output).toMatch(/web-2 {2}worker {2}running {2}pid \d+ {2}restarts 0 {2}up \d+s {2}rss \d+\.\d MiB/);
    // round_robin: the listener's own queue and drops.
    expect(output).toMatch(
      /http {2}listener {2}running {2}127\.0\.0\.1:\d+ round_robin, 2 serving .* queued 0 {2}dropped 0/,
    );
  });

  it('--watch applies to status only and not with --json', () => {
    for (const args of [
      ['status', '--watch', '--json'],
      ['restart', 'root/a', '--watch'],
    ]) {
      const result = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });
      expect(result.status).toBe(2);
      expect(result.stderr).toMatch(/--watch/);
    }
  });
});
