// The one place that touches node's internal TCP handles (lib/net.js `_createServerHandle`, tcp_wrap).
//
// Why internals: a listening socket that survives the death of every worker must be held by the supervisor's
// process without being polled there. A public `net.Server` either accepts connections itself (listened) or
// closes the descriptor (closed). node's own cluster (shared_handle.js) binds with `net._createServerHandle` in
// the primary and lets each worker call `listen`; we do the same, and check the API exists at start.
import type { ChildProcess } from 'node:child_process';
import { lookup } from 'node:dns/promises';
import { readFileSync, readlinkSync } from 'node:fs';
import net from 'node:net';
import { getSystemErrorName } from 'node:util';

/** The parts of libuv's TCP handle (tcp_wrap) that arbor uses. */
interface RawTcpHandle {
  getsockname(out: { address?: string; port?: number; family?: string }): number;
  listen(backlog: number): number;
  onconnection: ((status: number, client?: RawTcpHandle) => void) | null;
  close(callback?: () => void): void;
  ref(): void;
  unref(): void;
}

type CreateServerHandle = (
  address: string | null,
  port: number,
  addressType: number,
  fd?: number,
  flags?: number,
) => RawTcpHandle | number;

const createServerHandle = (net as unknown as { _createServerHandle?: CreateServerHandle })._createServerHandle;

export interface ListenAddress {
  host: string;
  port: number;
}

/** A bound handle, or why there is none: a message a user can act on (`EADDRINUSE 127.0.0.1:8080`). */
export type BindResult = { handle: ServerHandle } | { error: string };

/** `[::1]:80` / `127.0.0.1:80`. */
export function formatAddress(host: string, port: number): string {
  return net.isIPv6(host) ? `[${host}]:${port}` : `${host}:${port}`;
}

function missingInternals(): string {
  return `net._createServerHandle is missing in Node.js ${process.version}; arbor listeners need it`;
}

function errnoName(errno: number): string {
  try {
    return getSystemErrorName(errno);
  } catch {
    return `errno ${errno}`;
  }
}

function addressOf(raw: RawTcpHandle): ListenAddress | number {
  const out: { address?: string; port?: number } = {};
  const err = raw.getsockname(out);
  if (err !== 0) return err;
  return { host: out.address ?? '', port: out.port ?? 0 };
}

/**
 * Binds (without listening) a TCP socket; resolves a host name first. A port another socket listens on is
 * refused here; one that another socket has only bound (nobody listening yet) is not: with SO_REUSEADDR, which
 * libuv sets, Linux lets both bind, and the loser's workers get EADDRINUSE from `listen`.
 */
export async function bindServerHandle(host: string, port: number): Promise<BindResult> {
  if (!Number.isInteger(port) || port < 0 || port > 65535) return { error: `port ${port} is out of range (0-65535)` };
  if (typeof createServerHandle !== 'function') return { error: missingInternals() };

  let ip = host;
  let family = net.isIP(host);
  if (family === 0) {
    try {
      ({ address: ip, family } = await lookup(host));
    } catch (e) {
      return { error: `${(e as NodeJS.ErrnoException).code ?? 'ENOTFOUND'} ${host}` };
    }
  }
  const where = formatAddress(host, port);
  const raw = createServerHandle(ip, port, family, undefined, 0);
  if (typeof raw === 'number') return { error: describeBindError(errnoName(raw), where, port) };
  // libuv defers EADDRINUSE from bind() to listen() (uv__tcp_bind's delayed_error); getsockname reports it now.
  const address = addressOf(raw);
  if (typeof address === 'number') {
    raw.close();
    return { error: describeBindError(errnoName(address), where, port) };
  }
  return { handle: new ServerHandle(raw, address, undefined) };
}

function describeBindError(code: string, where: string, port: number): string {
  if (code === 'EACCES' && port < 1024) return `EACCES ${where} (ports below 1024 need privileges)`;
  return `${code} ${where}`;
}

// An inherited descriptor cannot be reopened once closed, and a listener may be restarted (one_for_all):
// adopted handles belong to the process, are never closed, and a restarted listener adopts the same one.
const adoptedHandles = new Map<number, ServerHandle>();

/** Adopts an inherited, already listening TCP descriptor (systemd socket activation: LISTEN_FDS, fd 3). */
export function adoptServerHandle(fd: number): BindResult {
  const notListening = (why: string): BindResult => ({ error: `fd ${fd} is not a listening socket (${why})` });
  if (!Number.isInteger(fd) || fd < 0) return { error: `fd ${fd} is not a valid descriptor` };
  const known = adoptedHandles.get(fd);
  if (known) return { handle: known };
  if (typeof createServerHandle !== 'function') return { error: missingInternals() };

  // Checked before node opens the descriptor: a TCP handle on a file or a connected socket would close
  // that descriptor for its owner when the handle is discarded.
  const state = tcpStateOf(fd);
  if (state !== 'LISTEN' && state !== 'unknown') return notListening(state);

  // Port 0 and no address: node only opens the descriptor (it asserts that nothing is to be bound).
  const raw = createServerHandle(null, 0, 4, fd, 0);
  if (typeof raw === 'number') {
    const code = errnoName(raw);
    // libuv refuses a descriptor that a handle of this process already polls.
    return code === 'EEXIST' ? { error: `fd ${fd} is already in use in this process` } : notListening(code);
  }
  const address = addressOf(raw);
  if (typeof address === 'number' || address.port === 0) return notListening('not bound to a port');
  const handle = new ServerHandle(raw, address, fd);
  adoptedHandles.set(fd, handle);
  return { handle };
}

const TCP_STATES: Record<string, string> = {
  '01': 'ESTABLISHED',
  '02': 'SYN_SENT',
  '03': 'SYN_RECV',
  '04': 'FIN_WAIT1',
  '05': 'FIN_WAIT2',
  '06': 'TIME_WAIT',
  '07': 'CLOSE',
  '08': 'CLOSE_WAIT',
  '09': 'LAST_ACK',
  '0A': 'LISTEN',
  '0B': 'CLOSING',
};

/**
 * `LISTEN`, or why the descriptor is not a listening TCP socket, read from /proc (Linux): the descriptor's
 * socket inode, looked up in the kernel's TCP tables. `unknown` where /proc is unavailable; then only node's
 * own checks (a TCP handle opens, it is bound) apply.
 */
function tcpStateOf(fd: number): string {
  if (process.platform !== 'linux') return 'unknown';
  let target: string;
  try {
    target = readlinkSync(`/proc/self/fd/${fd}`);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return code === 'ENOENT' ? 'not open' : 'unknown';
  }
  const inode = /^socket:\[(\d+)\]$/.exec(target)?.[1];
  if (inode === undefined) return `not a socket: ${target}`;
  for (const table of ['/proc/self/net/tcp', '/proc/self/net/tcp6']) {
    let lines: string[];
    try {
      lines = readFileSync(table, 'utf8').split('\n').slice(1);
    } catch {
      continue;
    }
    for (const line of lines) {
      // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode ...
      const cols = line.trim().split(/\s+/);
      if (cols[9] === inode) {
        const st = cols[3] ?? '';
        const name = TCP_STATES[st] ?? st;
        return name === 'LISTEN' ? name : `TCP state ${name}`;
      }
    }
  }
  // Neither listening nor connected TCP (a bound-only TCP socket is in no table), or another kind of socket.
  return 'not listening';
}

/**
 * A socket accepted by this process (round_robin), as the raw handle node's cluster sends too: nothing reads
 * from it here, and a worker receives it unread (a net.Socket would start reading in the worker the moment it
 * arrives, so a worker dying before acknowledging could take request bytes with it). The descriptor stays open
 * here until the worker acknowledged its own copy; closing ours then sends nothing to the client.
 */
export class AcceptedConnection {
  constructor(private readonly raw: RawTcpHandle) {}

  /** Sends a copy of the socket: node does not close a raw handle in the sender. */
  sendTo(worker: ChildProcess, message: object, callback: (error: Error | null) => void): void {
    if (!worker.connected) return callback(new Error('IPC channel closed'));
    worker.send(message as never, this.raw as unknown as net.Socket, callback);
  }

  close(): void {
    this.raw.close();
  }
}

/** A bound (or adopted) listening TCP handle kept open by the supervisor's process. */
export class ServerHandle {
  private accepting = false;
  private onConnection: ((connection: AcceptedConnection) => void) | undefined;
  /** Adopted handles only: connections accepted between two round_robin incarnations. */
  private parked: AcceptedConnection[] = [];
  private parkLimit = 0;
  private closed = false;

  constructor(
    private readonly raw: RawTcpHandle,
    readonly address: ListenAddress,
    /** The inherited descriptor, for an adopted handle. */
    readonly fd: number | undefined,
  ) {}

  /** An inherited descriptor has been verified to be listening already; a freshly bound one is not yet. */
  get adopted(): boolean {
    return this.fd !== undefined;
  }

  /**
   * Sends the listening handle to a worker, which calls `listen` on it itself. A raw handle is not closed in
   * the sender by `send` (only a net.Socket without `keepOpen` is), so the descriptor stays here.
   */
  sendTo(worker: ChildProcess, message: object, callback: (error: Error | null) => void): void {
    if (!worker.connected) return callback(new Error('IPC channel closed'));
    worker.send(message as never, this.raw as unknown as net.Server, callback);
  }

  /**
   * round_robin: listens and accepts in this process. Returns an error message, or undefined.
   * Connections arrive unread; there is no way to stop accepting short of closing the descriptor.
   */
  accept(backlog: number, onConnection: (connection: AcceptedConnection) => void): string | undefined {
    if (this.closed) return 'handle is closed';
    this.onConnection = onConnection;
    this.parkLimit = backlog;
    this.raw.ref();
    if (!this.accepting) {
      this.raw.onconnection = (status, client) => this.accepted(status, client);
      const err = this.raw.listen(backlog);
      if (err !== 0) return `${errnoName(err)} ${formatAddress(this.address.host, this.address.port)}`;
      this.accepting = true;
    }
    for (const connection of this.parked.splice(0)) onConnection(connection);
    return undefined;
  }

  private accepted(status: number, client: RawTcpHandle | undefined): void {
    // A failed accept (EMFILE...) has no connection to hand over; libuv deals with the backlog itself.
    if (status !== 0 || client === undefined) return;
    const connection = new AcceptedConnection(client);
    if (this.onConnection) return this.onConnection(connection);
    if (this.parked.length < this.parkLimit) this.parked.push(connection);
    else connection.close();
  }

  /**
   * A bound handle is closed with `unclaimed` connections. An adopted one stays open for the next incarnation,
   * which receives `unclaimed` and whatever is accepted meanwhile (round_robin), or nothing happens (shared).
   */
  close(unclaimed: AcceptedConnection[] = []): void {
    this.onConnection = undefined;
    if (this.adopted) {
      this.parked.push(...unclaimed);
      // Still polled (round_robin) but nobody's: it must not keep the process alive.
      this.raw.unref();
      return;
    }
    for (const connection of unclaimed) connection.close();
    if (this.closed) return;
    this.closed = true;
    this.raw.close();
  }
}
