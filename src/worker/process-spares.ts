// A worker handle's side of standby spares (standby.ts): the key of its start-up, a spare taken for a start, the
// spares kept while it runs, and a hot spare taking its place the moment it dies by itself, told by the supervisor
// at the first sign of the death or reading it on the worker's death socket (death-socket.ts).
import type { ChildProcess, StdioOptions } from 'node:child_process';
import type { ChildContext, ListenerLink } from '../child.js';
import { isExiting } from '../process-state.js';
import type { WorkerSpec } from '../types.js';
import { DEATH_STDIO, deathSocketOf, openDeathSocket } from './death-socket.js';
import { CAPTURED_STDIO } from './output.js';
import { standbyPlan, watchable, type StandbyKey, type StandbyPool, type TakenSpare } from './standby.js';

export class WorkerSpares {
  constructor(
    private readonly spec: WorkerSpec,
    private readonly ctx: ChildContext,
    /** Spare processes for workers with `standby`, shared by the tree. */
    private readonly pool: StandbyPool | undefined,
    /** The worker's own env (a spare is forked with the same). */
    private readonly env: () => Record<string, string>,
  ) {}

  /** What a spare for this worker must have been forked with; undefined without standby. */
  key(modulePath: string): StandbyKey | undefined {
    const plan = standbyPlan(this.spec.standby);
    if (plan === undefined) return undefined;
    const { args, execArgv, cwd } = this.spec;
    return {
      mode: plan.mode,
      module: modulePath,
      args,
      env: this.env(),
      execArgv,
      ...(cwd !== undefined ? { cwd } : {}),
      ...(this.spec.listen !== undefined ? { listen: this.spec.listen } : {}),
    };
  }

  /** A parked spare to start this worker in, if the pool has one. */
  take(key: StandbyKey | undefined, link: ListenerLink | undefined): TakenSpare | undefined {
    return key === undefined ? undefined : this.pool?.take(key, this.ctx.path, link);
  }

  /** The stdio of a fresh fork: with a death socket where a spare may watch the worker. */
  stdio(key: StandbyKey | undefined): StdioOptions {
    return key !== undefined && watchable(key) ? DEATH_STDIO : CAPTURED_STDIO;
  }

  /** Right after a fork with stdio(key), before the event loop runs again. */
  forked(child: ChildProcess, key: StandbyKey | undefined): void {
    if (key !== undefined && watchable(key)) openDeathSocket(child);
  }

  /** The worker is stopped on purpose: from now on its death is no spare's cue (call before signalling it). */
  disarm(child: ChildProcess | undefined): void {
    deathSocketOf(child)?.disarm();
  }

  /**
   * Keeps this worker's spares while it runs (until `gone`); a serving worker's death has a hot spare take its place
   * at once, where `isNews` (its exit would be news to the supervisor) and the spec allow.
   */
  hold(
    key: StandbyKey | undefined,
    child: ChildProcess,
    link: ListenerLink | undefined,
    gone: Promise<unknown>,
    isNews: () => boolean,
  ): void {
    const pool = this.pool;
    if (key === undefined || pool === undefined) return;
    // Its listener's handle goes to hot spares as they park, while this listener is the one it resolves to.
    const listener = link && (() => (this.ctx.resolveListener(link.id) === link ? link : undefined));
    const death = deathSocketOf(child);
    const eligible = () => link !== undefined && isNews() && this.promotable(link);
    const watched =
      link !== undefined && death !== undefined && child.pid !== undefined
        ? { path: this.ctx.path, pid: child.pid, death, link, eligible }
        : undefined;
    const release = pool.hold(key, standbyPlan(this.spec.standby)!.count, listener, watched);
    void gone.then(release);
    if (link === undefined) return;
    // The first sign of its death the supervisor sees: its channel closing (checked to be a death) or its exit.
    const promote = (confirm: boolean) => {
      if (!eligible() || child.pid === undefined || (confirm && !isExiting(child.pid))) return;
      pool.promote(key, this.ctx.path, link);
    };
    child.once('disconnect', () => promote(true));
    child.once('exit', () => promote(false));
  }

  /**
   * The supervisor will restart this worker alone and at once (permanent, no backoff, not significant, `one_for_one`
   * or `simple_one_for_one`), and its listener is still the one it serves: a hot spare may serve in its place before
   * the supervisor has seen the exit. Anything planned (a stop, a reload) never qualifies.
   */
  private promotable(link: ListenerLink): boolean {
    const { restart, backoff, significant } = this.spec;
    if (restart !== 'permanent' || backoff !== undefined || significant) return false;
    // The listener may have closed meanwhile (a strategy restarting it).
    return this.ctx.restartsAlone?.() === true && link === this.ctx.resolveListener(link.id);
  }
}
