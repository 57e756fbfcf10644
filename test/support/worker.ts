// Test support for the worker layer: WorkerHandles on fixtures, and checks that no process is left behind.
import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { pino, type Logger } from 'pino';
import { expect } from 'vitest';
import { StartFailure, type ChildContext } from '../../src/child.js';
import type { ExitReason, WorkerSpec } from '../../src/types.js';
import { WorkerHandle } from '../../src/worker/process.js';

export const workerFixture = (name: string): string => fileURLToPath(new URL(`../fixtures/${name}`, import.meta.url));

export const silentLogger: Logger = pino({ level: 'silent' });

export function workerSpec(module: string, overrides: Partial<WorkerSpec> = {}): WorkerSpec {
  return {
    id: 'w',
    type: 'worker',
    restart: 'permanent',
    shutdown: 5000,
    significant: false,
    module,
    args: [],
    env: {},
    execArgv: [],
    startTimeout: 10_000,
    ...overrides,
  };
}

export interface TestWorker {
  handle: WorkerHandle;
  /** Every reason given to `onExit`, to check it is called exactly once. */
  exits: ExitReason[];
  /** Resolves with the first `onExit` reason. */
  exited: Promise<ExitReason>;
}

const handles: WorkerHandle[] = [];
const processes: ChildProcess[] = [];
const pids: number[] = [];

/** A WorkerHandle on a fixture, killed after the test whatever happens. */
export function newWorker(
  fixtureName: string,
  overrides: Partial<WorkerSpec> = {},
  context: Partial<Omit<ChildContext, 'onExit'>> = {},
): TestWorker {
  const exits: ExitReason[] = [];
  let markExited!: (reason: ExitReason) => void;
  const exited = new Promise<ExitReason>((resolve) => (markExited = resolve));
  const handle = new WorkerHandle(workerSpec(workerFixture(fixtureName), overrides), {
    path: `test/${fixtureName}`,
    logger: silentLogger,
    resolveListener: () => undefined,
    ...context,
    onExit: (reason) => {
      exits.push(reason);
      markExited(reason);
    },
  });
  handles.push(handle);
  return { handle, exits, exited };
}

export async function startWorker(fixtureName: string, overrides: Partial<WorkerSpec> = {}): Promise<TestWorker> {
  const worker = newWorker(fixtureName, overrides);
  await worker.handle.start();
  return worker;
}

/** Processes forked outside a WorkerHandle (raw forks, stand-in supervisors, orphans), killed after the test. */
export function track(child: ChildProcess | number): void {
  if (typeof child === 'number') pids.push(child);
  else processes.push(child);
}

export async function reapAll(): Promise<void> {
  await Promise.all(handles.splice(0).map((handle) => handle.kill()));
  for (const child of processes.splice(0)) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
  for (const pid of pids.splice(0)) if (isAlive(pid)) process.kill(pid, 'SIGKILL');
}

/** The StartFailure reason a start() rejected with. */
export async function startFailureOf(start: Promise<void>): Promise<ExitReason> {
  const error = await start.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(error).toBeInstanceOf(StartFailure);
  return (error as StartFailure).reason;
}

/** The errno code of `kill(pid, 0)`: 'ESRCH' once a process we forked is gone and reaped. */
export function signalZero(pid: number | undefined): string | undefined {
  if (pid === undefined) return 'no pid';
  try {
    process.kill(pid, 0);
    return undefined;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code;
  }
}

/** Alive and not a zombie (an orphan's zombie waits for a foreign parent to reap it: it has exited). */
export function isAlive(pid: number): boolean {
  if (signalZero(pid) !== undefined) return false;
  try {
    return !/^\d+ \(.*\) Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

/** Polls `condition` until it holds, failing after a deadline. */
export async function eventually(condition: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
