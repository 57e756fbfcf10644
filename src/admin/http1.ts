// A small HTTP/1.1 server for the admin endpoint: GET and HEAD of tiny resources, nothing else. Its clients are
// untrusted, and node's own server parses every request a client pipelines before any is answered (2,000
// requests in one 64 KiB read: each an object, each a 'request' event), which costs the supervisor's loop whatever
// the answers. Here a connection is read one request at a time, and everything a client can make the supervisor
// hold is bounded:
// - one request answered at a time; while it is, the connection is not read (what the client sends waits in the
//   kernel); more than `maxHeadBytes` of requests received ahead of their turn (deep pipelining) closes it;
// - the next request is read only once the answer is in the kernel: a client that does not read its answers stops
//   being read, and is closed when nothing moves for `stallMs`;
// - a request's head must arrive whole within `headersTimeoutMs` of its first byte (or of the connection, or of
//   the previous answer), and is at most `maxHeadBytes`;
// - at `maxConnections`, a newcomer is let in and the least recently active idle connection is closed for it,
//   else the least recently active one: probes get in however many clients hold connections open.
// Requests with a body are refused (400) and the connection closed.
import net from 'node:net';

export interface Http1Request {
  method: string;
  /** The request target as sent (`/tree?path=root`). */
  target: string;
}

export interface Http1Answer {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

export type Http1Handler = (request: Http1Request) => Http1Answer | Promise<Http1Answer>;

export interface Http1Limits {
  maxConnections: number;
  /** The longest request head, and the most request bytes a connection may send ahead of its answers. */
  maxHeadBytes: number;
  /** A request head must arrive whole within this many ms (an idle keep-alive connection: closed then). */
  headersTimeoutMs: number;
  /** No byte moving for this long while an answer is being delivered: closed. */
  stallMs: number;
}

export const HTTP1_LIMITS: Http1Limits = {
  maxConnections: 64,
  maxHeadBytes: 8 * 1024,
  headersTimeoutMs: 2_000,
  stallMs: 10_000,
};

const REASONS: Record<number, string> = {
  200: 'OK',
  400: 'Bad Request',
  404: 'Not Found',
  405: 'Method Not Allowed',
  408: 'Request Timeout',
  431: 'Request Header Fields Too Large',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};
const HEAD_END = Buffer.from('\r\n\r\n');

export class Http1Server {
  readonly server: net.Server;
  private readonly connections = new Set<Connection>();

  constructor(
    private readonly handler: Http1Handler,
    private readonly limits: Http1Limits = HTTP1_LIMITS,
  ) {
    this.server = net.createServer((socket) => this.accept(socket));
  }

  get connectionCount(): number {
    return this.connections.size;
  }

  close(): void {
    this.server.close();
    for (const connection of this.connections) connection.socket.destroy();
    this.connections.clear();
  }

  private accept(socket: net.Socket): void {
    if (this.connections.size >= this.limits.maxConnections) this.evictOne();
    const connection = new Connection(socket, this.handler, this.limits);
    this.connections.add(connection);
    socket.once('close', () => this.connections.delete(connection));
  }

  /** Closes the least recently active idle connection, else the least recently active one. */
  private evictOne(): void {
    let oldest: Connection | undefined;
    let oldestIdle: Connection | undefined;
    for (const connection of this.connections) {
      if (!oldest || connection.lastActive < oldest.lastActive) oldest = connection;
      if (connection.idle && (!oldestIdle || connection.lastActive < oldestIdle.lastActive)) oldestIdle = connection;
    }
    const victim = oldestIdle ?? oldest;
    if (!victim) return;
    this.connections.delete(victim);
    victim.socket.destroy();
  }
}

class Connection {
  lastActive = performance.now();
  private buffered: Buffer = Buffer.alloc(0);
  private busy = false;
  private deadline: NodeJS.Timeout | undefined;

  constructor(
    readonly socket: net.Socket,
    private readonly handler: Http1Handler,
    private readonly limits: Http1Limits,
  ) {
    socket.setNoDelay(true);
    socket.on('error', () => socket.destroy());
    socket.on('data', (chunk: Buffer) => this.receive(chunk));
    socket.once('close', () => this.disarm());
    this.expectRequest();
  }

  /** No request is being answered and none has begun to arrive. */
  get idle(): boolean {
    return !this.busy && this.buffered.length === 0;
  }

  private expectRequest(): void {
    this.closeAfter(this.limits.headersTimeoutMs);
  }

  /**
   * Closes the connection in `ms` unless the deadline is moved or lifted first. A timer runs before the I/O of its
   * turn: after the supervisor's loop stalled past the deadline, what the client sent in time is still unread. So the
   * close waits for that I/O (an immediate runs after it) and is off if what was read moved the deadline.
   */
  private closeAfter(ms: number): void {
    clearTimeout(this.deadline);
    const deadline = setTimeout(() => {
      setImmediate(() => {
        if (this.deadline === deadline) this.socket.destroy();
      });
    }, ms);
    deadline.unref();
    this.deadline = deadline;
  }

  private disarm(): void {
    clearTimeout(this.deadline);
    this.deadline = undefined;
  }

  private receive(chunk: Buffer): void {
    this.lastActive = performance.now();
    this.buffered = this.buffered.length === 0 ? chunk : Buffer.concat([this.buffered, chunk]);
    if (!this.busy) return this.next();
    // Requests sent ahead of their answers beyond a head's worth: a client pipelining this deep is not waiting for
    // its answers. Dropped before any of it is parsed.
    if (this.buffered.length > this.limits.maxHeadBytes) this.socket.destroy();
  }

  /** Answers the next request if its head has arrived whole. */
  private next(): void {
    const end = this.buffered.indexOf(HEAD_END);
    if (end < 0) {
      if (this.buffered.length > this.limits.maxHeadBytes) this.refuse(431);
      return;
    }
    if (end > this.limits.maxHeadBytes) return this.refuse(431);
    const head = this.buffered.subarray(0, end).toString('latin1');
    this.buffered = this.buffered.subarray(end + HEAD_END.length);
    if (this.buffered.length > this.limits.maxHeadBytes) {
      this.socket.destroy(); // pipelined too deep (see receive())
      return;
    }
    const request = parseHead(head);
    if (!request) return this.refuse(400);
    this.busy = true;
    this.socket.pause();
    this.disarm();
    void Promise.resolve()
      .then(() => this.handler({ method: request.method, target: request.target }))
      .catch((): Http1Answer => ({
        status: 500,
        headers: { 'Content-Type': 'application/json' },
        body: Buffer.from('{"error":"internal"}\n'),
      }))
      .then((answer) => this.deliver(answer, request.method === 'HEAD', request.keepAlive));
  }

  private deliver(answer: Http1Answer, headOnly: boolean, keepAlive: boolean): void {
    if (this.socket.destroyed) return;
    const head = [`HTTP/1.1 ${answer.status} ${REASONS[answer.status] ?? 'Unknown'}`];
    for (const [name, value] of Object.entries(answer.headers)) head.push(`${name}: ${value}`);
    head.push(`Content-Length: ${answer.body.length}`, `Connection: ${keepAlive ? 'keep-alive' : 'close'}`, '', '');
    // Until the answer is in the kernel, nothing moving for stallMs means a client that does not read.
    this.closeAfter(this.limits.stallMs);
    const written = (): void => {
      if (this.socket.destroyed) return;
      this.lastActive = performance.now();
      this.busy = false;
      if (!keepAlive) {
        this.disarm();
        this.socket.end();
        return;
      }
      this.expectRequest();
      this.socket.resume();
      if (this.buffered.length > 0) this.next();
    };
    // The last write's callback: every byte of the answer handed to the kernel.
    const withBody = !headOnly && answer.body.length > 0;
    this.socket.cork();
    this.socket.write(head.join('\r\n'), 'latin1', withBody ? undefined : written);
    if (withBody) this.socket.write(answer.body, written);
    this.socket.uncork();
  }

  private refuse(status: number): void {
    this.busy = true;
    this.socket.pause();
    this.buffered = Buffer.alloc(0);
    this.disarm();
    const body = Buffer.from(`${JSON.stringify({ error: REASONS[status] ?? 'bad request' })}\n`);
    this.socket.end(
      `HTTP/1.1 ${status} ${REASONS[status]}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body.toString()}`,
      'latin1',
    );
    this.closeAfter(this.limits.stallMs);
  }
}

/** The request line and the headers that matter; undefined for anything malformed or with a body. */
export function parseHead(head: string): { method: string; target: string; keepAlive: boolean } | undefined {
  const lines = head.split('\r\n');
  const requestLine = /^([A-Z]{1,16}) (\S{1,4096}) HTTP\/1\.([01])$/.exec(lines[0] ?? '');
  if (!requestLine) return undefined;
  const [, method, target, minor] = requestLine;
  let keepAlive = minor === '1';
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    if (colon <= 0) return undefined;
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line
      .slice(colon + 1)
      .trim()
      .toLowerCase();
    if (name === 'transfer-encoding') return undefined;
    if (name === 'content-length' && value !== '0') return undefined;
    if (name === 'connection') {
      if (value.includes('close')) keepAlive = false;
      else if (value.includes('keep-alive')) keepAlive = true;
    }
  }
  return { method: method!, target: target!, keepAlive };
}
