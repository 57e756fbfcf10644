// A running supervisor: its machine actor, its child list and the I/O bridge its procedures use.
// A nested supervisor is a child like any other: SupervisorHandle gives it the ChildHandle contract.
import { createActor, type Actor } from 'xstate';
import type { Logger } from 'pino';
import type { ChildContext, ChildHandle, ListenerLink } from '../child.js';
import { StartFailure } from '../child.js';
import { ListenerHandle } from '../listener/index.js';
import type { ExitReason, ListenerSpec, SupervisorSpec, WorkerSpec } from '../types.js';
import { WorkerHandle } from '../worker/process.js';
import { TaskHandle } from '../task/handle.js';
import { HostedTaskHandle } from '../host/hosted.js';
import type { HostPool } from '../host/host-pool.js';
import { ThreadHandle } from '../thread/handle.js';
import type { StandbyPool } from '../worker/standby.js';
import type { OutputLog } from '../worker/output-log.js';
import { killAll, type ReadonlyChildList, type SupervisorIO } from './children.js';
import type { TreeEvent } from './events.js';
import { internalReason, stateName, supervisorMachine, type CallEvent, type QueuedEvent } from './machine.js';
import { CallLane } from './call-lane.js';

/** What every node of one tree shares. */
export interface TreeHost {
  logger: Logger;
  /** Parked processes for `standby` workers, shared by the whole tree. */
  standby: StandbyPool;
  /** The recent output of the tree's workers. */
  output: OutputLog;
  /** The task hosts of the root's `hosts`, shared by the whole tree. */
  hosts?: HostPool;
  publish(event: TreeEvent): void;
  register(node: SupervisorNode): void;
  unregister(node: SupervisorNode): void;
  /**
   * Where the leaves come from. A tree forks worker processes and opens listeners (the default); a simulation
   * (simulation.ts) gives in-process stand-ins, so that the supervisors above them run unchanged.
   */
  createLeaf?(spec: WorkerSpec | ListenerSpec, ctx: ChildContext): ChildHandle;
  /** Time, jitter and timers of the supervisors: the real ones unless a simulation drives its own clock. */
  clock?: SupervisorClock;
}

export interface SupervisorClock {
  now(): number;
  /** In [0, 1). */
  random(): number;
  /** The machines' delayed events (backoff) run on it (xstate's Clock). */
  timers: { setTimeout(fn: (...args: any[]) => void, timeout: number): any; clearTimeout(id: any): void };
}

/**
 * What a child's handle gets from its supervisor. The child's logger and path are made on first use: a light child
 * that never logs (most tasks) costs no pino child logger, which was a large part of its start and of its memory.
 * Its exits reach the machine through a method, not a closure per incarnation.
 */
class LeafContext implements ChildContext {
  private log: Logger | undefined;
  private fullPath: string | undefined;

  constructor(
    private readonly node: SupervisorNode,
    private readonly child: string,
    private readonly incarnation: number,
  ) {}

  get path(): string {
    return (this.fullPath ??= this.node.childPrefix + this.child);
  }

  onExit(reason: ExitReason): void {
    const node = this.node;
    node.io.childExited({
      type: 'CHILD_EXITED',
      id: this.child,
      incarnation: this.incarnation,
      reason,
      at: node.io.now(),
    });
  }

  get logger(): Logger {
    return (this.log ??= this.node.io.logger.child({ child: this.child }));
  }

  onWorkerMessage(message: unknown, pid: number | undefined): void {
    this.node.host.publish({
      event: 'worker_message',
      supervisor: this.node.path,
      child: this.child,
      path: this.path,
      pid,
      message,
    });
  }

  resolveListener(id: string): ListenerLink | undefined {
    return this.node.resolveListener(id);
  }

  restartsAlone(): boolean {
    const strategy = this.node.spec.strategy;
    return strategy === 'one_for_one' || strategy === 'simple_one_for_one';
  }
}

/** An incarnation replaced by a newer one (a reload), stopping beside the running children. */
export interface Retiring {
  child: string;
  pid: number | undefined;
  since: number;
  handle: ChildHandle;
  gone: Promise<ExitReason>;
}

export class SupervisorNode {
  readonly actor: Actor<typeof supervisorMachine>;
  readonly io: SupervisorIO;
  /** Replaced incarnations still draining: outside the machine, so their drain never holds up a restart. */
  readonly retiring = new Set<Retiring>();
  /** `<path>/`, shared by the paths of all its children. */
  readonly childPrefix: string;
  private dynamicIds = 0;
  private arrived: QueuedEvent[] = [];
  /** Open while the machine runs calls and may take the next one itself (call-lane.ts). */
  private lane: CallLane<CallEvent> | undefined;

  constructor(
    spec: SupervisorSpec,
    readonly path: string,
    readonly parent: SupervisorNode | undefined,
    readonly host: TreeHost,
    onStarted: () => void,
  ) {
    const logger = host.logger.child({ supervisor: path });
    this.childPrefix = `${path}/`;
    this.io = {
      path,
      logger,
      now: host.clock ? () => host.clock!.now() : Date.now,
      random: host.clock ? () => host.clock!.random() : Math.random,
      emit: (event) => host.publish(event),
      childExited: (event) => this.deliver(event),
      resolveListener: (id) => this.resolveListener(id),
      createHandle: (record, incarnation) => {
        const ctx = new LeafContext(this, record.spec.id, incarnation);
        if (host.createLeaf && (record.spec.type === 'worker' || record.spec.type === 'listener'))
          return host.createLeaf(record.spec, ctx);
        switch (record.spec.type) {
          case 'worker':
            if (record.spec.kind === 'thread') return new ThreadHandle(record.spec, ctx, host.output);
            return new WorkerHandle(record.spec, ctx, host.standby, host.output);
          case 'listener':
            return new ListenerHandle(record.spec, ctx);
          case 'task':
            if ('module' in record.spec) return new HostedTaskHandle(record.spec, ctx, host.hosts);
            return new TaskHandle(record.spec, ctx);
          case 'supervisor':
            return new SupervisorHandle(record.spec, ctx, this, host);
        }
      },
    };
    this.actor = createActor(supervisorMachine, {
      input: { spec, io: this.io, onStarted, openLane: () => this.openLane() },
      ...(host.clock ? { clock: host.clock.timers } : {}),
    });
  }

  /**
   * Hands an exit or a call to the machine. Those of one tick go together, as one event, at the end of the tick: a
   * burst of 1,000 exits (or startChild calls) is one turn of the machine, not 1,000. A stop flushes them first, so
   * nothing sent before it is overtaken by it.
   */
  deliver(event: QueuedEvent): void {
    if (this.lane !== undefined) {
      if (event.type === 'CALL' && this.takesNextCall()) {
        this.lane.offer(event);
        return;
      }
      this.closeLane();
    }
    this.arrived.push(event);
    if (this.arrived.length === 1) queueMicrotask(() => this.flush());
  }

  /**
   * The machine is running calls: until the end of this event-loop turn, calls that arrive while nothing else waits
   * queue for them (call-lane.ts). None when something else waits already.
   */
  openLane(): CallLane<CallEvent> | undefined {
    this.closeLane();
    if (!this.takesNextCall()) return undefined;
    const lane = new CallLane<CallEvent>(
      () => this.takesNextCall(),
      () => this.closeLane(),
    );
    this.lane = lane;
    setImmediate(() => {
      if (this.lane === lane) this.closeLane();
    });
    return lane;
  }

  /** A call arriving now would be the machine's next event: nothing arrived, queued or asked (a stop) before it. */
  private takesNextCall(): boolean {
    if (this.arrived.length > 0) return false;
    const snapshot = this.actor.getSnapshot();
    return snapshot.status === 'active' && snapshot.context.inbox.length === 0 && !snapshot.context.stopRequested;
  }

  /** Ends the lane; the calls it held and had not run yet go to the machine, ahead of anything arriving after them. */
  private closeLane(): void {
    const lane = this.lane;
    if (lane === undefined) return;
    this.lane = undefined;
    for (const call of lane.close()) this.deliver(call);
  }

  /** Exits and calls of this tick not yet handed to the machine. */
  get arriving(): number {
    return this.arrived.length;
  }

  /** Sends what arrived in this tick now (before a stop, or at the end of the tick). */
  flush(): void {
    // Before a stop: the calls the lane holds were made before it and are carried out first; nothing more joins them.
    this.lane?.seal();
    this.lane = undefined;
    if (this.arrived.length === 0) return;
    const events = this.arrived;
    this.arrived = [];
    if (this.actor.getSnapshot().status === 'active') {
      this.actor.send(events.length === 1 ? events[0]! : { type: 'ARRIVED', events });
      return;
    }
    // Stopped meanwhile: a call must still be answered.
    for (const event of events)
      if (event.type === 'CALL' || event.type === 'SET_FLAGS') event.reject(new Error('shutting_down'));
  }

  /** The supervisor's spec as it runs now (a reload may have set new flags): the machine's, read-only. */
  get spec(): Readonly<SupervisorSpec> {
    return this.actor.getSnapshot().context.spec;
  }

  /** The children, read-only: the machine owns the list and is its only writer. */
  get children(): ReadonlyChildList {
    return this.actor.getSnapshot().context.children;
  }

  /** A running listener among this supervisor's children, else among its ancestors'. */
  resolveListener(id: string): ListenerLink | undefined {
    const found = this.children.get(id);
    const record = found?.spec.type === 'listener' ? found : undefined;
    if (record)
      return record.status === 'running' && record.handle instanceof ListenerHandle ? record.handle.link : undefined;
    return this.parent?.resolveListener(id);
  }

  /** Ids for simple_one_for_one children: `<template id>-<n>`, never reused within a supervisor's life. */
  nextDynamicId(): number {
    this.dynamicIds += 1;
    return this.dynamicIds;
  }

  /** Stops a replaced incarnation as its shutdown value says (a drain); the supervisor's stop waits for it. */
  retire(child: string, handle: ChildHandle): Promise<ExitReason> {
    const since = this.io.now();
    const entry: Retiring = { child, pid: handle.pid, since, handle, gone: handle.terminate() };
    this.retiring.add(entry);
    return entry.gone.then((reason) => {
      this.retiring.delete(entry);
      this.io.emit({
        event: 'child_drained',
        supervisor: this.path,
        child,
        pid: entry.pid,
        reason,
        took: this.io.now() - since,
      });
      return reason;
    });
  }

  /** Resolves once every retiring incarnation is gone; `brutal` kills them first. */
  async retired(brutal: boolean): Promise<void> {
    const entries = [...this.retiring];
    if (brutal) for (const entry of entries) void entry.handle.kill();
    await Promise.all(entries.map((entry) => entry.gone));
  }

  /** The last n handed out by nextDynamicId (0 before the first). */
  get lastDynamicId(): number {
    return this.dynamicIds;
  }

  /** The machine's state name: starting, running, restarting, calling, shuttingDown, stopped, failed. */
  get state(): string {
    return stateName(this.actor.getSnapshot());
  }

  /** Restarts that count toward intensity now: those recorded within the last `period` ms (as OTP's window). */
  recentRestarts(now = this.io.now()): number {
    const restarts = this.actor.getSnapshot().context.restarts.newestFirst();
    return restarts.filter((at) => at >= now - this.spec.period).length;
  }
}

/**
 * A supervisor as a child of another (or as the root of a tree). It lives in its parent's process;
 * terminating it stops its children in reverse order, as its shutdown value allows.
 */
export class SupervisorHandle implements ChildHandle {
  readonly pid = undefined;
  node: SupervisorNode | undefined;
  private finished: Promise<{ reason: ExitReason; gaveUp: boolean }> | undefined;
  private terminating = false;

  constructor(
    private readonly spec: SupervisorSpec,
    private readonly ctx: ChildContext,
    private readonly parent: SupervisorNode | undefined,
    private readonly host: TreeHost,
  ) {}

  start(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      let started = false;
      const node = new SupervisorNode(this.spec, this.ctx.path, this.parent, this.host, () => {
        started = true;
        resolve();
      });
      this.node = node;
      this.finished = new Promise((settle) => {
        const finish = (output: { reason: ExitReason; gaveUp: boolean }, state: 'stopped' | 'failed'): void => {
          this.host.publish({ event: 'supervisor_stopped', supervisor: node.path, reason: output.reason, state });
          this.host.unregister(node);
          settle(output);
          if (!started) reject(new StartFailure(output.reason));
          // A supervisor that gave up, or shut itself down (autoShutdown), exits with `shutdown` (as OTP).
          else if (!this.terminating) this.ctx.onExit('shutdown');
        };
        node.actor.subscribe({
          complete: () => {
            const output = node.actor.getSnapshot().output ?? { reason: 'shutdown' as ExitReason, gaveUp: true };
            finish(output, node.state === 'failed' ? 'failed' : 'stopped');
          },
          // A defect that escaped the machine's own handling: its children must not outlive it. They are killed
          // and the supervisor fails with what went wrong, never as a restart storm.
          error: (error) => {
            const reason = internalReason(error);
            killAll(node.actor.getSnapshot().context.children);
            this.host.publish({ event: 'internal_error', supervisor: node.path, reason });
            finish({ reason, gaveUp: true }, 'failed');
          },
        });
      });
      this.host.register(node);
      node.actor.start();
    });
  }

  async terminate(): Promise<ExitReason> {
    if (this.spec.shutdown === 'brutal_kill') return this.kill();
    return this.stopWith(false, typeof this.spec.shutdown === 'number' ? this.spec.shutdown : undefined);
  }

  kill(): Promise<ExitReason> {
    return this.stopWith(true, undefined);
  }

  private async stopWith(brutal: boolean, timeoutMs: number | undefined): Promise<ExitReason> {
    if (!this.node || !this.finished) return 'shutdown';
    this.terminating = true;
    const actor = this.node.actor;
    // As a child, a stopped supervisor's exit reason is `shutdown` (as OTP); a root stopped by its user's `normal`.
    const reason: ExitReason = this.parent ? 'shutdown' : 'normal';
    const send = (brutal: boolean) => {
      this.node?.flush();
      if (actor.getSnapshot().status === 'active') actor.send({ type: 'STOP', brutal, reason });
    };
    send(brutal);
    let timer: NodeJS.Timeout | undefined;
    if (timeoutMs !== undefined) timer = setTimeout(() => send(true), timeoutMs);
    const node = this.node;
    const output = await this.finished;
    clearTimeout(timer);
    await node.retired(brutal);
    return output.reason;
  }
}
