// A listener child: an actor in the supervisor's own process that owns one listening TCP handle and gives the
// workers that name it what they need to serve it (DESIGN.md §6). One file per mode: shared.ts, round-robin.ts.
import type { ChildProcess } from 'node:child_process';
import { StartFailure, type ChildContext, type ChildHandle, type ListenerLink } from '../child.js';
import type { ExitReason, ListenerMode, ListenerSpec } from '../types.js';
import { RoundRobinListener } from './round-robin.js';
import {
  adoptServerHandle,
  bindServerHandle,
  formatAddress,
  type AcceptedConnection,
  type BindResult,
  type ListenAddress,
} from './server-handle.js';
import { SharedListener } from './shared.js';
import { systemdSocket } from './activation.js';

export { formatAddress, type ListenAddress } from './server-handle.js';
export type { SharedHandleMessage } from './shared.js';

/** Above node's 511 so that a burst during a restart gap does not overflow (Linux caps it at somaxconn). */
export const DEFAULT_BACKLOG = 2048;

export interface ListenerStats {
  id: string;
  mode: ListenerMode;
  address: ListenAddress | undefined;
  /** The adopted descriptor (an inherited one, or the one systemd passed). */
  fd: number | undefined;
  backlog: number;
  /** The socket is in LISTEN state: connections wait in a queue instead of being refused. */
  listening: boolean;
  workers: {
    attached: number;
    /** shared: workers listening on the socket; round_robin: workers ready for connections. */
    serving: number;
  };
  /** round_robin only (all zero in shared mode, where the kernel hands connections to the workers). */
  connections: {
    /** Connections handed to a worker so far. */
    dispatched: number;
    /** Accepted and held until a worker is ready (at most `backlog`). */
    queued: number;
    /** Handed to a worker that has not acknowledged them yet. */
    inFlight: number;
    /** Handed again to another worker, the first having died before acknowledging. */
    redispatched: number;
    /** Closed because the queue was full. */
    dropped: number;
  };
}

type Mode = SharedListener | RoundRobinListener<AcceptedConnection>;

export class ListenerHandle implements ChildHandle {
  readonly pid = undefined;
  private mode: Mode | undefined;
  private address: ListenAddress | undefined;
  private adoptedFd: number | undefined;
  private workerLink: ListenerLink | undefined;
  private stopped = false;
  private closing: Promise<ExitReason> | undefined;

  constructor(
    readonly spec: ListenerSpec,
    private readonly ctx: ChildContext,
  ) {}

  /** Binds (or adopts `spec.fd`) and sets up the mode; rejects with StartFailure, leaving nothing open. */
  async start(): Promise<void> {
    const { spec } = this;
    const why = validate(spec);
    if (why !== undefined) throw this.failed(why);

    const bound = spec.fd !== undefined ? adoptDescriptor(spec.fd) : await bindServerHandle(spec.host, spec.port);
    if ('error' in bound) throw this.failed(bound.error);
    const { handle } = bound;
    if (this.stopped) return handle.close();

    let mode: Mode;
    if (spec.mode === 'round_robin') {
      const roundRobin = new RoundRobinListener(spec.id, handle, spec.backlog, this.ctx.logger);
      const error = roundRobin.start();
      if (error !== undefined) {
        roundRobin.close();
        throw this.failed(error);
      }
      mode = roundRobin;
    } else {
      mode = new SharedListener(spec.id, handle, spec.backlog, this.ctx.logger);
    }
    this.mode = mode;
    this.address = handle.address;
    this.adoptedFd = handle.fd;
    const shared = mode instanceof SharedListener ? mode : undefined;
    this.workerLink = {
      id: spec.id,
      address: { ...handle.address },
      attach: (worker) => mode.attach(worker),
      ...(shared ? { arm: (spare: ChildProcess, giveBack: () => Promise<void>) => shared.arm(spare, giveBack) } : {}),
    };
    this.ctx.logger.info(
      {
        event: 'listener_bound',
        listener: spec.id,
        mode: spec.mode,
        address: formatAddress(handle.address.host, handle.address.port),
        backlog: spec.backlog,
        listening: mode.listening,
        ...(handle.fd !== undefined ? { fd: handle.fd } : {}),
        ...(typeof spec.fd === 'string' ? { activation: spec.fd } : {}),
      },
      'listener bound',
    );
  }

  /** What workers see of this listener, from start() until it stops. */
  get link(): ListenerLink | undefined {
    return this.stopped ? undefined : this.workerLink;
  }

  async terminate(): Promise<ExitReason> {
    return this.close();
  }

  async kill(): Promise<ExitReason> {
    return this.close();
  }

  stats(): ListenerStats {
    const { mode } = this;
    const base = {
      id: this.spec.id,
      mode: this.spec.mode,
      address: this.address && { ...this.address },
      fd: typeof this.spec.fd === 'number' ? this.spec.fd : this.adoptedFd,
      backlog: this.spec.backlog,
      listening: mode?.listening ?? false,
    };
    if (mode instanceof RoundRobinListener) {
      const { attached, ready, ...connections } = mode.stats();
      return { ...base, workers: { attached, serving: ready }, connections };
    }
    const workers = mode?.stats() ?? { attached: 0, listening: 0 };
    return {
      ...base,
      workers: { attached: workers.attached, serving: workers.listening },
      connections: { dispatched: 0, queued: 0, inFlight: 0, redispatched: 0, dropped: 0 },
    };
  }

  /** Gone once the socket is closed and no parked spare holds a copy of it any more (shared mode). */
  private close(): Promise<ExitReason> {
    if (this.closing === undefined) {
      this.stopped = true;
      const closed = this.mode?.close();
      if (this.mode) this.ctx.logger.info({ event: 'listener_closed', listener: this.spec.id });
      this.closing = Promise.resolve(closed).then(() => 'shutdown' as const);
    }
    return this.closing;
  }

  private failed(why: string): StartFailure {
    this.ctx.logger.error({ event: 'listener_bind_failed', listener: this.spec.id, reason: why });
    return new StartFailure({ startFailed: why });
  }
}

/** A numbered descriptor, or the one systemd passed under that name (LISTEN_FDS / LISTEN_FDNAMES). */
function adoptDescriptor(fd: NonNullable<ListenerSpec['fd']>): BindResult {
  if (typeof fd === 'number') return adoptServerHandle(fd);
  const passed = systemdSocket(fd);
  return 'error' in passed ? passed : adoptServerHandle(passed.fd);
}

/** The same checks as spec validation, repeated here because a bad value would reach the kernel. */
function validate(spec: ListenerSpec): string | undefined {
  if (spec.fd === undefined && (!Number.isInteger(spec.port) || spec.port < 0 || spec.port > 65535)) {
    return `port ${spec.port} is out of range (0-65535)`;
  }
  if (!Number.isInteger(spec.backlog) || spec.backlog < 1) return `backlog ${spec.backlog} must be a positive integer`;
  if (spec.mode !== 'shared' && spec.mode !== 'round_robin') return `unknown listener mode ${String(spec.mode)}`;
  return undefined;
}
