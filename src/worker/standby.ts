// Standby workers: spare node processes, forked ahead of need, that take over a restart so it does not wait for
// node to boot (warm) or even for the worker's module to load (hot). A spare is forked exactly as the worker it
// will become — same module, args, env (NODE_OPTIONS included), execArgv and cwd, with ARBOR_WORKER=1 — so spares
// are kept per distinct start-up (one key per child spec, shared by identical workers), `ps` shows the worker's
// own command line, and the orphan checks see it as a worker. standby-entry.ts, preloaded, holds a warm spare
// before any user code runs; a hot spare runs its module up to `serve()` / `ready()` and waits there (runtime.ts).
import type { ChildProcess } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Logger } from 'pino';
import type { ListenerLink, WorkerAttachment } from '../child.js';
import { parseWorkerMessage } from '../protocol.js';
import type { StandbyMode } from '../types.js';
import { DEATH_STDIO, openDeathSocket } from './death-socket.js';
import { processGroups } from './groups.js';
import { forkGroupLeader } from './group-fork.js';
import { CAPTURED_STDIO, captureOutput, outputOf } from './output.js';
import { keyOf, type StandbyKey } from './standby-key.js';
import { forgetWorker, pair, unwatch, watchable, type Shelf, type Spare, type WatchedWorker } from './standby-shelf.js';
import { loaderExecArgv } from './typescript.js';

export { standbyPlan, type StandbyKey, type StandbyPlan } from './standby-key.js';
export { watchable, type WatchedWorker } from './standby-shelf.js';

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

/** How long a parked spare has to give a closing listener's handle back before it is killed instead. */
const GIVE_BACK_MS = 1000;

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

export class StandbyPool {
  private readonly shelves = new Map<string, Shelf>();
  private closed = false;

  constructor(private readonly logger: Logger) {}

  /**
   * A parked spare ready to become the worker at `path`, or undefined (the caller forks as usual): the one promoted
   * for it if any, else the one that watched it (it may be taking its place right now), else one watching no worker,
   * else one whose watch can be called off for sure. A spare armed with another listener's handle than `link` is not
   * given.
   */
  take(key: StandbyKey, path: string, link?: ListenerLink): TakenSpare | undefined {
    const shelf = this.shelves.get(keyOf(key));
    if (!shelf) return undefined;
    const usable = (s: Spare) => s.parked && s.child.connected && (s.armed === undefined || s.armed.link === link);
    const free = (s: Spare) => s.promotedFor === undefined && usable(s);
    const watcher = shelf.spares.find((s) => free(s) && s.watching?.path === path);
    if (watcher !== undefined) unwatch(watcher);
    const spare =
      shelf.spares.find((s) => s.promotedFor === path && usable(s)) ??
      watcher ??
      shelf.spares.find((s) => free(s) && s.watching === undefined) ??
      shelf.spares.find((s) => free(s) && unwatch(s));
    if (!spare) return undefined;
    shelf.spares.splice(shelf.spares.indexOf(spare), 1);
    spare.forget();
    clearTimeout(spare.unclaimed);
    spare.armed?.claim?.();
    spare.child.ref();
    spare.child.channel?.ref();
    // Another parked spare may watch the worker this one watched, or the one it was taken for.
    pair(shelf, this.logger);
    return {
      child: spare.child,
      promoted: spare.promotedFor === path,
      ready: spare.ready,
      ...(spare.armed ? { attachment: spare.armed.attachment } : {}),
    };
  }

  /**
   * The worker at `path` is dying by itself and its restart will take a spare: a parked hot spare is told now that
   * it is that worker (it holds `link`'s handle already, or is given it now), so it listens and serves the
   * connections waiting in the socket's backlog while the supervisor is still learning of the exit. The restart then
   * takes this spare (take() with the same path); one never taken is stopped after CLAIM_MS. Returns the spare's
   * pid, or undefined (no parked spare).
   */
  promote(key: StandbyKey, path: string, link: ListenerLink): number | undefined {
    const shelf = this.shelves.get(keyOf(key));
    if (!shelf || shelf.key.mode !== 'hot' || shelf.spares.some((s) => s.promotedFor === path)) return undefined;
    const free = (s: Spare) => s.parked && s.promotedFor === undefined && s.child.connected;
    const spare =
      // The one watching it may have taken its place already: this takeover then changes nothing.
      shelf.spares.find((s) => free(s) && s.watching?.path === path) ??
      shelf.spares.find((s) => free(s) && s.watching === undefined && s.armed?.link === link) ??
      shelf.spares.find((s) => free(s) && s.watching === undefined && s.armed === undefined) ??
      shelf.spares.find((s) => free(s) && s.armed?.link === link && unwatch(s));
    if (!spare) return undefined;
    this.promoted(shelf, spare, path, 'supervisor');
    // The takeover first, then the handle if it has none yet: a handle sent first would hold back every later
    // message to the spare until the spare acknowledged it (node's handle queue).
    spare.child.send({ type: 'arbor:takeover', path });
    if (spare.armed === undefined) {
      try {
        spare.armed = { link, attachment: link.attach(spare.child) };
      } catch (err) {
        this.logger.warn({ event: 'standby_promote_failed', path, pid: spare.child.pid, err });
      }
    }
    return spare.child.pid;
  }

  /** The spare serves for the worker at `path` from now on, until that worker's restart takes it (or CLAIM_MS). */
  private promoted(shelf: Shelf, spare: Spare, path: string, by: 'supervisor' | 'spare'): void {
    spare.promotedFor = path;
    spare.watching = undefined;
    spare.unclaimed = setTimeout(() => this.unclaimed(shelf, spare), CLAIM_MS);
    spare.unclaimed.unref();
    this.logger.debug({ event: 'standby_promoted', path, pid: spare.child.pid, by });
  }

  /**
   * A supervisor's flags changed (a reload): its workers may not restart alone any more, so no spare may take their
   * place by itself. Their next incarnations are watched again if they qualify then.
   */
  disarmUnder(supervisorPath: string): void {
    for (const shelf of this.shelves.values()) {
      for (const worker of shelf.workers) if (worker.path.startsWith(`${supervisorPath}/`)) worker.death.disarm();
      for (const spare of shelf.spares) if (spare.watching?.death.armed === false) unwatch(spare);
    }
  }

  /**
   * A worker with this key is running: keep `count` spares for it. Spares are forked one at a time (the next
   * once the previous is parked), so filling the shelf never competes much with the workers' own starts.
   * Returns the function to call when that worker is gone.
   */
  hold(key: StandbyKey, count: number, listener?: () => ListenerLink | undefined, watched?: WatchedWorker): () => void {
    const id = keyOf(key);
    let shelf = this.shelves.get(id);
    if (!shelf) this.shelves.set(id, (shelf = { key, workers: new Set(), spares: [], count, holders: 0 }));
    shelf.count = Math.max(shelf.count, count);
    if (listener !== undefined) {
      shelf.listener = listener;
      for (const spare of shelf.spares) if (spare.parked) this.arm(shelf, spare);
    }
    shelf.holders += 1;
    clearTimeout(shelf.sweep);
    if (watched !== undefined) shelf.workers.add(watched);
    this.fill(id);
    pair(shelf, this.logger);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      if (watched !== undefined) forgetWorker(shelf, watched, this.logger);
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
        clearTimeout(spare.unclaimed);
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
      const message = parseWorkerMessage(raw);
      // A spare announces ready only once it is a worker (taken over, or promoted).
      if (message?.type === 'arbor:ready') spare.ready = true;
      if (message?.type === 'arbor:promoted' && spare.promotedFor === undefined && message.path === spare.watched) {
        this.promoted(shelf, spare, message.path, 'spare');
        pair(shelf, this.logger);
      }
      if (message?.type === 'arbor:unwatched' && message.path === spare.watched) {
        const { path, reason } = message;
        this.logger.debug({ event: 'standby_unwatched', path, pid: spare.child.pid, reason });
        // Its death socket says nothing more: that worker is not watched again.
        spare.watching?.death.disarm();
        if (spare.watching?.path === path) spare.watching = undefined;
        pair(shelf, this.logger);
      }
      if (message?.type !== 'arbor:parked' || spare.parked) return;
      spare.parked = true;
      this.arm(shelf, spare);
      this.logger.info({ event: 'standby_parked', mode: shelf.key.mode, pid: spare.child.pid });
      pair(shelf, this.logger);
      this.fill(id);
    };
    const onGone = () => {
      clearTimeout(spare.unclaimed);
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

  /** A parked hot spare of a shared listener's worker is given the listener's handle now (ListenerLink.arm). */
  private arm(shelf: Shelf, spare: Spare): void {
    const link = shelf.key.mode === 'hot' ? shelf.listener?.() : undefined;
    if (link?.arm === undefined || spare.armed !== undefined || !spare.child.connected) return;
    const attachment = link.arm(spare.child, () => this.giveBack(shelf, spare, link));
    spare.armed = { link, attachment, claim: attachment.claim };
  }

  /**
   * The listener is closing: a parked spare closes its copy of the handle (and is armed again by the next worker to
   * hold the shelf); a promoted one, serving on the old socket, or one that does not answer in time, is killed.
   * Resolves once the copy is closed or the spare is gone.
   */
  private giveBack(shelf: Shelf, spare: Spare, link: ListenerLink): Promise<void> {
    // Without the handle it cannot serve: its watch ends too (and one that fired already is dropped below).
    if (!unwatch(spare)) spare.watching = undefined;
    spare.armed?.attachment.detach();
    spare.armed = undefined;
    const { child } = spare;
    if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        child.off('message', onMessage);
        child.off('exit', done);
        resolve();
      };
      const onMessage = (raw: unknown): void => {
        const m = raw as { type?: unknown; listener?: unknown } | null;
        if (m?.type === 'arbor:revoked' && m.listener === link.id) done();
      };
      const timer = setTimeout(() => this.drop(shelf, spare), GIVE_BACK_MS);
      child.on('message', onMessage);
      child.once('exit', done);
      if (spare.promotedFor !== undefined || !child.connected) this.drop(shelf, spare);
      else child.send({ type: 'arbor:revoke', listener: link.id });
    });
  }

  /** Ends a spare that must not be taken over any more. */
  private drop(shelf: Shelf, spare: Spare): void {
    const at = shelf.spares.indexOf(spare);
    if (at >= 0) shelf.spares.splice(at, 1);
    spare.forget();
    clearTimeout(spare.unclaimed);
    spare.child.kill('SIGKILL');
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
    const watched = processGroups.prepare(this.logger);
    let child: ChildProcess;
    try {
      // Guarded as a worker is: it never outlives the supervisor either.
      child = forkGroupLeader(
        key.module,
        key.args,
        {
          env: { ...process.env, ...key.env, ARBOR_WORKER: '1', ARBOR_STANDBY: key.mode },
          // The entry first: a warm spare runs nothing of the worker's (its own preloads included) before takeover.
          // TypeScript's loader before the entry: a warm spare's takeover then costs no loader start.
          execArgv: [...loaderExecArgv(key.module), '--import', STANDBY_ENTRY, ...key.execArgv],
          cwd: key.cwd,
          // Read line by line like a worker's; what it prints before its takeover is held for the worker it
          // becomes. A hot spare of a listener's worker has a death socket as that worker has: it is one once it
          // takes over.
          stdio: watchable(key) ? DEATH_STDIO : CAPTURED_STDIO,
        },
        watched,
      );
    } catch (error) {
      this.logger.warn({ event: 'standby_fork_failed', error: String(error) });
      return undefined;
    }
    processGroups.adopt(child, this.logger);
    if (watchable(key)) openDeathSocket(child);
    // A spare must not keep the supervisor alive on its own.
    child.unref();
    child.channel?.unref();
    captureOutput(child).setRef(false);
    return { child, parked: false, ready: false, forget: () => undefined };
  }
}
