// A reference model of an OTP supervisor's decisions, transcribed from stdlib's supervisor.erl (do_restart/3,
// do_auto_shutdown/2, restart/2, restart/3, add_restart/3, terminate_children/2, start_children/2, del_child/2)
// and DESIGN.md §3. It is written independently of src/supervisor and must not import it: only the domain types.
//
// The model is stateful, like OTP's #state{}: it holds the children in start order with a `running` flag (OTP's
// pid =/= undefined) and the restart timestamps, newest first. Each call returns what the supervisor does.
import type { AutoShutdown, ExitReason, RestartType, Strategy } from '../../src/types.js';

export interface RefChild {
  id: string;
  restart: RestartType;
  significant: boolean;
  running: boolean;
}

export interface RefFlags {
  strategy: Strategy;
  intensity: number;
  period: number;
  autoShutdown: AutoShutdown;
}

export type RefDecision =
  | { kind: 'keep_stopped' }
  | { kind: 'remove' }
  /** `remove` lists the terminated temporary siblings, sorted (their order carries no meaning). */
  | { kind: 'restart'; terminate: string[]; start: string[]; remove: string[] }
  | { kind: 'give_up' }
  | { kind: 'auto_shutdown'; remove: boolean };

export interface RefOutcome {
  decision: RefDecision;
  /** Set when the start at position `failAt` of a restart failed: OTP casts itself `try_again_restart`. */
  failed?: string;
}

/** OTP's do_restart/3 clauses for `normal`, `shutdown` and `{shutdown, _}`: every other reason is abnormal. */
export function isNormalReason(reason: ExitReason): boolean {
  if (reason === 'normal' || reason === 'shutdown') return true;
  return typeof reason === 'object' && Object.keys(reason).length === 1 && Object.hasOwn(reason, 'shutdown');
}

export class ReferenceSupervisor {
  readonly children: RefChild[];
  /** Newest first, as OTP's #state.restarts. */
  restarts: number[] = [];

  constructor(
    readonly flags: RefFlags,
    children: ReadonlyArray<Omit<RefChild, 'running'>>,
  ) {
    this.children = children.map((c) => ({ ...c, running: true }));
  }

  /**
   * A running child exits by itself with `reason` at `now`. If the decision is a restart, the start at
   * position `failAt` (modulo the number of starts) of its start list fails; with no `failAt`, all start.
   */
  exit(id: string, reason: ExitReason, now: number, failAt?: number): RefOutcome {
    const child = this.child(id);
    if (!child.running) throw new Error(`model: ${id} is not running`);
    child.running = false;
    // do_restart/3, clause by clause.
    if (child.restart === 'permanent') return this.restart(child, now, failAt);
    if (isNormalReason(reason)) return this.notRestarted(child);
    if (child.restart === 'transient') return this.restart(child, now, failAt);
    return this.notRestarted(child); // temporary, abnormal
  }

  /** OTP's try_again_restart: the start of `id` failed during a restart, so it is restarted again at `now`. */
  retry(id: string, now: number, failAt?: number): RefOutcome {
    const child = this.child(id);
    if (child.running) throw new Error(`model: ${id} is running, nothing to retry`);
    return this.restart(child, now, failAt);
  }

  /** del_child/2 then do_auto_shutdown/2. */
  private notRestarted(child: RefChild): RefOutcome {
    const removed = this.flags.strategy === 'simple_one_for_one' || child.restart === 'temporary';
    if (removed) this.children.splice(this.children.indexOf(child), 1);
    if (this.autoShutdown(child)) return { decision: { kind: 'auto_shutdown', remove: removed } };
    return { decision: removed ? { kind: 'remove' } : { kind: 'keep_stopped' } };
  }

  /** do_auto_shutdown/2, called after del_child: the exited child is no longer running (or no longer listed). */
  private autoShutdown(child: RefChild): boolean {
    if (this.flags.autoShutdown === 'never') return false;
    if (!child.significant) return false;
    if (this.flags.autoShutdown === 'any_significant') return true;
    return !this.children.some((c) => c.running && c.significant);
  }

  /** restart/2: add_restart/1, then restart/3 for the strategy. */
  private restart(child: RefChild, now: number, failAt: number | undefined): RefOutcome {
    this.restarts = [now, ...this.restarts.filter((at) => at >= now - this.flags.period)];
    if (this.restarts.length > this.flags.intensity) return { decision: { kind: 'give_up' } };

    // The children restart/3 touches, in start order: the child alone (one_for_one, simple_one_for_one),
    // the child and those started after it (rest_for_one, split_child/2), or all of them (one_for_all).
    const index = this.children.indexOf(child);
    const affected =
      this.flags.strategy === 'rest_for_one'
        ? this.children.slice(index)
        : this.flags.strategy === 'one_for_all'
          ? this.children.slice()
          : [child];

    // terminate_children/2: in reverse start order, stop those that run; temporary ones are dropped.
    const terminate: string[] = [];
    const remove: string[] = [];
    for (const c of affected.slice().reverse()) {
      if (c.running) {
        terminate.push(c.id);
        c.running = false;
      }
      if (c.restart === 'temporary' && c !== child) {
        remove.push(c.id);
        this.children.splice(this.children.indexOf(c), 1);
      }
    }

    // start_children/2: in start order, until one fails.
    const start = affected.filter((c) => this.children.includes(c));
    let failed: string | undefined;
    for (const [position, c] of start.entries()) {
      if (failAt !== undefined && position === failAt % start.length) {
        failed = c.id;
        break;
      }
      c.running = true;
    }
    const decision: RefDecision = { kind: 'restart', terminate, start: start.map((c) => c.id), remove: remove.sort() };
    return failed === undefined ? { decision } : { decision, failed };
  }

  private child(id: string): RefChild {
    const child = this.children.find((c) => c.id === id);
    if (!child) throw new Error(`model: no child ${id}`);
    return child;
  }
}
