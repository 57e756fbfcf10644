// Test support: `arbor run <spec>` as a real process (from dist/, as installed), its JSON log read line by line.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterEach } from 'vitest';
import type { ChaosReport } from '../../src/chaos/report.js';
import { ControlClient } from '../../src/control/client.js';

export const repo = fileURLToPath(new URL('../..', import.meta.url));
export const CLI = join(repo, 'dist/cli/main.js');

export interface LogLine {
  event?: string;
  supervisor?: string;
  child?: string;
  pid?: number;
  address?: string;
  [key: string]: unknown;
}

export interface ArborRun {
  proc: ChildProcess;
  control: string;
  lines: LogLine[];
  stderr: () => string;
  /** Resolves on 'close', after stdout ended: every log line has been read by then. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** The first log line (past or future) that matches; rejects if arbor exits first or after `timeoutMs`. */
  line(match: (line: LogLine) => boolean, what: string, timeoutMs?: number): Promise<LogLine>;
}

/**
 * Spawns `arbor run <spec>` detached (it leads its own process group) with its control socket in `dir`;
 * TMPDIR points there too, so its latest-run file stays out of the way of other runs.
 */
export function spawnArborRun(
  spec: string,
  dir: string,
  env: Record<string, string> = {},
  /**
   * `through`: a command that execs arbor (e.g. systemd-socket-activate …); `args`: more options for `arbor run`;
   * `control: null`: no --control, so the run picks its default socket in its private directory (`control` is then '').
   */
  options: { through?: string[]; args?: string[]; control?: null } = {},
): ArborRun {
  const control = options.control === null ? '' : join(dir, 'ctl.sock');
  const controlArgs = options.control === null ? [] : ['--control', control];
  const argv = [process.execPath, CLI, 'run', spec, ...controlArgs, ...(options.args ?? [])];
  const [command, ...rest] = [...(options.through ?? []), ...argv];
  const proc = spawn(command!, rest, {
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, TMPDIR: dir, XDG_RUNTIME_DIR: '', ...env },
  });
  const lines: LogLine[] = [];
  const waiters = new Set<{ match: (line: LogLine) => boolean; resolve: (line: LogLine) => void }>();
  createInterface({ input: proc.stdout! }).on('line', (text) => {
    const line = JSON.parse(text) as LogLine;
    lines.push(line);
    for (const waiter of waiters) {
      if (!waiter.match(line)) continue;
      waiters.delete(waiter);
      waiter.resolve(line);
    }
  });
  let stderr = '';
  proc.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    proc.on('close', (code, signal) => resolve({ code, signal }));
  });
  return {
    proc,
    control,
    lines,
    exited,
    stderr: () => stderr,
    line: (match, what, timeoutMs = 30_000) => {
      const past = lines.find(match);
      if (past) return Promise.resolve(past);
      return new Promise((resolve, reject) => {
        const fail = (why: string) => () => {
          if (waiters.delete(waiter)) reject(new Error(`${why} before ${what}; stderr: ${stderr.slice(-2000)}`));
        };
        const timer = setTimeout(fail(`timed out (${timeoutMs} ms)`), timeoutMs);
        const waiter = { match, resolve: (line: LogLine) => (clearTimeout(timer), resolve(line)) };
        waiters.add(waiter);
        void exited.then(() => setImmediate(fail('arbor exited')));
      });
    },
  };
}

/** A client command (`arbor status ...`), run to completion. */
export function arborCommand(...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const proc = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    proc.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    proc.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    proc.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** `arbor chaos … --json`, run to completion: its report, and when it exited. Throws unless it exits 0. */
export async function arborChaos(...args: string[]): Promise<{ report: ChaosReport; endedAt: number }> {
  const chaos = await arborCommand('chaos', ...args);
  const endedAt = Date.now();
  if (chaos.code !== 0) throw new Error(`arbor chaos exited ${chaos.code}: ${chaos.stderr}`);
  return { report: JSON.parse(chaos.stdout) as ChaosReport, endedAt };
}

/** One request to the run's control socket, on a connection of its own. */
export async function controlRequest<T>(
  arbor: ArborRun,
  op: Parameters<ControlClient['request']>[0],
  params: Parameters<ControlClient['request']>[1] = {},
): Promise<T> {
  const client = new ControlClient(arbor.control);
  try {
    return (await client.request(op, params)) as T;
  } finally {
    client.close();
  }
}

/**
 * Test clean-up: SIGKILLs an `arbor run`, its process group and every worker its log says it started (workers
 * lead groups of their own), then waits for it to exit.
 */
export async function killArborRun(arbor: ArborRun): Promise<void> {
  const pids = [
    arbor.proc.pid,
    ...arbor.lines.flatMap((l) => [l.event === 'child_started' ? l.pid : undefined, l.newPid as number | undefined]),
  ];
  try {
    process.kill(-arbor.proc.pid!, 'SIGKILL');
  } catch {
    // The group is already empty.
  }
  for (const pid of pids) {
    try {
      if (pid !== undefined) process.kill(pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
  await arbor.exited;
}

/**
 * The `arbor run`s and temp dirs of one test file: push runs onto `runs`, take dirs from `tempDir()`; after each
 * test every run is killed with its workers (killArborRun) and every dir removed.
 */
export function arborRunScope(prefix: string): { runs: ArborRun[]; tempDir: () => string } {
  const runs: ArborRun[] = [];
  const dirs: string[] = [];
  afterEach(async () => {
    await Promise.all(runs.splice(0).map(killArborRun));
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });
  const tempDir = (): string => {
    const dir = mkdtempSync(join(tmpdir(), prefix));
    dirs.push(dir);
    return dir;
  };
  return { runs, tempDir };
}
