// Graceful drain of the servers a worker serves through `serve()`, worker side, for every planned stop: stop
// accepting, let requests in flight finish with `Connection: close`, and end every keep-alive connection only
// after a response that says so. The supervisor's shutdown timeout (then SIGKILL) bounds it all.
//
// An idle keep-alive connection is never closed under its client before the deadline: HTTP/1.1 has no way to
// tell a client "do not send on this connection any more" except a response that says `Connection: close`, and a
// client sends its next request the moment it wants to, whatever the server just did. A client whose event loop
// was busy for a moment (a GC, a burst of work) reads the server's close only after it has written its next
// request on that connection, and gets ECONNRESET. So an idle connection stays open and its next request is
// answered with `Connection: close`; only a client that stays silent is cut, at the deadline (or earlier by the
// server's own keepAliveTimeout, exactly as without a drain).
import type { IncomingMessage, Server as HttpServer, ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import type { Server, Socket } from 'node:net';

/** Without a known deadline (SIGTERM from outside the tree, shutdown `infinity`), idle connections go after this. */
export const IDLE_LIMIT_MS = 5000;

/**
 * Idle connections are closed this long before the supervisor's SIGKILL (at most a tenth of the shutdown
 * timeout), so a worker left with only silent clients exits 0 on its own, and the supervisor reports `shutdown`.
 */
export const DEADLINE_MARGIN_MS = 250;

interface Served {
  server: Server;
  /** Open connections, tracked by arbor only where node keeps no list of its own (see openSockets). */
  sockets: Set<Socket> | undefined;
}

/** The list http.Server keeps of its connections (node ≥ 18.2, for closeIdleConnections()): one per HTTP parser. */
interface ConnectionList {
  all(): Array<{ socket?: Socket | null }>;
}

const served: Served[] = [];
let draining: Promise<void> | undefined;
let idleTimer: NodeJS.Timeout | undefined;

/**
 * Remembers a server for the drain. Nothing of arbor's runs per request, nor per connection: an http.Server lists
 * its connections itself once listening. Only where node keeps no such list does arbor track them.
 */
export function drainOnStop(server: Server): void {
  if (served.some((s) => s.server === server)) return;
  const entry: Served = { server, sockets: undefined };
  served.push(entry);
  if (!isHttp(server)) return;
  // http.Server creates its list on 'listening', in a listener registered by its constructor, so before this one.
  server.once('listening', () => {
    if (connectionListOf(server) !== undefined) return;
    const sockets = new Set<Socket>();
    entry.sockets = sockets;
    server.on('connection', (socket: Socket) => {
      sockets.add(socket);
      socket.once('close', () => sockets.delete(socket));
    });
  });
}

/** http.Server's own connection list, found by its symbol's name; undefined where node has none. */
function connectionListOf(server: HttpServer): ConnectionList | undefined {
  const key = Object.getOwnPropertySymbols(server).find((k) => k.description === 'http.server.connections');
  const list = key === undefined ? undefined : (server as unknown as Record<symbol, unknown>)[key];
  return typeof (list as Partial<ConnectionList> | undefined)?.all === 'function'
    ? (list as ConnectionList)
    : undefined;
}

/** The open HTTP connections of a served server, from node's list or arbor's own. */
function openSockets(server: HttpServer, tracked: Set<Socket> | undefined): Iterable<Socket> {
  if (tracked !== undefined) return tracked;
  const sockets: Socket[] = [];
  for (const connection of connectionListOf(server)?.all() ?? [])
    if (connection.socket) sockets.push(connection.socket);
  return sockets;
}

/**
 * Starts draining every served server (once); resolves when their last connection is closed. `timeout`: ms until
 * the supervisor's SIGKILL, when known; a later call with a timeout (the supervisor's message after a SIGTERM)
 * sets the deadline of the drain already under way.
 */
export function drain(timeout?: number): Promise<void> {
  draining ??= Promise.all(served.map(drainOne)).then(() => clearTimeout(idleTimer));
  if (timeout !== undefined || idleTimer === undefined) closeIdleAfter(idleDelay(timeout));
  return draining;
}

/** ms from now until idle connections are closed. */
function idleDelay(timeout: number | undefined): number {
  if (timeout === undefined) return IDLE_LIMIT_MS;
  return Math.max(0, timeout - Math.min(DEADLINE_MARGIN_MS, Math.floor(timeout / 10)));
}

function closeIdleAfter(ms: number): void {
  clearTimeout(idleTimer);
  idleTimer = setTimeout(() => {
    for (const { server } of served) if (isHttp(server)) server.closeIdleConnections();
  }, ms);
  // The drain itself keeps the process alive while connections are open; this timer must not on its own.
  idleTimer.unref();
}

function drainOne({ server, sockets }: Served): Promise<void> {
  const closed = stopAccepting(server);
  if (isHttp(server)) {
    // Runs before the user's handler, so the response's head still says `Connection: close`.
    server.prependListener('request', (_req: IncomingMessage, res: ServerResponse) => closeAfter(res));
    for (const socket of openSockets(server, sockets)) {
      const res = (socket as Socket & { _httpMessage?: ServerResponse | null })._httpMessage;
      if (res) closeAfter(res);
    }
  }
  return closed;
}

/**
 * A worker dying of an uncaught exception stops accepting at once, before it reports and exits: connections that
 * arrive meanwhile wait in the listener's backlog (shared) or go back to the listener unacknowledged
 * (round_robin) and are answered by the replacement, instead of being accepted here and reset by the exit.
 * Connections already open are left alone: the exit ends them. Never throws (it runs in the exception handler).
 */
export function stopAcceptingAtOnce(): void {
  try {
    // Synchronous, and node:net is loaded already by whatever server is served: no ESM import in a dying process.
    const { Server: NetServer } = createRequire(import.meta.url)('node:net') as typeof import('node:net');
    for (const { server } of served) if (server.listening) NetServer.prototype.close.call(server);
  } catch {
    // A server in a state net cannot close: the exit closes it a moment later.
  }
}

/**
 * Ends the connection after this response: `Connection: close` if its head is not sent yet. A head already sent
 * promised keep-alive: the connection stays open for the client's next request, which gets `Connection: close`.
 */
function closeAfter(res: ServerResponse): void {
  if (!res.headersSent) res.shouldKeepAlive = false;
}

/**
 * Closes this process's listen (shared: its copy of the socket, which stays open in the supervisor and the other
 * workers; round_robin: the connection sink) and resolves once every connection is closed. net's close, not
 * http's: http.Server#close() would also close idle keep-alive connections at once.
 */
async function stopAccepting(server: Server): Promise<void> {
  // node:net's own module object only now: imported at start-up it would cost every worker start ~1 ms of CPU.
  const { Server: NetServer } = await import('node:net');
  return new Promise((resolve) => {
    if (server.listening) {
      NetServer.prototype.close.call(server, () => resolve());
      return;
    }
    // Closed already by the worker's own code: wait for its connections to end.
    const poll = (): void => {
      server.getConnections((err, count) => (err || count === 0 ? resolve() : void setTimeout(poll, 20)));
    };
    poll();
  });
}

function isHttp(server: Server): server is HttpServer {
  return typeof (server as Partial<HttpServer>).closeIdleConnections === 'function';
}
