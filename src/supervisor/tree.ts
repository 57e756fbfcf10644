// The public face of a running supervision tree (DESIGN.md §8): start(spec) → Tree.
import { EventEmitter } from 'node:events';
import { pino, type Logger } from 'pino';
import type { ChaosFault } from '../protocol.js';
import type { ChildType, ExitReason, SupervisorSpec } from '../types.js';
import { WorkerHandle } from '../worker/process.js';
import type { ChildRecord } from './children.js';
import { levelOf, type TreeEvent, type TreeEventName } from './events.js';
import { SupervisorHandle, SupervisorNode, type TreeHost } from './node.js';
import { assertValidSpec } from './validate.js';
import { StandbyPool } from '../worker/standby.js';
import { ListenerHandle, formatAddress, type ListenerStats } from '../listener/index.js';
import * as calls from './calls.js';
import { stdoutLogger } from '../log/stdout.js';

export interface StartOptions {
  /** Where the tree's events are logged: a pino logger, or `false` for none. Default: JSON lines on stdout. */
  logger?: Logger | false;
}

export interface ChildInfo {
  id: string;
  type: ChildType;
  pid: number | undefined;
  status: ChildRecord['status'];
  restarts: number;
  /** ms since the current incarnation started, when running. */
  uptime: number | undefined;
  restart: ChildRecord['spec']['restart'];
  lastExit?: ExitReason;
  listener?: ListenerInfo;
}

/** What status shows of a running listener. */
export interface ListenerInfo {
  address: string | undefined;
  mode: ListenerStats['mode'];
  /** The socket is in LISTEN state: new connections wait instead of being refused. */
  listening: boolean;
  /** Workers serving it (shared: listening on it; round_robin: ready for connections). */
  serving: number;
  connections?: ListenerStats['connections'];
}

export interface ChildCounts {
  specs: number;
  active: number;
  supervisors: number;
  workers: number;
  listeners: number;
}

export interface SupervisorStatus {
  path: string;
  state: string;
  strategy: SupervisorSpec['strategy'];
  children: Array<ChildInfo & { supervisor?: SupervisorStatus }>;
}

export class Tree extends EventEmitter implements TreeHost {
  readonly logger: Logger;
  /** Resolves with the root's exit reason: `normal` after stop(), `shutdown` when it gave up or shut itself down. */
  readonly done: Promise<ExitReason>;
  readonly standby: StandbyPool;
  private readonly nodes = new Map<string, SupervisorNode>();
  private readonly root: SupervisorHandle;
  private settle!: (reason: ExitReason) => void;
  private stopping: Promise<ExitReason> | undefined;

  /** Use `start(spec)`. */
  constructor(readonly spec: SupervisorSpec, logger: Logger) {
    super();
    this.logger = logger;
    this.standby = new StandbyPool(logger);
    this.done = new Promise((resolve) => (this.settle = resolve));
    void this.done.then(() => this.standby.close());
    this.root = new SupervisorHandle(spec, {
      path: spec.id,
      logger,
      onExit: (reason) => this.settle(reason),
      resolveListener: () => undefined,
    }, undefined, this);
  }

  /** @internal */
  async run(): Promise<void> {
    try {
      await this.root.start();
    } catch (error) {
      this.standby.close();
      throw error;
    }
  }

  publish(event: TreeEvent): void {
    this.logger[levelOf(event)](event);
    this.emit(event.event, event);
    this.emit('event', event);
  }

  register(node: SupervisorNode): void {
    this.nodes.set(node.path, node);
  }

  unregister(node: SupervisorNode): void {
    if (this.nodes.get(node.path) === node) this.nodes.delete(node.path);
  }

  override on(event: TreeEventName | 'event', listener: (event: TreeEvent) => void): this;
  override on(event: string | symbol, listener: (...args: any[]) => void): this {
    return super.on(event, listener);
  }

  /** The children of the supervisor at `path` (default: the root), in start order. */
  whichChildren(path: string = this.spec.id): ChildInfo[] {
    return this.node(path).children.map(describe);
  }

  countChildren(path: string = this.spec.id): ChildCounts {
    const node = this.node(path);
    const children = node.children;
    const count = (type: ChildType) => children.filter((c) => c.spec.type === type).length;
    return {
      // As OTP: a simple_one_for_one supervisor has one spec, its template, however many children it runs.
      specs: node.spec.strategy === 'simple_one_for_one' ? 1 : children.length,
      active: children.filter((c) => c.status === 'running').length,
      supervisors: count('supervisor'),
      workers: count('worker'),
      listeners: count('listener'),
    };
  }

  /** The whole live tree: supervisor states from their machines, children, pids, restarts, uptimes. */
  status(path: string = this.spec.id): SupervisorStatus {
    const node = this.node(path);
    return {
      path,
      state: node.state,
      strategy: node.spec.strategy,
      children: node.children.map((record) => {
        const info = describe(record);
        const nested = record.spec.type === 'supervisor' ? this.nodes.get(`${path}/${record.spec.id}`) : undefined;
        return nested && record.status !== 'stopped' ? { ...info, supervisor: this.status(nested.path) } : info;
      }),
    };
  }

  /** simple_one_for_one: starts a child from the template with extra args; otherwise starts a stopped child spec. */
  startChild(path: string, argsOrSpec: string[] | SupervisorSpec['children'][number] = []): Promise<ChildInfo> {
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

  /**
   * Chaos testing: sends `fault` to the running worker at `childPath` (`root/pool/web-1`), which honours it only
   * when it runs with ARBOR_CHAOS=1. Throws CallError `not_found` unless that child is a running worker.
   */
  injectFault(childPath: string, fault: ChaosFault): { path: string; pid: number; fault: ChaosFault } {
    const slash = childPath.lastIndexOf('/');
    const id = childPath.slice(slash + 1);
    const record = slash > 0 ? this.node(childPath.slice(0, slash)).children.find((c) => c.spec.id === id) : undefined;
    const pid = record?.status === 'running' && record.handle instanceof WorkerHandle ? record.handle.inject(fault) : undefined;
    if (pid === undefined) throw new calls.CallError('not_found', `'${childPath}' is not a running worker`);
    return { path: childPath, pid, fault };
  }

  /** Stops the whole tree in reverse start order, honouring every shutdown value. Resolves with the root's reason. */
  stop(options: { brutal?: boolean } = {}): Promise<ExitReason> {
    if (options.brutal) void this.root.kill();
    this.stopping ??= this.root.terminate().then((reason) => {
      this.settle(reason);
      return reason;
    });
    return this.stopping;
  }

  private node(path: string): SupervisorNode {
    const node = this.nodes.get(path);
    if (!node) throw new calls.CallError('not_found', `no running supervisor at '${path}'`);
    return node;
  }
}

export function describe(record: ChildRecord): ChildInfo {
  return {
    id: record.spec.id,
    type: record.spec.type,
    pid: record.status === 'stopped' ? undefined : record.handle?.pid,
    status: record.status,
    restarts: record.restarts,
    uptime: record.status === 'running' && record.startedAt !== undefined ? Date.now() - record.startedAt : undefined,
    restart: record.spec.restart,
    ...(record.lastExit !== undefined ? { lastExit: record.lastExit } : {}),
    ...(record.handle instanceof ListenerHandle && record.status === 'running' ? { listener: listenerInfo(record.handle) } : {}),
  };
}

function listenerInfo(handle: ListenerHandle): ListenerInfo {
  const stats = handle.stats();
  return {
    address: stats.address ? formatAddress(stats.address.host, stats.address.port) : undefined,
    mode: stats.mode,
    listening: stats.listening,
    serving: stats.workers.serving,
    ...(stats.mode === 'round_robin' ? { connections: stats.connections } : {}),
  };
}

/** Validates the spec, starts every child in order and resolves once the whole tree is running. */
export async function start(spec: SupervisorSpec, options: StartOptions = {}): Promise<Tree> {
  assertValidSpec(spec);
  const logger = options.logger === false ? pino({ level: 'silent' }) : options.logger ?? stdoutLogger();
  const tree = new Tree(spec, logger);
  await tree.run();
  return tree;
}
