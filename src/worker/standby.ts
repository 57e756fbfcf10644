// Standby workers: one pre-forked, parked node process per (execArgv, cwd), so a restart does not wait for node
// to boot — about 90 % of the time between a worker's exit and its replacement serving (DESIGN.md §6). The
// parked process runs no user code until it is handed a worker's module (standby-entry.ts).
import { fork, type ChildProcess } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Logger } from 'pino';
import { guardEnv, guardedExecArgv, processGroups } from './groups.js';

// The entry is compiled JavaScript beside this file; when this module itself runs from TypeScript sources
// (the test suite), the built copy in dist/ is used.
const here = fileURLToPath(import.meta.url);
const ENTRY = here.endsWith('.ts')
  ? join(dirname(here), '../../dist/worker/standby-entry.js')
  : join(dirname(here), 'standby-entry.js');

export interface StandbyKey {
  execArgv: string[];
  cwd?: string;
}

interface Parked {
  child: ChildProcess;
  ready: boolean;
  forget: () => void;
}

export class StandbyPool {
  private readonly parked = new Map<string, Parked>();
  private closed = false;

  constructor(private readonly logger: Logger) {}

  /** A parked process ready to become a worker, or undefined (the caller forks as usual). */
  take(key: StandbyKey): ChildProcess | undefined {
    const id = keyOf(key);
    const entry = this.parked.get(id);
    if (!entry?.ready || !entry.child.connected) return undefined;
    this.parked.delete(id);
    entry.forget();
    entry.child.ref();
    entry.child.channel?.ref();
    return entry.child;
  }

  /** Makes sure a process is parked for this key (after a worker started, so it never delays a start). */
  prime(key: StandbyKey): void {
    const id = keyOf(key);
    if (this.closed || this.parked.has(id)) return;
    processGroups.prepare(this.logger);
    let child: ChildProcess;
    try {
      child = fork(ENTRY, [], {
        env: { ...process.env, ...guardEnv() },
        // Guarded as a worker is: a parked process never outlives the supervisor either.
        execArgv: guardedExecArgv(key.execArgv),
        cwd: key.cwd,
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
        detached: true,
      });
    } catch (error) {
      this.logger.warn({ event: 'standby_fork_failed', error: String(error) });
      return;
    }
    processGroups.adopt(child, this.logger);
    const entry: Parked = { child, ready: false, forget: () => undefined };
    const onMessage = (raw: unknown) => {
      if ((raw as { type?: unknown } | null)?.type === 'arbor:parked') entry.ready = true;
    };
    const onExit = () => {
      if (this.parked.get(id) === entry) this.parked.delete(id);
    };
    child.on('message', onMessage);
    child.once('exit', onExit);
    child.on('error', onExit);
    entry.forget = () => {
      child.off('message', onMessage);
      child.off('exit', onExit);
      child.off('error', onExit);
    };
    // A parked process must not keep the supervisor alive on its own.
    child.unref();
    child.channel?.unref();
    this.parked.set(id, entry);
  }

  /** Pids of the processes parked and ready to take over (for status and tests). */
  parkedPids(): number[] {
    return [...this.parked.values()].filter((e) => e.ready && e.child.pid !== undefined).map((e) => e.child.pid!);
  }

  /** Kills every parked process (when the tree stops). */
  close(): void {
    this.closed = true;
    for (const entry of this.parked.values()) entry.child.kill('SIGKILL');
    this.parked.clear();
  }
}

const keyOf = (key: StandbyKey) => JSON.stringify([key.execArgv, key.cwd ?? null]);
