// round_robin mode (node cluster's SCHED_RR, lib/internal/cluster/round_robin_handle.js): the supervisor's
// process accepts each connection, never reads from it, and hands it to the next ready worker over IPC.
//
// While no worker is ready, accepted connections wait in a queue here. node cannot stop polling a listening
// handle without closing its descriptor (which would refuse connections), so a user-space queue is the only way
// to keep accepting and still serve every connection later; node's RR handle queues the same way. The queue is
// bounded by the backlog: beyond it, connections are closed and counted as dropped.
//
// The supervisor keeps its own copy of each connection until the worker acknowledges it (`arbor:connection-ack`).
// A worker whose IPC channel closes before acknowledging never got or never took the connection: it goes back
// to the front of the queue for another worker.
import type { ChildProcess } from 'node:child_process';
import type { Logger } from 'pino';
import type { WorkerAttachment } from '../child.js';
import { parseWorkerMessage, type ParentMessage } from '../protocol.js';

/** What round_robin needs of an accepted socket (AcceptedConnection in production). */
export interface Connection {
  sendTo(worker: ChildProcess, message: object, callback: (error: Error | null) => void): void;
  close(): void;
}

/** What round_robin needs of the listening handle (ServerHandle in production). */
export interface ConnectionSource<C extends Connection> {
  accept(backlog: number, onConnection: (connection: C) => void): string | undefined;
  close(unclaimed?: C[]): void;
}

/**
 * Unacknowledged connections per worker. One, as node does: a worker's ack doubles as its request for more, at
 * most one connection is lost with a dying worker and re-dispatched, and node's own queue of handles awaiting
 * delivery (child_process `_handleQueue`) stays empty. Four roughly doubles round_robin throughput.
 */
const MAX_IN_FLIGHT_PER_WORKER = 1;

interface WorkerSlot<C> {
  process: ChildProcess;
  ready: boolean;
  /** seq → connection sent to this worker, not acknowledged yet. */
  inFlight: Map<number, C>;
  release(): void;
}

export interface RoundRobinStats {
  attached: number;
  ready: number;
  /** Connections handed over and acknowledged. */
  dispatched: number;
  queued: number;
  inFlight: number;
  /** Connections taken back from a worker that went away without acknowledging them. */
  redispatched: number;
  /** Connections closed because the queue was full. */
  dropped: number;
}

export class RoundRobinListener<C extends Connection> {
  private readonly queue: C[] = [];
  private readonly workers = new Map<ChildProcess, WorkerSlot<C>>();
  /** Ready workers in dispatch order; `next` points at the one to try first. */
  private readonly ring: WorkerSlot<C>[] = [];
  private next = 0;
  private seq = 0;
  private dispatched = 0;
  private redispatched = 0;
  private dropped = 0;
  private closed = false;

  constructor(
    private readonly id: string,
    private readonly source: ConnectionSource<C>,
    private readonly backlog: number,
    private readonly logger: Logger,
  ) {}

  /** Starts accepting. Returns an error message, or undefined. */
  start(): string | undefined {
    return this.source.accept(this.backlog, (connection) => this.enqueue(connection));
  }

  /** Accepting in this process: the socket listens from start(), no cold start. */
  get listening(): boolean {
    return !this.closed;
  }

  stats(): RoundRobinStats {
    let inFlight = 0;
    for (const slot of this.workers.values()) inFlight += slot.inFlight.size;
    return {
      attached: this.workers.size,
      ready: this.ring.length,
      dispatched: this.dispatched,
      queued: this.queue.length,
      inFlight,
      redispatched: this.redispatched,
      dropped: this.dropped,
    };
  }

  attach(worker: ChildProcess): WorkerAttachment {
    if (this.closed || this.workers.has(worker)) {
      this.logger.warn({ event: 'listener_attach_refused', listener: this.id, pid: worker.pid }, 'cannot attach');
      return { ready: () => {}, detach: () => {} };
    }
    const onMessage = (raw: unknown): void => {
      const message = parseWorkerMessage(raw);
      if (message?.type === 'arbor:connection-ack' && message.listener === this.id)
        this.acknowledged(slot, message.seq);
    };
    // Acks can no longer arrive once the channel is closed; 'disconnect' comes after every message it carried.
    // But node postpones 'disconnect' while handles it sent are unacknowledged, forever if the worker died:
    // 'close' (after the channel is read to its end) is the one event that always comes.
    const onDisconnect = (): void => this.reclaim(slot);
    const slot: WorkerSlot<C> = {
      process: worker,
      ready: false,
      inFlight: new Map(),
      release: () => {
        worker.off('message', onMessage);
        worker.off('disconnect', onDisconnect);
        worker.off('close', onDisconnect);
      },
    };
    this.workers.set(worker, slot);
    worker.on('message', onMessage);
    worker.once('disconnect', onDisconnect);
    worker.once('close', onDisconnect);

    const message: ParentMessage = { type: 'arbor:handle', listener: this.id, mode: 'round_robin' };
    if (worker.connected) worker.send(message, (error: Error | null) => error && this.reclaim(slot));
    else this.reclaim(slot);

    return {
      ready: () => {
        if (slot.ready || !this.workers.has(worker)) return;
        slot.ready = true;
        this.ring.push(slot);
        this.dispatch();
      },
      detach: () => this.detach(slot),
    };
  }

  /** Stops sending to the worker; what it has not acknowledged is taken back once its channel closes. */
  private detach(slot: WorkerSlot<C>): void {
    this.leaveRing(slot);
    if (!slot.process.connected) this.reclaim(slot);
  }

  private leaveRing(slot: WorkerSlot<C>): void {
    slot.ready = false;
    const at = this.ring.indexOf(slot);
    if (at < 0) return;
    this.ring.splice(at, 1);
    if (this.next > at) this.next -= 1;
  }

  /** The worker is gone: its unacknowledged connections go back to the front of the queue, in order. */
  private reclaim(slot: WorkerSlot<C>): void {
    if (this.workers.get(slot.process) !== slot) return;
    this.leaveRing(slot);
    this.workers.delete(slot.process);
    slot.release();
    const orphans = [...slot.inFlight.entries()];
    slot.inFlight.clear();
    if (orphans.length === 0) return;
    if (this.closed) return orphans.forEach(([, connection]) => connection.close());
    this.redispatched += orphans.length;
    this.queue.unshift(...orphans.map(([, connection]) => connection));
    for (const [seq] of orphans) {
      this.logger.warn({ event: 'connection_redispatched', listener: this.id, pid: slot.process.pid, seq });
    }
    this.dispatch();
  }

  private acknowledged(slot: WorkerSlot<C>, seq: number): void {
    const connection = slot.inFlight.get(seq);
    if (connection === undefined) return;
    slot.inFlight.delete(seq);
    // The worker holds its own descriptor now: closing ours sends nothing to the client.
    connection.close();
    this.dispatched += 1;
    this.dispatch();
  }

  private enqueue(connection: C): void {
    if (this.closed) return connection.close();
    if (this.queue.length >= this.backlog) {
      connection.close();
      if (this.dropped++ === 0 || this.dropped % 1000 === 0) {
        this.logger.warn({
          event: 'connection_dropped',
          listener: this.id,
          dropped: this.dropped,
          queued: this.queue.length,
        });
      }
      return;
    }
    this.queue.push(connection);
    this.dispatch();
  }

  private dispatch(): void {
    while (this.queue.length > 0) {
      const slot = this.nextFreeWorker();
      if (slot === undefined) return;
      const connection = this.queue.shift() as C;
      const seq = this.seq++;
      slot.inFlight.set(seq, connection);
      const message: ParentMessage = { type: 'arbor:connection', listener: this.id, seq };
      connection.sendTo(slot.process, message, (error) => {
        // Not sent: the worker never got it. Take it back now, and stop using this worker.
        if (error && slot.inFlight.delete(seq)) {
          this.leaveRing(slot);
          this.queue.unshift(connection);
          this.redispatched += 1;
          this.logger.warn({
            event: 'connection_redispatched',
            listener: this.id,
            pid: slot.process.pid,
            seq,
            error: error.message,
          });
          this.dispatch();
        }
      });
    }
  }

  /** The next ready worker, in turn, that has room for another connection. */
  private nextFreeWorker(): WorkerSlot<C> | undefined {
    for (let tried = 0; tried < this.ring.length; tried++) {
      const at = (this.next + tried) % this.ring.length;
      const slot = this.ring[at] as WorkerSlot<C>;
      if (slot.inFlight.size < MAX_IN_FLIGHT_PER_WORKER) {
        this.next = (at + 1) % this.ring.length;
        return slot;
      }
    }
    return undefined;
  }

  /** Stops accepting; queued connections are closed (or, on an adopted descriptor, kept for the next listener). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.ring.length = 0;
    const inFlight: C[] = [];
    for (const slot of this.workers.values()) {
      slot.release();
      inFlight.push(...slot.inFlight.values());
    }
    this.workers.clear();
    // Copies in flight: the workers that got theirs keep the connection open; closing ours is harmless.
    for (const connection of inFlight) connection.close();
    this.source.close(this.queue.splice(0));
  }
}
