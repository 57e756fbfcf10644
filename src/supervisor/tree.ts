// The public face of a running supervision tree (DESIGN.md §8): start(spec) → Tree.
import { EventEmitter } from 'node:events';
import { pino, type Logger } from 'pino';
import type { ChaosFault } from '../protocol.js';
import type { FaultTarget } from '../child.js';
import type { ChildType, ExitReason, Messages, SupervisorSpec } from '../types.js';
import { describe, type ChildInfo } from './info.js';
import { levelOf, type TreeEvent, type TreeEventName, type WorkerSentEvent } from './events.js';
import { SupervisorHandle, SupervisorNode } from './node.js';
import { assertValidSpec } from './validate.js';
import { StandbyPool, type SpareShelfInfo } from '../worker/standby.js';
import { OutputLog } from '../worker/output-log.js';
import { HostPool, type HostPoolStatus } from '../host/host-pool.js';
import { outputStream, type FollowedLine, type LogsOptions } from '../worker/output-stream.js';
import * as calls from './calls.js';
import { stdoutLogger } from '../log/stdout.js';
import { claimActivation, usesSocketActivation } from '../listener/activation.js';
import { eventStream, type EventStreamOptions } from './event-stream.js';
import { callTimeout, resolveWorker, type CallOptions, type CastOptions } from './messages.js';
import { Reloader, type ReloadOptions, type ReloadProgress, type ReloadResult } from '../reload/index.js';
import type { HostedTaskRef } from '../reload/apply-spec.js';

/** A `worker_message` event whose message has the tree's declared `send` type. */
export interface WorkerMessageEvent<Send = unknown> extends Omit<WorkerSentEvent, 'message'> {
  /** What the worker sent. */
  message: Send;
}

/** The tree's message types: those declared on its spec, or untyped when none were. */
export type TreeMessages<M> = [M] extends [never] ? Messages : M;

/** A listener for one event name, typed by that event. */
export type TreeEventListener<K extends TreeEventName> = (event: Extract<TreeEvent, { event: K }>) => void;

/** Listeners registered before anything starts, so they see every event of the initial start. */
export type TreeEventListeners = { [K in TreeEventName]?: TreeEventListener<K> } & {
  /** Called with every event. */
  event?: (event: TreeEvent) => void;
};

/** Options of `createTree(spec, options)`; `start()` takes these and more (`StartOptions`). */
export interface StartOptions {
  /** Where the tree's events are logged: a pino logger, or `false` for none. Default: JSON lines on stdout. */
  logger?: Logger | false;
  /** Event listeners attached before the first child starts (`{ child_started: (e) => …, event: (e) => … }`). */
  on?: TreeEventListeners;
  /**
   * How `reload()` reads the spec anew, to apply its changes before replacing the workers (`arbor run` passes a
   * fresh import of the spec module). Without it, `reload()` replaces code only, unless given `{ spec }`.
   */
  readSpec?: () => Promise<unknown>;
}

/** What `tree.countChildren(path)` answers, as OTP's `count_children`. */
export interface ChildCounts {
  /** Child specs (a simple_one_for_one supervisor has one: its template). */
  specs: number;
  /** Children running now. */
  active: number;
  /** Children that are supervisors. */
  supervisors: number;
  /** Children that are workers. */
  workers: number;
  /** Children that are listeners. */
  listeners: number;
}

/** What `tree.status(path)` answers (and `arbor status --json` prints): a supervisor and everything under it. */
export interface SupervisorStatus {
  /** The supervisor's path (`root/pool`). */
  path: string;
  /** Its state machine's state: `starting`, `running`, `restarting`, `calling`, `shuttingDown`, `stopped`, `failed`. */
  state: string;
  /** Its restart strategy. */
  strategy: SupervisorSpec['strategy'];
  /** The restart-intensity window: restarts within the last `period` ms, and the most it allows. */
  intensity: {
    /** Restarts within the last `period` ms. */
    restarts: number;
    /** Its `intensity`: one restart more and it gives up. */
    limit: number;
    /** Its `period`, in ms. */
    period: number;
  };
  /** Its children in start order; a child that is a supervisor carries its own status. */
  children: Array<
    ChildInfo & {
      /** The status of a child that is a supervisor. */
      supervisor?: SupervisorStatus;
    }
  >;
  /**
   * Set when `children` is a page of a longer list (more than `limit` children, or an `offset`): how many this
   * supervisor has, and the position of the first one shown. `counts` sums them all up.
   */
  page?: {
    /** Children the supervisor has in all. */
    total: number;
    /** The position of the first one shown. */
    offset: number;
    /** How many are shown. */
    shown: number;
  };
  /** Present with `page`: the counts of all the children, not only those shown. */
  counts?: ChildCounts;
  /** Replaced incarnations still draining (a reload): child id, pid, ms since they were asked to stop. */
  draining?: Array<{
    /** The child's id. */
    child: string;
    /** The pid of the old incarnation. */
    pid: number | undefined;
    /** ms since it was asked to stop. */
    for: number;
  }>;
  /** At the status of the whole tree: the reload in progress. */
  reload?: ReloadProgress;
  /** At the status of the whole tree: the standby spares kept for its workers, one entry per start-up. */
  spares?: SpareShelfInfo[];
  /** At the status of the whole tree: its task host pools (the root's `hosts`), their hosts, tasks and restarts. */
  hosts?: HostPoolStatus[];
}

export type { ChildInfo, ListenerInfo } from './info.js';

/** Which children a status or whichChildren shows, per supervisor: at most `limit`, from position `offset`. */
export interface ChildrenPage {
  /** Default for status: 1,000 per supervisor (a tree of 10,000 dynamic children stays a bounded answer). */
  limit?: number;
  /** The position of the first child shown (default 0). */
  offset?: number;
}

/** status() shows at most this many children of each supervisor unless asked for more. */
export const STATUS_CHILDREN_LIMIT = 1000;

function pageBounds(page: ChildrenPage, defaultLimit: number): { offset: number; limit: number } {
  const offset = page.offset ?? 0;
  const limit = page.limit ?? defaultLimit;
  if (!Number.isInteger(offset) || offset < 0)
    throw new TypeError(`offset must be a whole number ≥ 0, got ${String(offset)}`);
  if (!(limit === Infinity || (Number.isInteger(limit) && limit >= 0)))
    throw new TypeError(`limit must be a whole number ≥ 0 or Infinity, got ${String(limit)}`);
  return { offset, limit };
}

/**
 * A running (or ready to run) supervision tree: made by `createTree(spec)` or `start(spec)`. Its methods look at
 * the tree (`status`, `whichChildren`, `countChildren`), change it as OTP's supervisor calls do (`startChild`,
 * `terminateChild`, `restartChild`, `deleteChild`), reach workers (`call`, `cast`), replace them (`reload`) and stop
 * it (`stop`). Every event is emitted on it under its name and as `'event'` (`on`, `events()`).
 */
export class Tree<M extends Messages = Messages> extends EventEmitter {
  /** @internal Where the tree's events are logged. */
  readonly logger: Logger;
  /** Resolves with the root's exit reason: `normal` after stop(), `shutdown` when it gave up or shut itself down. */
  readonly done: Promise<ExitReason>;
  /** @internal The parked standby processes of the tree's workers. */
  readonly standby: StandbyPool;
  /** @internal The recent output of every worker, kept per child path across incarnations (bounded). */
  readonly output = new OutputLog();
  /** @internal The task hosts of the root's `hosts`. */
  readonly hosts: HostPool;
  private readonly nodes = new Map<string, SupervisorNode>();
  private readonly root: SupervisorHandle;
  private settle!: (reason: ExitReason) => void;
  private stopping: Promise<ExitReason> | undefined;
  private readonly reloader = new Reloader({
    shape: (path) => (this.nodes.has(path) ? this.status(path) : undefined),
    replace: (supervisor, ids, options) => calls.replaceChildren(this.node(supervisor), ids, options),
    publish: (event) => this.publish(event),
    startedWith: () => this.spec,
    readSpec: () => (this.readSpec ? this.readSpec() : Promise.resolve(undefined)),
    validate: (spec) => {
      assertValidSpec(spec);
      return spec;
    },
    calls: {
      // A spare takes a worker's place by itself only as the running flags and spec allowed when it began to watch:
      // the workers under a supervisor whose flags or children's specs change are watched again once restarted.
      setFlags: (path, flags) => {
        this.standby.disarmUnder(path);
        return calls.setFlags(this.node(path), flags);
      },
      replaceSpec: (path, id, spec) => {
        this.standby.disarmUnder(path);
        return calls.replaceSpec(this.node(path), id, spec);
      },
      startChild: (path, spec) => this.startChild(path, spec),
      terminateChild: (path, id) => this.terminateChild(path, id),
      deleteChild: (path, id) => this.deleteChild(path, id),
      restartChild: (path, id) => this.restartChild(path, id),
      isRunning: (path, id) => this.whichChildren(path).some((c) => c.id === id && c.status === 'running'),
      addPool: (name, spec) => this.hosts.add(name, spec),
      updatePool: (name, spec) => this.hosts.update(name, spec),
      replacePool: (name, spec) => this.hosts.replace(name, spec).map((task) => this.hostedTask(task)),
      removePool: (name) => this.hosts.remove(name),
      tasksInPool: (name) => this.hosts.tasksIn(name),
    },
  });
  /** A task of a host pool, by its path, as a reload that replaces the pool's hosts needs to know it. */
  private hostedTask(path: string): HostedTaskRef {
    const slash = path.lastIndexOf('/');
    const supervisor = path.slice(0, slash);
    const id = path.slice(slash + 1);
    const node = this.nodes.get(supervisor);
    const restart = node?.children.get(id)?.spec.restart ?? 'temporary';
    return { supervisor, id, restart, dynamic: node?.spec.strategy === 'simple_one_for_one' };
  }

  /** How reload() reads the spec anew (`arbor run`: a fresh import of the spec module); none for an embedded tree. */
  private readSpec: (() => Promise<unknown>) | undefined;
  /** Ends the root's drainDelay early (a brutal stop does not wait for it). */
  private endDrainDelay: (() => void) | undefined;
  private starting: Promise<this> | undefined;

  /**
   * @internal Use `createTree(spec)` or `start(spec)`.
   * @param spec The validated spec of the root supervisor.
   */
  constructor(
    readonly spec: SupervisorSpec<any>,
    logger: Logger,
    readSpec?: () => Promise<unknown>,
  ) {
    super();
    this.logger = logger;
    this.readSpec = readSpec;
    // Claimed before anything is forked, so that no worker (nor a parked standby process) inherits LISTEN_*.
    if (usesSocketActivation(spec)) claimActivation();
    this.standby = new StandbyPool(logger);
    this.hosts = new HostPool(spec.hosts, logger, this.output);
    this.done = new Promise((resolve) => (this.settle = resolve));
    void this.done.then(() => {
      this.standby.close();
      return this.hosts.close();
    });
    this.root = new SupervisorHandle(
      spec,
      {
        path: spec.id,
        logger,
        onExit: (reason) => this.settle(reason),
        resolveListener: () => undefined,
      },
      undefined,
      {
        logger,
        standby: this.standby,
        output: this.output,
        hosts: this.hosts,
        publish: (event) => this.publish(event),
        register: (node) => this.nodes.set(node.path, node),
        unregister: (node) => {
          if (this.nodes.get(node.path) === node) this.nodes.delete(node.path);
        },
      },
    );
  }

  /**
   * Starts every child in spec order and resolves with the tree once all are running; rejects (with nothing left
   * running) if the root fails to start. Listeners attached before this call see every event. Idempotent.
   */
  start(): Promise<this> {
    this.starting ??= this.root.start().then(
      () => this,
      async (error: unknown) => {
        this.standby.close();
        await this.hosts.close();
        throw error;
      },
    );
    return this.starting;
  }

  /**
   * The tree's events as an async iterator, from this call on; it ends after the root's `supervisor_stopped`.
   * A consumer more than `buffer` events behind (default 10,000) gets an EventOverflowError instead of a gap.
   */
  events(options: EventStreamOptions = {}): AsyncIterableIterator<TreeEvent> {
    return eventStream(
      {
        subscribe: (listener) => {
          this.on('event', listener);
          return () => this.off('event', listener);
        },
        isLast: (event) => event.event === 'supervisor_stopped' && event.supervisor === this.spec.id,
      },
      options,
    );
  }

  /**
   * What the workers at or under `path` (a child, or a supervisor for its subtree; default the whole tree) printed:
   * the most recent `lines` (default 10) — a dead incarnation's included — then, unless `follow` is false, each new
   * line until the tree stops. A consumer more than `buffer` lines behind (default 10,000) loses the newest, and the
   * next line it gets counts them in `missed`.
   */
  logs(path: string = this.spec.id, options: LogsOptions = {}): AsyncIterableIterator<FollowedLine> {
    return outputStream(this.output, path === this.spec.id ? undefined : path, options, this.done);
  }

  private publish(event: TreeEvent): void {
    this.logger[levelOf(event)](event);
    this.emit(event.event, event);
    this.emit('event', event);
  }

  /** Calls `listener` with every worker's `send()`, typed by the tree's declared `send` messages. */
  override on(event: 'worker_message', listener: (event: WorkerMessageEvent<M['send']>) => void): this;
  /** Calls `listener` with every event of that name (`'child_exited'`). */
  override on<K extends TreeEventName>(event: K, listener: TreeEventListener<K>): this;
  /** Calls `listener` with every event of the tree. */
  override on(event: 'event', listener: (event: TreeEvent) => void): this;
  override on(event: string | symbol, listener: (...args: any[]) => void): this {
    return super.on(event, listener);
  }

  /** The children of the supervisor at `path` (default: the root), in start order; all of them unless paged. */
  whichChildren(path: string = this.spec.id, page: ChildrenPage = {}): ChildInfo[] {
    const { offset, limit } = pageBounds(page, Infinity);
    return this.node(path).children.page(offset, limit).map(describe);
  }

  /** How many children the supervisor at `path` (default: the root) has, by kind, as OTP's `count_children`. */
  countChildren(path: string = this.spec.id): ChildCounts {
    const node = this.node(path);
    const children = node.children;
    const byType: Record<ChildType, number> = { supervisor: 0, worker: 0, listener: 0, task: 0 };
    for (const child of children) byType[child.spec.type] += 1;
    return {
      // As OTP: a simple_one_for_one supervisor has one spec, its template, however many children it runs.
      specs: node.spec.strategy === 'simple_one_for_one' ? 1 : children.size,
      active: children.running,
      supervisors: byType.supervisor,
      // As OTP: every child that is not a supervisor is a worker; tasks and threads included.
      workers: byType.worker + byType.task,
      listeners: byType.listener,
    };
  }

  /**
   * The whole live tree: supervisor states from their machines, children, pids, restarts, uptimes. Each supervisor
   * shows at most `page.limit` children (default 1,000; `Infinity` for all), with `page` and `counts` saying so.
   */
  status(path: string = this.spec.id, page: ChildrenPage = {}): SupervisorStatus {
    const { offset, limit } = pageBounds(page, STATUS_CHILDREN_LIMIT);
    const node = this.node(path);
    const total = node.children.size;
    const paged = offset > 0 || total > limit;
    const now = Date.now();
    const draining = [...node.retiring].map((r) => ({ child: r.child, pid: r.pid, for: now - r.since }));
    const whole = path === this.spec.id;
    const reload = whole ? this.reloader.progress() : undefined;
    const spares = whole ? this.standby.describe() : [];
    const pools = whole ? this.hosts.status() : [];
    return {
      path,
      state: node.state,
      strategy: node.spec.strategy,
      intensity: { restarts: node.recentRestarts(), limit: node.spec.intensity, period: node.spec.period },
      children: node.children.page(offset, limit).map((record) => {
        const info = describe(record);
        const nested = record.spec.type === 'supervisor' ? this.nodes.get(`${path}/${record.spec.id}`) : undefined;
        return nested && record.status !== 'stopped'
          ? { ...info, supervisor: this.status(nested.path, { limit }) }
          : info;
      }),
      ...(paged
        ? {
            page: { total, offset, shown: Math.max(0, Math.min(limit, total - offset)) },
            counts: this.countChildren(path),
          }
        : {}),
      ...(draining.length > 0 ? { draining } : {}),
      ...(reload ? { reload } : {}),
      ...(spares.length > 0 ? { spares } : {}),
      ...(pools.length > 0 ? { hosts: pools } : {}),
    };
  }

  /**
   * Reload: first the spec's changes (`options.spec`, or the spec read anew when the tree was started with
   * `readSpec`, as `arbor run` does): children added, removed or changed under `path`, in OTP's order; then the
   * rolling reload, which replaces every worker under `path` (a supervisor or a worker; default the whole tree) that
   * was running before by a new process loading the code now on disk, `maxSurge` at a time, each started beside the
   * old one, which is drained only once the new one is ready. `dryRun` changes nothing and says what would be done.
   * Rejects with ReloadError: `bad_spec` or `cannot_change` (nothing changed), `start_failed` (the reload stops at
   * the first child or worker that fails to start; the workers not replaced keep serving), `change_failed`,
   * `reload_in_progress`, `not_found`, `stopped`.
   */
  reload(path: string = this.spec.id, options: ReloadOptions = {}): Promise<ReloadResult> {
    // A hot spare has loaded the code that was on disk when it was forked: none may take over a reload.
    if (!options.dryRun) this.standby.discard('hot');
    return this.reloader.reload(path, options);
  }

  /** simple_one_for_one: starts a child from the template with extra args; otherwise starts a stopped child spec. */
  startChild(path: string, argsOrSpec: string[] | SupervisorSpec['children'][number] = []): Promise<ChildInfo> {
    return calls.startChild(this.node(path), argsOrSpec);
  }

  /**
   * Stops the child `id` of the supervisor at `path`; it stays stopped (a dynamic child is removed), as OTP's
   * `terminate_child`. Rejects with CallError `not_found`.
   */
  terminateChild(path: string, id: string): Promise<void> {
    return calls.terminateChild(this.node(path), id);
  }

  /**
   * Starts the stopped child `id` of the supervisor at `path` again, as OTP's `restart_child`. Rejects with
   * CallError `not_found`, `running`, `restarting` or `simple_one_for_one`.
   */
  restartChild(path: string, id: string): Promise<ChildInfo> {
    return calls.restartChild(this.node(path), id);
  }

  /**
   * Removes the spec of the stopped child `id` of the supervisor at `path`, as OTP's `delete_child`. Rejects with
   * CallError `not_found`, `running`, `restarting` or `simple_one_for_one`.
   */
  deleteChild(path: string, id: string): Promise<void> {
    return calls.deleteChild(this.node(path), id);
  }

  /**
   * Sends `message` to the worker at `path` and resolves with its `onMessage` handler's reply. A path naming a
   * supervisor picks one of its running workers (`pick`, default round_robin). Rejects with a CallError:
   * `not_found`, `not_running`, `timeout` (default 5000 ms), `exited` (carries the exit `reason`), `no_handler`,
   * `handler_failed`, `too_large`. A reply is only ever taken from the incarnation the call was sent to.
   */
  call(path: string, message: M['call'], options: CallOptions = {}): Promise<M['reply']> {
    try {
      return resolveWorker(path, (p) => this.nodes.get(p), options.pick).call(message, callTimeout(options));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** Sends `message` to the worker at `path` (or one picked under a supervisor), unanswered. Throws CallError. */
  cast(path: string, message: M['cast'], options: CastOptions = {}): void {
    resolveWorker(path, (p) => this.nodes.get(p), options.pick).cast(message);
  }

  /**
   * @internal
   * Chaos testing: sends `fault` to the running worker at `childPath` (`root/pool/web-1`), which honours it only
   * when it runs with ARBOR_CHAOS=1. Throws CallError `not_found` unless that child is a running worker.
   */
  injectFault(childPath: string, fault: ChaosFault): { path: string; pid: number | undefined; fault: ChaosFault } {
    const slash = childPath.lastIndexOf('/');
    const id = childPath.slice(slash + 1);
    const record = slash > 0 ? this.node(childPath.slice(0, slash)).children.get(id) : undefined;
    const handle = record?.handle as (Partial<FaultTarget> & object) | undefined;
    if (record?.status !== 'running' || typeof handle?.inject !== 'function') {
      throw new calls.CallError('not_found', `'${childPath}' is not a running worker or task`);
    }
    // A worker's environment is the supervisor's plus its spec's: without ARBOR_CHAOS=1 it would ignore the fault.
    // A task runs in the supervisor's process: that process's environment decides.
    const chaos =
      record.spec.type === 'worker'
        ? (record.spec.env.ARBOR_CHAOS ?? process.env.ARBOR_CHAOS)
        : process.env.ARBOR_CHAOS;
    if (chaos !== '1') {
      throw new calls.CallError(
        'chaos_disabled',
        `'${childPath}' runs without ARBOR_CHAOS=1, so it ignores in-worker faults`,
      );
    }
    const hit = handle.inject(fault);
    if (hit === undefined || hit === false)
      throw new calls.CallError('not_found', `'${childPath}' is not a running worker or task`);
    return { path: childPath, pid: typeof hit === 'number' ? hit : undefined, fault };
  }

  /**
   * Stops the whole tree in reverse start order, honouring every shutdown value, after the root's `drainDelay`
   * (everything keeps serving meanwhile). Resolves with the root's reason. `brutal` kills every child now.
   */
  stop(options: { brutal?: boolean } = {}): Promise<ExitReason> {
    if (!this.stopping)
      this.publish({ event: 'tree_stopping', supervisor: this.spec.id, brutal: options.brutal === true });
    this.reloader.close();
    if (options.brutal) {
      this.endDrainDelay?.();
      void this.root.kill();
    }
    this.stopping ??= this.drainDelay(options.brutal === true)
      .then(() => this.root.terminate())
      .then(async (reason) => {
        this.settle(reason);
        // Every task is stopped by now: the hosts go before stop() resolves, so none outlives the tree.
        await this.hosts.close();
        return reason;
      });
    return this.stopping;
  }

  private drainDelay(brutal: boolean): Promise<void> {
    // The root as it runs now: a reload may have set a new drainDelay.
    const ms = this.nodes.get(this.spec.id)?.spec.drainDelay ?? this.spec.drainDelay ?? 0;
    if (brutal || ms <= 0) return Promise.resolve();
    this.publish({ event: 'drain_delay', supervisor: this.spec.id, ms });
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.endDrainDelay = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  private node(path: string): SupervisorNode {
    const node = this.nodes.get(path);
    if (!node) throw new calls.CallError('not_found', `no running supervisor at '${path}'`);
    return node;
  }
}

/**
 * Validates the spec (throwing SpecError) and returns the tree without starting anything: attach listeners with
 * `tree.on(…)` or take `tree.events()`, then `await tree.start()`.
 */
export function createTree<M extends Messages>(
  spec: SupervisorSpec<M>,
  options: StartOptions = {},
): Tree<TreeMessages<M>> {
  assertValidSpec(spec);
  const logger = options.logger === false ? pino({ level: 'silent' }) : (options.logger ?? stdoutLogger());
  const tree = new Tree<TreeMessages<M>>(spec, logger, options.readSpec);
  for (const [name, listener] of Object.entries(options.on ?? {})) {
    if (typeof listener !== 'function') throw new TypeError(`start(): options.on.${name} must be a function`);
    tree.on(name as 'event', listener as (event: TreeEvent) => void);
  }
  return tree;
}

/** The short form: `createTree(spec, options).start()` — validates, starts every child in order, resolves when all run. */
export function start<M extends Messages>(
  spec: SupervisorSpec<M>,
  options: StartOptions = {},
): Promise<Tree<TreeMessages<M>>> {
  try {
    return createTree(spec, options).start();
  } catch (error) {
    return Promise.reject(error);
  }
}
