// Rolling reload: every worker under a path is replaced by a new process loading the code now on disk, batch by
// batch; each new one starts beside the old, and only once it is ready and serving is the old one drained. The
// supervisors do the swapping (their `replaceChildren` call); this room decides the order and stops at the first
// failure, so a bad deploy leaves the old workers serving.
import { batches, workersUnder, type TreeShape, type WorkerRef } from './plan.js';
import type { ReloadEvent } from './events.js';

export interface ReloadOptions {
  /** Workers replaced at once, within one supervisor (default 1): each batch runs beside the old workers. */
  maxSurge?: number;
}

/** What became of one worker (a supervisor's `replaceChildren` answers this). */
export type Replacement =
  | { child: string; outcome: 'replaced'; oldPid: number | undefined; newPid: number | undefined; took: number; retired: Promise<unknown> }
  | { child: string; outcome: 'skipped'; why: string }
  | { child: string; outcome: 'failed'; reason: unknown };

/** What the reload needs of a running tree. */
export interface ReloadTarget {
  /** The supervisor at `path`, or undefined when there is none. */
  shape(path: string): TreeShape | undefined;
  replace(supervisor: string, ids: string[], options: { abort: AbortSignal }): Promise<Replacement[]>;
  publish(event: ReloadEvent): void;
}

export interface ReloadResult {
  path: string;
  replaced: Array<{ supervisor: string; child: string; oldPid: number | undefined; newPid: number | undefined; took: number }>;
  /** Workers not replaced, as `<path> (why)`. */
  skipped: string[];
  /** ms from the start of the reload until the last old worker was gone. */
  took: number;
}

/** A reload in progress, as `status` shows it. */
export interface ReloadProgress {
  path: string;
  /** ms since it began. */
  running: number;
  workers: number;
  replaced: number;
  skipped: number;
  /** Children whose new incarnation is starting, as `<supervisor>/<id>`. */
  starting: string[];
}

export type ReloadErrorCode = 'reload_in_progress' | 'not_found' | 'start_failed' | 'stopped';

export class ReloadError extends Error {
  constructor(readonly code: ReloadErrorCode, message: string) {
    super(`${code}: ${message}`);
    this.name = 'ReloadError';
  }
}

interface Current {
  path: string;
  began: number;
  workers: number;
  replaced: number;
  skipped: number;
  starting: string[];
  abort: AbortController;
}

export class Reloader {
  private current: Current | undefined;
  private closed = false;

  constructor(private readonly target: ReloadTarget, private readonly now: () => number = Date.now) {}

  /** One reload at a time: a second one is refused with `reload_in_progress`, never queued. */
  async reload(path: string, options: ReloadOptions = {}): Promise<ReloadResult> {
    if (this.closed) throw new ReloadError('stopped', 'the tree is stopping');
    if (this.current) throw new ReloadError('reload_in_progress', `a reload of '${this.current.path}' is in progress`);
    const { supervisor, workers } = this.locate(path);
    const maxSurge = Math.max(1, Math.floor(options.maxSurge ?? 1));
    const current: Current = {
      path, began: this.now(), workers: workers.length, replaced: 0, skipped: 0, starting: [], abort: new AbortController(),
    };
    this.current = current;
    this.target.publish({ event: 'reload_started', supervisor, path, workers: workers.length, maxSurge });
    const result: ReloadResult = { path, replaced: [], skipped: [], took: 0 };
    const retiring: Array<Promise<unknown>> = [];
    try {
      for (const batch of batches(workers, maxSurge)) {
        const failure = await this.replaceBatch(current, batch, result, retiring);
        if (failure) {
          await Promise.all(retiring);
          this.target.publish({
            event: 'reload_failed', supervisor, path, child: failure.child, error: failure.reason,
            replaced: result.replaced.length, took: this.now() - current.began,
          });
          throw new ReloadError(failure.code, `${failure.child}: ${failure.reason}`);
        }
      }
      await Promise.all(retiring);
      result.took = this.now() - current.began;
      this.target.publish({ event: 'reload_finished', supervisor, path, replaced: result.replaced.length, skipped: result.skipped, took: result.took });
      return result;
    } finally {
      this.current = undefined;
    }
  }

  /** What `status` shows: the reload in progress, if any. */
  progress(): ReloadProgress | undefined {
    const c = this.current;
    if (!c) return undefined;
    return { path: c.path, running: this.now() - c.began, workers: c.workers, replaced: c.replaced, skipped: c.skipped, starting: [...c.starting] };
  }

  /** The tree is stopping: the replacements starting are killed, the reload fails with `stopped`, no new one starts. */
  close(): void {
    this.closed = true;
    this.current?.abort.abort();
  }

  private async replaceBatch(
    current: Current,
    batch: WorkerRef[],
    result: ReloadResult,
    retiring: Array<Promise<unknown>>,
  ): Promise<{ child: string; reason: string; code: ReloadErrorCode } | undefined> {
    const supervisor = batch[0]!.supervisor;
    current.starting = batch.map((w) => `${w.supervisor}/${w.id}`);
    let outcomes: Replacement[];
    try {
      outcomes = await this.target.replace(supervisor, batch.map((w) => w.id), { abort: current.abort.signal });
    } catch (error) {
      // The supervisor is shutting down (or gone): nothing more can be replaced under it.
      const reason = error instanceof Error ? error.message : String(error);
      return { child: current.starting[0]!, reason, code: this.closed ? 'stopped' : 'start_failed' };
    } finally {
      current.starting = [];
    }
    let failure: { child: string; reason: string; code: ReloadErrorCode } | undefined;
    for (const outcome of outcomes) {
      const child = `${supervisor}/${outcome.child}`;
      if (outcome.outcome === 'replaced') {
        const { oldPid, newPid, took } = outcome;
        current.replaced += 1;
        result.replaced.push({ supervisor, child: outcome.child, oldPid, newPid, took });
        retiring.push(outcome.retired);
        this.target.publish({ event: 'child_replaced', supervisor, child: outcome.child, oldPid, newPid, took });
      } else if (outcome.outcome === 'skipped') {
        current.skipped += 1;
        result.skipped.push(`${child} (${outcome.why})`);
      } else {
        failure ??= { child, reason: describe(outcome.reason), code: this.closed ? 'stopped' : 'start_failed' };
      }
    }
    return failure;
  }

  /** The workers under `path` (a supervisor, or one worker) and the supervisor that holds them all. */
  private locate(path: string): { supervisor: string; workers: WorkerRef[] } {
    const shape = this.target.shape(path);
    if (shape) return { supervisor: path, workers: workersUnder(shape) };
    const slash = path.lastIndexOf('/');
    const parent = slash > 0 ? this.target.shape(path.slice(0, slash)) : undefined;
    const child = parent?.children.find((c) => c.id === path.slice(slash + 1));
    if (parent && child?.type === 'worker') return { supervisor: parent.path, workers: [{ supervisor: parent.path, id: child.id }] };
    throw new ReloadError('not_found', `no supervisor or worker at '${path}'`);
  }
}

function describe(reason: unknown): string {
  if (typeof reason === 'string') return reason;
  if (reason !== null && typeof reason === 'object' && 'startFailed' in reason) return String(reason.startFailed);
  return JSON.stringify(reason);
}
