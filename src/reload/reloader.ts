// Reload: the spec read anew is applied first (children added, removed, changed: spec-plan.ts decides, apply-spec.ts
// acts), then every worker under a path is replaced by a new process loading the code now on disk, batch by
// batch; each new one starts beside the old, and only once it is ready and serving is the old one drained. The
// supervisors do the swapping (their `replaceChildren` call); this room decides the order and stops at the first
// failure, so a bad deploy leaves the old workers serving.
import type { SupervisorSpec } from '../types.js';
import { batches, workersUnder, type TreeShape, type WorkerRef } from './plan.js';
import { applySpecSteps, type SpecTarget } from './apply-spec.js';
import {
  describeStep,
  planSpecChange,
  refuseRemovedPools,
  specAfter,
  splitByPath,
  type SpecStep,
} from './spec-plan.js';
import type { ReloadEvent } from './events.js';

/** Options of `tree.reload()`. */
export interface ReloadOptions {
  /** Workers replaced at once, within one supervisor (default 1): each batch runs beside the old workers. */
  maxSurge?: number;
  /**
   * The tree's new spec, applied before the workers are replaced. Default: the spec read anew from its module when
   * the tree has one (`arbor run`); an embedded tree without one reloads code only.
   */
  spec?: SupervisorSpec;
  /** Plan only: nothing changes; the result lists the spec's changes and the workers a reload would replace. */
  dryRun?: boolean;
}

/** What became of one worker (a supervisor's `replaceChildren` answers this). */
export type Replacement =
  | {
      child: string;
      outcome: 'replaced';
      oldPid: number | undefined;
      newPid: number | undefined;
      took: number;
      retired: Promise<unknown>;
    }
  | { child: string; outcome: 'skipped'; why: string }
  | { child: string; outcome: 'failed'; reason: unknown };

/** What the reload needs of a running tree. */
export interface ReloadTarget {
  /** The supervisor at `path`, or undefined when there is none. */
  shape(path: string): TreeShape | undefined;
  replace(supervisor: string, ids: string[], options: { abort: AbortSignal }): Promise<Replacement[]>;
  publish(event: ReloadEvent): void;
  /** The spec the tree was started with: the base the first reload's spec is compared to. */
  startedWith(): SupervisorSpec;
  /** The spec read anew (a fresh import of its module); resolves undefined when the tree has no spec module. */
  readSpec?: () => Promise<unknown>;
  /** Throws an error naming every problem of a spec that cannot start. */
  validate(spec: unknown): SupervisorSpec;
  /** The tree's calls that carry out a spec's changes. */
  calls: SpecTarget;
}

/** What `tree.reload()` resolves with. */
export interface ReloadResult {
  /** What was reloaded. */
  path: string;
  /** Every worker replaced, in the order they were. */
  replaced: Array<{
    /** The worker's supervisor. */
    supervisor: string;
    /** The worker's id. */
    child: string;
    /** The pid of the old incarnation. */
    oldPid: number | undefined;
    /** The pid of the new one. */
    newPid: number | undefined;
    /** ms until the new one was ready. */
    took: number;
  }>;
  /** Workers not replaced, as `<path> (why)`. */
  skipped: string[];
  /** ms from the start of the reload until the last old worker was gone. */
  took: number;
  /** The spec's changes applied (or, dry run, to apply), in order, in words. */
  changes: string[];
  /** Changes of the spec outside `path`, left for a reload of a path that holds them. */
  pending: string[];
  /** Where the running tree differs from the new spec after it (e.g. the order of children), in words. */
  notes: string[];
  /** A dry run: nothing was changed. */
  dryRun?: true;
  /** Dry run: the workers a reload would replace, as paths. */
  workers?: string[];
}

/** A reload in progress, as `status` shows it. */
export interface ReloadProgress {
  /** What is being reloaded. */
  path: string;
  /** ms since it began. */
  running: number;
  /** Workers to replace in all. */
  workers: number;
  /** Workers replaced so far. */
  replaced: number;
  /** Workers skipped so far (not running). */
  skipped: number;
  /** Children whose new incarnation is starting, as `<supervisor>/<id>`. */
  starting: string[];
}

/**
 * `bad_spec`: the spec did not load or validate; `cannot_change`: it changes what a running tree cannot (a listener's
 * port); both change nothing. `change_failed`: a step of the spec's changes failed; the steps before it stay done.
 */
export type ReloadErrorCode =
  'reload_in_progress' | 'not_found' | 'start_failed' | 'stopped' | 'bad_spec' | 'cannot_change' | 'change_failed';

/** A rolling reload that stopped (`start_failed`, `stopped`) or was refused (`reload_in_progress`, `not_found`). */
export class ReloadError extends Error {
  /**
   * @param code What happened.
   * @param message The worker and the reason, in words.
   */
  constructor(
    readonly code: ReloadErrorCode,
    message: string,
  ) {
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
  private appliedSpec: SupervisorSpec | undefined;

  constructor(
    private readonly target: ReloadTarget,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * One reload at a time: a second one is refused with `reload_in_progress`, never queued. The spec's changes
   * first (a spec that does not load, validate or apply in place is refused, the tree untouched), then the
   * rolling replacement of the workers that were running before (those just started run the new code already).
   */
  async reload(path: string, options: ReloadOptions = {}): Promise<ReloadResult> {
    if (this.closed) throw new ReloadError('stopped', 'the tree is stopping');
    if (this.current) throw new ReloadError('reload_in_progress', `a reload of '${this.current.path}' is in progress`);
    const current: Current = {
      path,
      began: this.now(),
      workers: 0,
      replaced: 0,
      skipped: 0,
      starting: [],
      abort: new AbortController(),
    };
    this.current = current;
    try {
      const next = await this.newSpec(path, options);
      const plan = next ? planSpecChange(this.applied(), next) : { steps: [], refused: [], notes: [] };
      plan.refused.push(...refuseRemovedPools(plan.steps, (pool) => this.target.calls.tasksInPool(pool)));
      if (plan.refused.length > 0) {
        throw this.refuse(
          path,
          new ReloadError('cannot_change', plan.refused.map((r) => `${r.path}: ${r.message}`).join('\n')),
        );
      }
      const { inside, outside } = splitByPath(plan.steps, path);
      const spec = { changes: inside.map(describeStep), pending: outside.map(describeStep), notes: plan.notes };
      if (options.dryRun) {
        const stopped = inside.flatMap((s) => (s.op === 'stop' ? [`${s.supervisor}/${s.id}`] : []));
        const workers = this.locate(path)
          .workers.map((w) => `${w.supervisor}/${w.id}`)
          .filter((w) => !stopped.some((p) => within(w, p)));
        return { path, replaced: [], skipped: [], took: 0, ...spec, dryRun: true, workers };
      }
      const applied = await this.applySpec(current, path, inside);
      const result = await this.replaceWorkers(current, path, options, applied.fresh);
      return { ...result, ...spec, notes: [...spec.notes, ...applied.notes] };
    } finally {
      this.current = undefined;
    }
  }

  /** The spec to apply: given, or read anew; undefined when there is none (code only). Refuses a bad one. */
  private async newSpec(path: string, options: ReloadOptions): Promise<SupervisorSpec | undefined> {
    let raw: unknown = options.spec;
    if (raw === undefined) {
      if (!this.target.readSpec) return undefined;
      try {
        raw = await this.target.readSpec();
      } catch (error) {
        throw this.refuse(path, new ReloadError('bad_spec', `the spec did not load: ${message(error)}`));
      }
      if (raw === undefined) return undefined; // no spec module (an embedded tree): code only
    }
    try {
      return this.target.validate(raw);
    } catch (error) {
      throw this.refuse(path, new ReloadError('bad_spec', message(error)));
    }
  }

  private refuse(path: string, error: ReloadError): ReloadError {
    this.target.publish({
      event: 'reload_refused',
      supervisor: this.applied().id,
      path,
      code: error.code,
      error: error.message,
    });
    return error;
  }

  /** The spec the tree runs, as far as reloads know: what it started with, and the steps applied since. */
  private applied(): SupervisorSpec {
    this.appliedSpec ??= snapshot(this.target.startedWith());
    return this.appliedSpec;
  }

  /** Carries out the spec's steps; returns the children they started (their workers need no replacing). */
  private async applySpec(
    current: Current,
    path: string,
    steps: SpecStep[],
  ): Promise<{ fresh: string[]; notes: string[] }> {
    if (steps.length === 0) return { fresh: [], notes: [] };
    const supervisor = this.applied().id;
    const outcome = await applySpecSteps(this.target.calls, steps);
    this.appliedSpec = specAfter(this.applied(), outcome.done);
    const changes = outcome.done.map(describeStep);
    if (outcome.failed) {
      const { step, error } = outcome.failed;
      const child =
        step.op === 'start'
          ? `${step.supervisor}/${step.spec.id}`
          : step.op === 'set_flags' || 'name' in step
            ? step.supervisor
            : `${step.supervisor}/${step.id}`;
      const text = `${describeStep(step)}: ${message(error)}`;
      this.target.publish({
        event: 'reload_failed',
        supervisor,
        path,
        child,
        error: text,
        replaced: 0,
        took: this.now() - current.began,
      });
      throw new ReloadError(
        step.op === 'start' ? 'start_failed' : 'change_failed',
        `${text}${changes.length > 0 ? ` (done before it: ${changes.join('; ')})` : ''}`,
      );
    }
    this.target.publish({ event: 'spec_applied', supervisor, path, changes });
    return {
      fresh: steps.flatMap((s) => (s.op === 'start' ? [`${s.supervisor}/${s.spec.id}`] : [])),
      notes: outcome.notes,
    };
  }

  /** The rolling replacement of the workers under `path`, but those under `fresh` (just started). */
  private async replaceWorkers(
    current: Current,
    path: string,
    options: ReloadOptions,
    fresh: string[],
  ): Promise<Omit<ReloadResult, 'changes' | 'pending' | 'notes'>> {
    const located = this.locate(path);
    const supervisor = located.supervisor;
    const workers = located.workers.filter((w) => !fresh.some((p) => within(`${w.supervisor}/${w.id}`, p)));
    const maxSurge = Math.max(1, Math.floor(options.maxSurge ?? 1));
    current.workers = workers.length;
    this.target.publish({ event: 'reload_started', supervisor, path, workers: workers.length, maxSurge });
    const result: Omit<ReloadResult, 'changes' | 'pending' | 'notes'> = { path, replaced: [], skipped: [], took: 0 };
    const retiring: Array<Promise<unknown>> = [];
    for (const batch of batches(workers, maxSurge)) {
      const failure = await this.replaceBatch(current, batch, result, retiring);
      if (failure) {
        await Promise.all(retiring);
        this.target.publish({
          event: 'reload_failed',
          supervisor,
          path,
          child: failure.child,
          error: failure.reason,
          replaced: result.replaced.length,
          took: this.now() - current.began,
        });
        throw new ReloadError(failure.code, `${failure.child}: ${failure.reason}`);
      }
    }
    await Promise.all(retiring);
    result.took = this.now() - current.began;
    this.target.publish({
      event: 'reload_finished',
      supervisor,
      path,
      replaced: result.replaced.length,
      skipped: result.skipped,
      took: result.took,
    });
    return result;
  }

  /** What `status` shows: the reload in progress, if any. */
  progress(): ReloadProgress | undefined {
    const c = this.current;
    if (!c) return undefined;
    return {
      path: c.path,
      running: this.now() - c.began,
      workers: c.workers,
      replaced: c.replaced,
      skipped: c.skipped,
      starting: [...c.starting],
    };
  }

  /** The tree is stopping: the replacements starting are killed, the reload fails with `stopped`, no new one starts. */
  close(): void {
    this.closed = true;
    this.current?.abort.abort();
  }

  private async replaceBatch(
    current: Current,
    batch: WorkerRef[],
    result: Omit<ReloadResult, 'changes' | 'pending' | 'notes'>,
    retiring: Array<Promise<unknown>>,
  ): Promise<{ child: string; reason: string; code: ReloadErrorCode } | undefined> {
    const supervisor = batch[0]!.supervisor;
    current.starting = batch.map((w) => `${w.supervisor}/${w.id}`);
    let outcomes: Replacement[];
    try {
      outcomes = await this.target.replace(
        supervisor,
        batch.map((w) => w.id),
        { abort: current.abort.signal },
      );
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
    if (parent && child?.type === 'worker')
      return { supervisor: parent.path, workers: [{ supervisor: parent.path, id: child.id }] };
    throw new ReloadError('not_found', `no supervisor or worker at '${path}'`);
  }
}

function describe(reason: unknown): string {
  if (typeof reason === 'string') return reason;
  if (reason !== null && typeof reason === 'object' && 'startFailed' in reason) return String(reason.startFailed);
  return JSON.stringify(reason);
}

const message = (error: unknown): string => (error instanceof Error ? error.message : String(error));

/** `path` is `prefix` or under it. */
const within = (path: string, prefix: string): boolean => path === prefix || path.startsWith(`${prefix}/`);

/**
 * A copy that nothing can change under the reloader (the caller still holds the spec it started with): plain objects
 * and arrays copied, anything else (a task's function) kept. Validation has refused cycles and deep nesting.
 */
function snapshot<T>(value: T): T {
  if (Array.isArray(value)) return value.map(snapshot) as T;
  if (value === null || typeof value !== 'object' || Object.getPrototypeOf(value) !== Object.prototype) return value;
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, snapshot(v)])) as T;
}
