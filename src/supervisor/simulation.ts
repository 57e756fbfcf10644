// The supervisor core without processes: real supervisor machines (node.ts, machine.ts, calls.ts) over in-process
// stand-ins for workers and listeners, on a clock the caller may drive. For the model tests (thousands of histories
// in seconds) and the scale bench (10,000+ children); not part of the public API.
import { pino, type Logger } from 'pino';
import { SimulatedClock } from 'xstate';
import type { ChildContext, ChildHandle } from '../child.js';
import { StartFailure } from '../child.js';
import type { ChildSpec, ExitReason, ListenerSpec, SupervisorFlags, SupervisorSpec, WorkerSpec } from '../types.js';
import { StandbyPool } from '../worker/standby.js';
import { OutputLog } from '../worker/output-log.js';
import * as calls from './calls.js';
import type { TreeEvent } from './events.js';
import type { ChildInfo } from './info.js';
import { SupervisorHandle, type SupervisorClock, type SupervisorNode, type TreeHost } from './node.js';
import { assertValidSpec } from './validate.js';

/** How a stand-in child behaves; every answer is asked when it happens, so a script can change as a run goes. */
export interface SimulatedBehaviour {
  /** Undefined: the start succeeds; an exit reason: it fails with it. Called at every start of every child. */
  startOutcome?(path: string): ExitReason | undefined;
  /** ms the child takes to stop when asked (default 0); past its `shutdown` value it is killed. */
  stopTakes?(path: string): number;
}

/** One incarnation of a simulated worker or listener. */
export class SimulatedChild implements ChildHandle {
  readonly pid = undefined;
  private state: 'new' | 'running' | 'gone' = 'new';

  constructor(
    readonly path: string,
    private readonly spec: WorkerSpec | ListenerSpec,
    private readonly ctx: ChildContext,
    private readonly sim: SimulatedTree,
  ) {}

  get running(): boolean {
    return this.state === 'running';
  }

  start(): Promise<void> {
    const failure = this.sim.behaviour.startOutcome?.(this.path);
    if (failure !== undefined) {
      this.state = 'gone';
      return Promise.reject(new StartFailure(failure));
    }
    this.state = 'running';
    this.sim.live.set(this.path, this);
    return Promise.resolve();
  }

  /** The child exits by itself (a crash, or a normal end): its supervisor hears of it. */
  exit(reason: ExitReason): void {
    if (this.state !== 'running') return;
    this.gone();
    this.ctx.onExit(reason);
  }

  terminate(): Promise<ExitReason> {
    if (this.state !== 'running') return Promise.resolve('shutdown');
    const takes = this.sim.behaviour.stopTakes?.(this.path) ?? 0;
    const shutdown = this.spec.shutdown;
    if (takes <= 0) return Promise.resolve(this.gone('shutdown'));
    // OTP: shutdown ms, then killed; infinity waits as long as it takes.
    const killedAfter = typeof shutdown === 'number' && shutdown < takes ? shutdown : undefined;
    return new Promise((resolve) => {
      this.sim.clock.timers.setTimeout(
        () => resolve(this.gone(killedAfter === undefined ? 'shutdown' : { signal: 'SIGKILL' })),
        killedAfter ?? takes,
      );
    });
  }

  kill(): Promise<ExitReason> {
    return Promise.resolve(this.gone({ signal: 'SIGKILL' }));
  }

  private gone(reason: ExitReason = 'shutdown'): ExitReason {
    this.state = 'gone';
    if (this.sim.live.get(this.path) === this) this.sim.live.delete(this.path);
    return reason;
  }
}

/** A clock the caller moves: `advance(ms)` runs the timers due (backoff delays, shutdown timeouts). */
export class ManualClock implements SupervisorClock {
  readonly timers = new SimulatedClock();
  private seed: number;

  constructor(seed = 1) {
    this.seed = seed;
  }

  now(): number {
    return this.timers.now();
  }

  /** A small deterministic generator, so that a failing history replays exactly. */
  random(): number {
    this.seed = (this.seed * 1_103_515_245 + 12_345) % 2 ** 31;
    return this.seed / 2 ** 31;
  }

  advance(ms: number): void {
    this.timers.increment(ms);
  }
}

export interface SimulatedTreeOptions {
  behaviour?: SimulatedBehaviour;
  /** Default: real time, real timers. */
  clock?: SupervisorClock;
  /** Called for every tree event, in order. */
  onEvent?(event: TreeEvent): void;
}

/** A tree of real supervisors whose workers and listeners are SimulatedChild stand-ins. */
export class SimulatedTree implements TreeHost {
  readonly logger: Logger = pino({ level: 'silent' });
  readonly standby = new StandbyPool(this.logger);
  readonly output = new OutputLog();
  readonly clock: SupervisorClock;
  readonly behaviour: SimulatedBehaviour;
  /** The running stand-ins by path. */
  readonly live = new Map<string, SimulatedChild>();
  readonly done: Promise<ExitReason>;
  private readonly nodes = new Map<string, SupervisorNode>();
  private readonly root: SupervisorHandle;
  private readonly onEvent: ((event: TreeEvent) => void) | undefined;

  constructor(
    readonly spec: SupervisorSpec,
    options: SimulatedTreeOptions = {},
  ) {
    assertValidSpec(spec);
    this.behaviour = options.behaviour ?? {};
    this.clock = options.clock ?? { now: Date.now, random: Math.random, timers: { setTimeout, clearTimeout } };
    this.onEvent = options.onEvent;
    let settle!: (reason: ExitReason) => void;
    this.done = new Promise((resolve) => (settle = resolve));
    this.root = new SupervisorHandle(
      spec,
      { path: spec.id, logger: this.logger, onExit: settle, resolveListener: () => undefined },
      undefined,
      this,
    );
  }

  start(): Promise<void> {
    return this.root.start();
  }

  async stop(): Promise<ExitReason> {
    return this.root.terminate();
  }

  createLeaf(spec: WorkerSpec | ListenerSpec, ctx: ChildContext): ChildHandle {
    return new SimulatedChild(ctx.path, spec, ctx, this);
  }

  publish(event: TreeEvent): void {
    this.onEvent?.(event);
  }

  register(node: SupervisorNode): void {
    this.nodes.set(node.path, node);
  }

  unregister(node: SupervisorNode): void {
    if (this.nodes.get(node.path) === node) this.nodes.delete(node.path);
  }

  node(path: string): SupervisorNode {
    const node = this.nodes.get(path);
    if (!node) throw new calls.CallError('not_found', `no running supervisor at '${path}'`);
    return node;
  }

  /** The supervisor at `path` is running with nothing queued: everything sent to it so far is handled. */
  idle(path: string = this.spec.id): boolean {
    const node = this.nodes.get(path);
    if (!node) return true;
    const snapshot = node.actor.getSnapshot();
    return (
      snapshot.status !== 'active' ||
      (node.state === 'running' && snapshot.context.inbox.length === 0 && node.arriving === 0)
    );
  }

  startChild(path: string, argsOrSpec: string[] | ChildSpec = []): Promise<ChildInfo> {
    return calls.startChild(this.node(path), argsOrSpec);
  }

  terminateChild(path: string, id: string): Promise<void> {
    return calls.terminateChild(this.node(path), id);
  }

  restartChild(path: string, id: string): Promise<ChildInfo> {
    return calls.restartChild(this.node(path), id);
  }

  deleteChild(path: string, id: string): Promise<void> {
    return calls.deleteChild(this.node(path), id);
  }

  setFlags(path: string, flags: SupervisorFlags): Promise<void> {
    return calls.setFlags(this.node(path), flags);
  }
}
