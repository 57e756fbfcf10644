// The control socket of `arbor run`: a Unix socket, private to its user (0600), speaking newline-delimited JSON.
// Its clients are untrusted, so everything a client can make the supervisor hold is bounded (see CONTROL_LIMITS):
// connections (the least recently active one with no request being performed makes room for a newcomer), idle
// time, requests in progress and unsent answer bytes per connection (beyond them the connection is not read until
// its answers drain), the request line (answered `too_large`, then closed) and the answer line (see answerLine()).
import { createServer, type Server, type Socket } from 'node:net';
import { MAX_LINE_BYTES, type ControlResponse } from './client.js';
import { answerLine, type ControlHooks } from './requests.js';
import { SharedReads } from './shared-reads.js';
import { claimSocketPath, identifySocket, sameSocket, type SocketIdentity } from './socket-path.js';

export type { ControlHooks } from './requests.js';

export interface ControlLimits {
  /** Connections held at once. At the cap, the least recently active one not performing a request makes room. */
  maxConnections: number;
  /** A connection with no request being performed and nothing received or sent for this long is closed. */
  idleTimeoutMs: number;
  /** Requests of one connection being answered at once; more wait, unread, in the kernel. */
  maxInFlight: number;
  /** Unsent answer bytes of one connection beyond which its requests are no longer read. */
  maxUnsentBytes: number;
}

export const CONTROL_LIMITS: ControlLimits = {
  maxConnections: 64,
  idleTimeoutMs: 60_000,
  maxInFlight: 4,
  maxUnsentBytes: 256 * 1024,
};

export class ControlServer {
  private readonly server: Server;
  private readonly connections = new Set<Connection>();
  /** Reads of the tree shared by every connection (status of a large tree is costly). */
  private readonly shared = new SharedReads();
  private identity: SocketIdentity | undefined;

  private constructor(
    readonly socketPath: string,
    private readonly hooks: ControlHooks,
    readonly limits: ControlLimits,
  ) {
    this.server = createServer((socket) => this.accept(socket));
    this.server.on('error', () => {}); // accept errors (EMFILE) are transient: node retries on the next readable
  }

  /**
   * Listens at `socketPath`. The path must be free, or hold a stale socket of this user (a crashed run's), which
   * is replaced; anything else there (a live arbor, a file, a link, another user's socket) is refused untouched.
   */
  static async open(
    socketPath: string,
    hooks: ControlHooks,
    limits: Partial<ControlLimits> = {},
  ): Promise<ControlServer> {
    await claimSocketPath(socketPath);
    const control = new ControlServer(socketPath, hooks, { ...CONTROL_LIMITS, ...limits });
    await new Promise<void>((resolve, reject) => {
      const fail = (error: Error): void => reject(error);
      control.server.once('error', fail);
      // The socket file is created by bind inside listen(): the umask keeps it private from the first instant.
      const previous = process.umask(0o177);
      try {
        control.server.listen(socketPath, () => {
          control.server.off('error', fail);
          resolve();
        });
      } finally {
        process.umask(previous);
      }
    });
    control.identity = identifySocket(socketPath);
    return control;
  }

  /**
   * Drops connections and removes the socket file if it is still the one this server bound. libuv unlinks a
   * unix server's path by name when it closes, whatever is there by then: so when the path now holds another
   * run's socket, the listening handle is not closed but left to the end of the process (`arbor run` exits next).
   */
  close(): void {
    this.shared.close();
    for (const connection of this.connections) connection.socket.destroy();
    const ours = this.identity !== undefined && sameSocket(this.socketPath, this.identity);
    this.identity = undefined;
    if (ours) this.server.close();
    else this.server.unref();
  }

  get connectionCount(): number {
    return this.connections.size;
  }

  private accept(socket: Socket): void {
    if (this.connections.size >= this.limits.maxConnections && !this.evictOne()) {
      const response: ControlResponse = {
        id: null,
        ok: false,
        error: { code: 'busy', message: 'too many control connections at work; try again' },
      };
      socket.on('error', () => socket.destroy());
      socket.end(`${JSON.stringify(response)}\n`);
      socket.setTimeout(1000, () => socket.destroy());
      return;
    }
    const connection = new Connection(socket, this.hooks, this.limits, this.shared);
    this.connections.add(connection);
    socket.on('close', () => this.connections.delete(connection));
  }

  /** Closes the connection active longest ago among those with no request being performed; false if none. */
  private evictOne(): boolean {
    let oldest: Connection | undefined;
    for (const connection of this.connections) {
      if (connection.evictable && (!oldest || connection.lastActive < oldest.lastActive)) oldest = connection;
    }
    if (!oldest) return false;
    this.connections.delete(oldest);
    oldest.socket.destroy();
    return true;
  }
}

/** One client: its request lines in order, answered at most `maxInFlight` at a time, read only while it keeps up. */
class Connection {
  lastActive = performance.now();
  private inFlight = 0;
  private readonly queue: string[] = [];
  private partial: Buffer[] = [];
  private partialBytes = 0;
  private closed = false;

  constructor(
    readonly socket: Socket,
    private readonly hooks: ControlHooks,
    private readonly limits: ControlLimits,
    private readonly shared: SharedReads,
  ) {
    socket.on('error', () => socket.destroy());
    socket.on('close', () => (this.closed = true));
    socket.on('data', (chunk: Buffer) => this.receive(chunk));
    socket.on('drain', () => this.pump());
    // Silent for that long with nothing being performed: idle, or stalled by a client that does not read.
    socket.setTimeout(limits.idleTimeoutMs, () => {
      if (this.evictable) socket.destroy();
    });
  }

  /** No request is being performed: closing it loses at most answers its client has not been reading. */
  get evictable(): boolean {
    return this.inFlight === 0;
  }

  private receive(chunk: Buffer): void {
    this.lastActive = performance.now();
    let start = 0;
    let newline: number;
    while ((newline = chunk.indexOf(0x0a, start)) >= 0) {
      if (this.partialBytes + newline - start > MAX_LINE_BYTES) return this.refuseOversize();
      this.partial.push(chunk.subarray(start, newline));
      this.queue.push(Buffer.concat(this.partial).toString('utf8'));
      this.partial = [];
      this.partialBytes = 0;
      start = newline + 1;
    }
    this.partialBytes += chunk.length - start;
    if (this.partialBytes > MAX_LINE_BYTES) return this.refuseOversize();
    if (start < chunk.length) this.partial.push(chunk.subarray(start));
    this.pump();
  }

  /** Starts queued requests while there is room, and reads more only when the queue is empty and answers drain. */
  private pump(): void {
    while (
      this.queue.length > 0 &&
      this.inFlight < this.limits.maxInFlight &&
      this.socket.writableLength < this.limits.maxUnsentBytes
    ) {
      this.perform(this.queue.shift()!);
    }
    const keepingUp = this.queue.length === 0 && this.socket.writableLength < this.limits.maxUnsentBytes;
    if (keepingUp && this.socket.isPaused()) this.socket.resume();
    else if (!keepingUp && !this.socket.isPaused()) this.socket.pause();
  }

  private perform(line: string): void {
    this.inFlight += 1;
    void answerLine(line, this.hooks, this.shared).then((answer) => {
      this.inFlight -= 1;
      if (this.closed || !this.socket.writable) return;
      this.lastActive = performance.now();
      this.socket.write(answer);
      this.pump();
    });
  }

  private refuseOversize(): void {
    const response: ControlResponse = {
      id: null,
      ok: false,
      error: { code: 'too_large', message: `a request line is limited to ${MAX_LINE_BYTES} bytes` },
    };
    this.queue.length = 0;
    this.socket.removeAllListeners('data');
    this.socket.pause();
    this.socket.end(`${JSON.stringify(response)}\n`, () => this.socket.destroy());
  }
}
