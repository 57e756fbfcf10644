// Standby workers: spare node processes, forked ahead of need, that take over a restart so it does not wait for
// node to boot (warm) or even for the worker's module to load (hot). A spare is forked exactly as the worker it
// will become — same module, args, env (NODE_OPTIONS included), execArgv and cwd, with ARBOR_WORKER=1 — so spares
// are kept per distinct start-up (one key per child spec, shared by identical workers), `ps` shows the worker's
// own command line, and the orphan checks see it as a worker. standby-entry.ts, preloaded, holds a warm spare
// before any user code runs; a hot spare runs its module up to `serve()` / `ready()` and waits there (runtime.ts).
import { fork, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Logger } from 'pino';
import type { ListenerLink, WorkerAttachment } from '../child.js';
import type { StandbyMode, StandbyOption } from '../types.js';
import { guardEnv, guardedExecArgv, processGroups } from './groups.js';
import { CAPTURED_STDIO, captureOutput, outputOf } from './output.js';
import { loaderExecArgv } from './typescript.js';

// The entry is compiled JavaScript beside this file; when this module itself runs from TypeScript sources
// (the test suite), the built copy in dist/ is used.
const here = fileURLToPath(import.meta.url);
export const STANDBY_ENTRY = here.endsWith('.ts')
  ? join(dirname(here), '../../dist/runtime/standby-entry.js')
  : join(dirname(here), '../runtime/standby-entry.js');

/** Spares of a key nobody runs any more (a deleted child, a dynamic child gone) are killed after this long. */
const LINGER_MS = 5000;

/**
 * A spare promoted for a dying worker is taken by that worker's restart at once; one the supervisor never restarts
 * into (it gave up, or the child was deleted meanwhile) is stopped after this long, and gets this long to drain.
 */
const CLAIM_MS = 10_000;

/** Everything that shapes a worker's start-up: two workers with equal keys can use each other's spares. */
export interface StandbyKey {
  mode: StandbyMode;
  /** Absolute path of the worker's module. */
  module: string;
  args: string[];
  /** The worker's own env (on top of the supervisor's, which is the same for every spare). */
  env: Record<string, string>;
  execArgv: string[];
  cwd?: string;
  /** The listener the worker serves: a hot spare holds its handle before it takes over. */
  listen?: string;
}

/** What status shows of one shelf: the spares kept for one start-up. */
/** The spares kept for one start-up (module, args, env, execArgv, cwd), as `status().spares` lists them. */
export interface SpareShelfInfo {
  /** `warm` or `hot`. */
  mode: StandbyMode;
  /** Absolute path of the module the spares will run. */
  module: string;
  /** The args the spares are forked with. */
  args: string[];
  /** How many spares are kept for it. */
  count: number;
  /** Spares ready to take over. */
  parked: number[];
  /** Spares still booting (or loading the module, hot). */
  booting: number[];
}

export interface StandbyPlan {
  mode: StandbyMode;
  count: number;
}

/** The spec's `standby` value as a plan: `true` is one warm spare; undefined/false is none. */
export function standbyPlan(option: StandbyOption | undefined): StandbyPlan | undefined {
  if (option === undefined || option === false) return undefined;
  if (option === true) return { mode: 'warm', count: 1 };
  if (typeof option === 'string') return { mode: option, count: 1 };
  return { mode: option.mode, count: option.count ?? 1 };
}

interface Spare {
  child: ChildProcess;
  parked: boolean;
  forget: () => void;
  /** A promoted spare got the listener's handle with its promotion. */
  armed?: { link: ListenerLink; attachment: WorkerAttachment };
  /** Serving for the worker at this path since that worker's death, until the worker's restart takes it. */
  promotedFor?: string;
  /** It announced ready since its promotion. */
  ready: boolean;
  claim?: NodeJS.Timeout;
}

/** A spare given to a worker's start. */
export interface TakenSpare {
  child: ChildProcess;
  /** Promoted for this worker already: it knows its path (no takeover to send), and may be serving. */
  promoted: boolean;
  /** It already announced ready (promoted, and listening). */
  ready: boolean;
  /** The attachment to the listener whose handle it holds (the link given to take()). */
  attachment?: WorkerAttachment;
}

interface Shelf {
  key: StandbyKey;
  spares: Spare[];
  /** How many spares to keep (the largest count asked for this key). */
  count: number;
  /** Workers of this key currently running: when none are left for LINGER_MS, the spares go. */
  holders: number;
  sweep?: NodeJS.Timeout;
}

export class StandbyPool {
  private readonly shelves = new Map<string, Shelf>();
  private closed = false;

  constructor(private readonly logger: Logger) {}

  /**
   * A parked spare ready to become the worker at `path`, or undefined (the caller forks as usual): the one promoted
   * for it if any, else one not promoted. A spare armed with another listener's handle than `link` is not given.
   */
  take(key: StandbyKey, path: string, link?: ListenerLink): TakenSpare | undefined {
    const shelf = this.shelves.get(keyOf(key));
    if (!shelf) return undefined;
    const usable = (s: Spare) => s.parked && s.child.connected && (s.armed === undefined || s.armed.link === link);
    const spare =
      shelf.spares.find((s) => s.promotedFor === path && usable(s)) ??
      shelf.spares.find((s) => s.promotedFor === undefined && usable(s));
    if (!spare) return undefined;
    shelf.spares.splice(shelf.spares.indexOf(spare), 1);
    spare.forget();
    clearTimeout(spare.claim);
    spare.child.ref();
    spare.child.channel?.ref();
    return {
      child: spare.child,
      promoted: spare.promotedFor === path,
      ready: spare.ready,
      ...(spare.armed ? { attachment: spare.armed.attachment } : {}),
    };
  }

  /**
   * The worker at `path` is dying by itself and its restart will take a spare: a parked hot spare is told now that
   * it is that worker and given the listener's handle (`link`, shared mode), so it listens and serves the connections
   * waiting in the socket's backlog while the supervisor is still learning of the exit. The restart then takes this
   * spare (take() with the same path); one never taken is stopped after CLAIM_MS. Returns the spare's pid, or
   * undefined (no parked spare).
   */
  promote(key: StandbyKey, path: string, link: ListenerLink): number | undefined {
    const shelf = this.shelves.get(keyOf(key));
    if (!shelf || shelf.key.mode !== 'hot' || shelf.spares.some((s) => s.promotedFor === path)) return undefined;
    const spare = shelf.spares.find((s) => s.parked && s.promotedFor === undefined && s.child.connected);
    if (!spare) return undefined;
    spare.promotedFor = path;
    // The takeover first, then the handle, as a restart's takeover sends them: a handle sent first would hold
    // back every later message to the spare until the spare acknowledged it (node's handle queue).
    spare.child.send({ type: 'arbor:takeover', path });
    try {
      spare.armed = { link, attachment: link.attach(spare.child) };
    } catch (err) {
      this.logger.warn({ event: 'standby_promote_failed', path, pid: spare.child.pid, err });
    }
    spare.claim = setTimeout(() => this.unclaimed(shelf, spare), CLAIM_MS);
    spare.claim.unref();
    this.logger.debug({ event: 'standby_promoted', path, pid: spare.child.pid });
    return spare.child.pid;
  }

  /**
   * A worker with this key is running: keep `count` spares for it. Spares are forked one at a time (the next
   * once the previous is parked), so filling the shelf never competes much with the workers' own starts.
   * Returns the function to call when that worker is gone.
   */
  hold(key: StandbyKey, count: number): () => void {
    const id = keyOf(key);
    let shelf = this.shelves.get(id);
    if (!shelf) this.shelves.set(id, (shelf = { key, spares: [], count, holders: 0 }));
    shelf.count = Math.max(shelf.count, count);
    shelf.holders += 1;
    clearTimeout(shelf.sweep);
    this.fill(id);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.release(id);
    };
  }

  /** Pids of the spares parked and ready to take over (for status, benches and tests). */
  parkedPids(): number[] {
    return [...this.shelves.values()]
      .flatMap((s) => s.spares)
      .filter((s) => s.parked && s.child.pid !== undefined)
      .map((s) => s.child.pid!);
  }

  /** Every shelf with spares or workers to keep them for, for status. */
  describe(): SpareShelfInfo[] {
    return [...this.shelves.values()].map(({ key, count, spares }) => {
      const pids = (parked: boolean) =>
        spares.filter((s) => s.parked === parked && s.child.pid !== undefined).map((s) => s.child.pid!);
      return { mode: key.mode, module: key.module, args: key.args, count, parked: pids(true), booting: pids(false) };
    });
  }

  /** Pids of every spare, parked or still booting. */
  sparePids(): number[] {
    return [...this.shelves.values()]
      .flatMap((s) => s.spares)
      .flatMap((s) => (s.child.pid === undefined ? [] : [s.child.pid]));
  }

  /**
   * Kills the spares of this mode, parked or booting (a reload: hot spares hold the code of before). Shelves are
   * refilled, with what is on disk now, as their workers start again.
   */
  discard(mode: StandbyMode): void {
    for (const shelf of this.shelves.values()) {
      if (shelf.key.mode !== mode) continue;
      for (const spare of shelf.spares.splice(0)) {
        spare.forget();
        spare.child.kill('SIGKILL');
      }
    }
  }

  /** Kills every spare (when the tree stops). */
  close(): void {
    this.closed = true;
    for (const shelf of this.shelves.values()) {
      clearTimeout(shelf.sweep);
      for (const spare of shelf.spares) {
        clearTimeout(spare.claim);
        spare.child.kill('SIGKILL');
      }
    }
    this.shelves.clear();
  }

  private release(id: string): void {
    const shelf = this.shelves.get(id);
    if (!shelf) return;
    shelf.holders -= 1;
    if (shelf.holders > 0) return;
    // Not at once: a restart releases the old worker before its replacement holds the key again.
    shelf.sweep = setTimeout(() => {
      if (shelf.holders > 0 || this.shelves.get(id) !== shelf) return;
      this.shelves.delete(id);
      for (const spare of shelf.spares) spare.child.kill('SIGKILL');
    }, LINGER_MS);
    shelf.sweep.unref();
  }

  private fill(id: string): void {
    const shelf = this.shelves.get(id);
    if (this.closed || !shelf || shelf.holders === 0) return;
    if (shelf.spares.length >= shelf.count || shelf.spares.some((s) => !s.parked)) return;
    const spare = this.forkSpare(shelf.key);
    if (!spare) return;
    shelf.spares.push(spare);
    const onMessage = (raw: unknown) => {
      const type = (raw as { type?: unknown } | null)?.type;
      if (type === 'arbor:ready' && spare.promotedFor !== undefined) spare.ready = true;
      if (type !== 'arbor:parked' || spare.parked) return;
      spare.parked = true;
      this.logger.info({ event: 'standby_parked', mode: shelf.key.mode, pid: spare.child.pid });
      this.fill(id);
    };
    const onGone = () => {
      clearTimeout(spare.claim);
      const at = shelf.spares.indexOf(spare);
      if (at >= 0) shelf.spares.splice(at, 1);
      // Not refilled here: a spare whose module fails to load would be forked again and again. The next worker
      // that starts refills the shelf.
      if (!spare.parked) {
        const { pid, exitCode: code, signalCode: signal } = spare.child;
        const output = outputOf(spare.child);
        // Its last stderr lines say why (a module that does not load): read to the end first.
        void (output?.done() ?? Promise.resolve()).then(() => {
          const stderr = output?.stderrTail() ?? [];
          this.logger.warn({ event: 'standby_exited', pid, code, signal, ...(stderr.length > 0 ? { stderr } : {}) });
        });
      }
    };
    spare.child.on('message', onMessage);
    spare.child.once('exit', onGone);
    spare.child.on('error', onGone);
    spare.forget = () => {
      spare.child.off('message', onMessage);
      spare.child.off('exit', onGone);
      spare.child.off('error', onGone);
    };
  }

  /** A promoted spare whose worker was never restarted: it finishes the requests it has, then goes. */
  private unclaimed(shelf: Shelf, spare: Spare): void {
    const at = shelf.spares.indexOf(spare);
    if (at < 0) return;
    shelf.spares.splice(at, 1);
    spare.forget();
    this.logger.warn({ event: 'standby_unclaimed', path: spare.promotedFor, pid: spare.child.pid });
    if (spare.child.connected) spare.child.send({ type: 'arbor:shutdown', timeout: CLAIM_MS });
    spare.child.kill('SIGTERM');
    const kill = setTimeout(() => spare.child.kill('SIGKILL'), CLAIM_MS);
    kill.unref();
    spare.child.once('exit', () => clearTimeout(kill));
  }

  private forkSpare(key: StandbyKey): Spare | undefined {
    processGroups.prepare(this.logger);
    let child: ChildProcess;
    try {
      child = fork(key.module, key.args, {
        env: { ...process.env, ...key.env, ARBOR_WORKER: '1', ARBOR_STANDBY: key.mode, ...guardEnv() },
        // The guard, then the entry: a warm spare runs nothing of the worker's (its own preloads included) before
        // takeover, and never outlives the supervisor either.
        // TypeScript's loader before the entry: a warm spare's takeover then costs no loader start.
        execArgv: guardedExecArgv([...loaderExecArgv(key.module), '--import', STANDBY_ENTRY, ...key.execArgv]),
        cwd: key.cwd,
        // Read line by line like a worker's; what it prints before its takeover is held for the worker it becomes.
        stdio: CAPTURED_STDIO,
        detached: true,
      });
    } catch (error) {
      this.logger.warn({ event: 'standby_fork_failed', error: String(error) });
      return undefined;
    }
    processGroups.adopt(child, this.logger);
    // A spare must not keep the supervisor alive on its own.
    child.unref();
    child.channel?.unref();
    captureOutput(child).setRef(false);
    return { child, parked: false, ready: false, forget: () => undefined };
  }
}

/** Key order inside env must not matter: two specs with the same variables share spares. */
const keyOf = (key: StandbyKey) =>
  JSON.stringify([
    key.mode,
    key.module,
    key.args,
    Object.entries(key.env).sort(([a], [b]) => (a < b ? -1 : 1)),
    key.execArgv,
    key.cwd ?? null,
    key.listen ?? null,
  ]);

/**
 * Linux: the process has begun to exit (PF_EXITING in /proc/<pid>/stat) or is a zombie. Its IPC channel closing says
 * no more than that it closed the channel; this says it is dying. False where /proc is not there.
 */
export function isExiting(pid: number): boolean {
  if (process.platform !== 'linux') return false;
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return false;
  }
  // pid (comm) state ppid pgrp session tty_nr tpgid flags ...; comm may hold spaces and parentheses.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const PF_EXITING = 0x4;
  return fields[0] === 'Z' || fields[0] === 'X' || (Number(fields[6]) & PF_EXITING) !== 0;
}
