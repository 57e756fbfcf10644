// One shelf of standby spares: the spares kept for one start-up (standby.ts), and the running workers of that
// start-up whose death a parked hot spare watches directly (death-socket.ts). Each such worker is watched by at most
// one spare, and each spare watches at most one worker, so that a death has exactly one spare taking its place.
import type { ChildProcess } from 'node:child_process';
import type { Logger } from 'pino';
import type { ListenerLink, WorkerAttachment } from '../child.js';
import type { DeathSocket } from './death-socket.js';
import type { StandbyKey } from './standby-key.js';

/**
 * A running worker that a spare may watch, as its handle gives it to hold(): `eligible` says whether its restart
 * would be certain and immediate now (only then may a spare take its place by itself).
 */
export interface WatchedWorker {
  path: string;
  pid: number;
  death: DeathSocket;
  /** The listener it serves: only a spare armed with that listener's handle watches it. */
  link: ListenerLink;
  eligible(): boolean;
}

export interface Spare {
  child: ChildProcess;
  parked: boolean;
  forget: () => void;
  /**
   * The listener's handle it holds: given as it parked (hot, shared: its takeover is then one small message), or
   * with its promotion. `claim` tells the listener it is a worker now.
   */
  armed?: { link: ListenerLink; attachment: WorkerAttachment; claim?: () => void };
  /** Serving for the worker at this path since that worker's death, until the worker's restart takes it. */
  promotedFor?: string;
  /** The running worker whose death socket it holds: it takes that worker's place by itself when it dies. */
  watching?: WatchedWorker;
  /** The path of the last worker it watched: the only one it may say it took the place of (`arbor:promoted`). */
  watched?: string;
  /** It announced ready (it is a worker now: taken over, or promoted). */
  ready: boolean;
  unclaimed?: NodeJS.Timeout;
}

export interface Shelf {
  key: StandbyKey;
  /** Running workers of this key with a death socket. */
  workers: Set<WatchedWorker>;
  spares: Spare[];
  /** How many spares to keep (the largest count asked for this key). */
  count: number;
  /** Workers of this key currently running: when none are left for LINGER_MS, the spares go. */
  holders: number;
  sweep?: NodeJS.Timeout;
  /** The listener the latest holder serves: hot spares are armed with its handle as they park. */
  listener?: () => ListenerLink | undefined;
}

/** Workers of this key (and their spares) get a death socket: hot, serving a listener, on Linux (/proc). */
export function watchable(key: StandbyKey): boolean {
  return key.mode === 'hot' && key.listen !== undefined && process.platform === 'linux';
}

/**
 * Each parked hot spare armed with a listener's handle watches one running worker of that listener that no spare
 * watches yet, still armed, and whose restart would be certain and immediate: it is sent that worker's death socket.
 */
export function pair(shelf: Shelf, logger: Logger): void {
  if (shelf.key.mode !== 'hot' || shelf.workers.size === 0) return;
  const unwatched = (w: WatchedWorker) => w.death.armed && !shelf.spares.some((s) => s.watching === w);
  for (const spare of shelf.spares) {
    const link = spare.armed?.link;
    if (!spare.parked || link === undefined || spare.watching !== undefined || spare.promotedFor !== undefined)
      continue;
    if (!spare.child.connected) continue;
    const worker = [...shelf.workers].find((w) => w.link === link && unwatched(w) && w.eligible());
    if (worker === undefined) continue;
    spare.watching = worker;
    spare.watched = worker.path;
    // Kept open here: the supervisor disarms it by writing into it.
    spare.child.send({ type: 'arbor:watch', path: worker.path, pid: worker.pid }, worker.death.socket, {
      keepOpen: true,
    });
    logger.debug({ event: 'standby_watching', path: worker.path, pid: spare.child.pid, worker: worker.pid });
  }
}

/**
 * Calls off the spare's watch: true once it cannot take the watched worker's place any more (disarmed while that
 * worker's end was open). False when that worker's end had closed already: the spare may be taking its place.
 */
export function unwatch(spare: Spare): boolean {
  const worker = spare.watching;
  if (worker === undefined) return true;
  if (!worker.death.disarm()) return false;
  spare.watching = undefined;
  if (spare.child.connected) spare.child.send({ type: 'arbor:unwatch' });
  return true;
}

/** A watched worker is gone (its exit was handled): its watcher, unless it took its place, is free again. */
export function forgetWorker(shelf: Shelf, worker: WatchedWorker, logger: Logger): void {
  shelf.workers.delete(worker);
  for (const spare of shelf.spares) {
    if (spare.watching !== worker) continue;
    spare.watching = undefined;
    if (spare.child.connected) spare.child.send({ type: 'arbor:unwatch' });
  }
  pair(shelf, logger);
}
