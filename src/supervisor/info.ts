// What the tree API tells about a child: its record described for whichChildren, status and the control socket.
import { ListenerHandle, formatAddress, type ListenerStats } from '../listener/index.js';
import type { ChildType, ExitReason, WorkerKind } from '../types.js';
import type { ChildRecord } from './children.js';
import { HostedTaskHandle, type HostPlacement } from '../host/hosted.js';

/** One child as `whichChildren()` and `status()` describe it. */
export interface ChildInfo {
  /** Its id within its supervisor. */
  id: string;
  /** The kind of child. */
  type: ChildType;
  /** A worker's kind: a forked `process` or a `thread` (then `pid` is undefined). */
  kind?: WorkerKind;
  /** The worker's pid while it runs (none for listeners, supervisors and stopped children). */
  pid: number | undefined;
  /** Where it is in its life. */
  status: ChildRecord['status'];
  /** How many times it has been restarted. */
  restarts: number;
  /** ms since the current incarnation started, when running. */
  uptime: number | undefined;
  /** Its restart type. */
  restart: ChildRecord['spec']['restart'];
  /** Why its previous incarnation ended, once one has. */
  lastExit?: ExitReason;
  /** ms left before a restart delayed by the child's backoff (while it waits). */
  restartIn?: number;
  /** A running listener's address, mode and queues. */
  listener?: ListenerInfo;
  /** A task in a host pool: the pool, and the host incarnation (and pid) it runs in while it runs. */
  host?: HostPlacement;
}

/** What status shows of a running listener. */
export interface ListenerInfo {
  /** `host:port` it is bound to. */
  address: string | undefined;
  /** `shared` or `round_robin`. */
  mode: ListenerStats['mode'];
  /** The socket is in LISTEN state: new connections wait instead of being refused. */
  listening: boolean;
  /** Workers serving it (shared: listening on it; round_robin: ready for connections). */
  serving: number;
  /** round_robin only: the connections the listener has handed out, holds and dropped. */
  connections?: ListenerStats['connections'];
}

/** @internal */
export function describe(record: ChildRecord): ChildInfo {
  const spec = record.spec;
  // Most children have nothing beyond the common fields (a task, a supervisor): one object, no spread (describe
  // answers every startChild, thousands in a burst).
  if (
    spec.type !== 'worker' &&
    spec.type !== 'listener' &&
    !(spec.type === 'task' && 'module' in spec) &&
    record.lastExit === undefined &&
    record.restartDueAt === undefined
  ) {
    return {
      id: spec.id,
      type: spec.type,
      pid: record.status === 'stopped' ? undefined : record.handle?.pid,
      status: record.status,
      restarts: record.restarts,
      uptime: record.status === 'running' && record.startedAt !== undefined ? Date.now() - record.startedAt : undefined,
      restart: spec.restart,
    };
  }
  return {
    id: record.spec.id,
    type: record.spec.type,
    ...(record.spec.type === 'worker' ? { kind: record.spec.kind ?? 'process' } : {}),
    pid: record.status === 'stopped' ? undefined : record.handle?.pid,
    status: record.status,
    restarts: record.restarts,
    uptime: record.status === 'running' && record.startedAt !== undefined ? Date.now() - record.startedAt : undefined,
    restart: record.spec.restart,
    ...(record.lastExit !== undefined ? { lastExit: record.lastExit } : {}),
    ...(record.restartDueAt !== undefined ? { restartIn: Math.max(0, record.restartDueAt - Date.now()) } : {}),
    ...(record.spec.type === 'task' && 'module' in record.spec
      ? {
          host: {
            name: record.spec.host,
            ...(record.handle instanceof HostedTaskHandle && record.status === 'running'
              ? record.handle.placement
              : {}),
          },
        }
      : {}),
    ...(record.handle instanceof ListenerHandle && record.status === 'running'
      ? { listener: listenerInfo(record.handle) }
      : {}),
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
