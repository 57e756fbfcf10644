// The connections of the admin endpoint, whose clients are untrusted. Everything one can make the supervisor hold
// is bounded:
// - one request at a time per connection: requests pipelined behind it wait unread-for (the socket is paused);
//   more than `maxPipelined` waiting closes the connection;
// - a connection whose client does not read its answers stops being served: the next request starts only once
//   the previous answer has been handed to the kernel, and a connection with no progress for `stallMs` is closed;
// - at `maxConnections`, a newcomer is let in and the least recently active idle connection (no request being
//   answered) is closed for it, else the least recently active one: probes get in however many clients hold on.
import type http from 'node:http';
import type { Socket } from 'node:net';

export interface ConnectionLimits {
  maxConnections: number;
  /** Requests received on one connection and not yet answered, beyond the one being answered. */
  maxPipelined: number;
  /** A connection with a request being answered and no byte moving for this long is closed. */
  stallMs: number;
}

export const CONNECTION_LIMITS: ConnectionLimits = { maxConnections: 64, maxPipelined: 4, stallMs: 10_000 };

type Handler = (req: http.IncomingMessage, res: http.ServerResponse) => void;

interface Connection {
  socket: Socket;
  lastActive: number;
  busy: boolean;
  waiting: Array<{ req: http.IncomingMessage; res: http.ServerResponse }>;
}

export class AdminConnections {
  private readonly open = new Map<Socket, Connection>();

  constructor(private readonly limits: ConnectionLimits, private readonly handle: Handler) {}

  /** Follows `server`'s connections and requests. */
  attach(server: http.Server): void {
    server.on('connection', (socket: Socket) => this.accept(socket));
    server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => this.enqueue(req, res));
  }

  get count(): number {
    return this.open.size;
  }

  closeAll(): void {
    for (const socket of this.open.keys()) socket.destroy();
    this.open.clear();
  }

  private accept(socket: Socket): void {
    if (this.open.size >= this.limits.maxConnections) this.evictOne();
    const connection: Connection = { socket, lastActive: performance.now(), busy: false, waiting: [] };
    this.open.set(socket, connection);
    socket.once('close', () => this.open.delete(socket));
    socket.setTimeout(this.limits.stallMs, () => socket.destroy());
  }

  /** Closes the least recently active idle connection, else the least recently active one. */
  private evictOne(): void {
    let victim: Connection | undefined;
    let idleVictim: Connection | undefined;
    for (const connection of this.open.values()) {
      const idle = !connection.busy && connection.waiting.length === 0;
      if (idle && (!idleVictim || connection.lastActive < idleVictim.lastActive)) idleVictim = connection;
      if (!victim || connection.lastActive < victim.lastActive) victim = connection;
    }
    const chosen = idleVictim ?? victim;
    if (!chosen) return;
    this.open.delete(chosen.socket);
    chosen.socket.destroy();
  }

  private enqueue(req: http.IncomingMessage, res: http.ServerResponse): void {
    const connection = this.open.get(req.socket);
    if (!connection || req.socket.destroyed) {
      req.socket.destroy();
      return;
    }
    connection.lastActive = performance.now();
    if (connection.busy) {
      if (connection.waiting.length >= this.limits.maxPipelined) {
        // A client pipelining this deep is not waiting for its answers: drop it rather than queue work for it.
        connection.waiting.length = 0;
        this.open.delete(req.socket);
        req.socket.destroy();
        return;
      }
      connection.waiting.push({ req, res });
      req.socket.pause();
      return;
    }
    this.serve(connection, req, res);
  }

  private serve(connection: Connection, req: http.IncomingMessage, res: http.ServerResponse): void {
    connection.busy = true;
    // 'close': the answer has been handed to the kernel (or the connection is gone).
    res.once('close', () => {
      connection.busy = false;
      connection.lastActive = performance.now();
      if (connection.socket.destroyed) return;
      const next = connection.waiting.shift();
      if (next) this.serve(connection, next.req, next.res);
      else connection.socket.resume();
    });
    this.handle(req, res);
  }
}
