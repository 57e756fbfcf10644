// Graceful drain of the servers a worker serves through `serve()`, worker side, for every planned stop: stop
// accepting, let requests in flight finish, end keep-alive connections after their current response
// (`Connection: close`) and close idle ones. The supervisor's shutdown timeout (then SIGKILL) bounds it all.
import type { IncomingMessage, Server as HttpServer, ServerResponse } from 'node:http';
import { Server, type Socket } from 'node:net';

/**
 * An idle keep-alive connection is closed after this long without a request, not at the very instant the drain
 * starts: a client may be sending its next request on it right then, and closing under it is the one way a
 * keep-alive request gets reset. A request that does arrive meanwhile is answered with `Connection: close`.
 */
export const IDLE_GRACE_MS = 100;

interface Served {
  server: Server;
  sockets: Set<Socket>;
}

const served: Served[] = [];
let draining: Promise<void> | undefined;

/** Remembers a server for the drain, and its connections (per connection, so nothing runs per request). */
export function drainOnStop(server: Server): void {
  if (served.some((s) => s.server === server)) return;
  const entry: Served = { server, sockets: new Set() };
  served.push(entry);
  server.on('connection', (socket: Socket) => {
    entry.sockets.add(socket);
    socket.once('close', () => entry.sockets.delete(socket));
  });
}

/** Starts draining every served server (once); resolves when their last connection is closed. */
export function drain(): Promise<void> {
  draining ??= Promise.all(served.map(drainOne)).then(() => undefined);
  return draining;
}

function drainOne({ server, sockets }: Served): Promise<void> {
  const closed = stopAccepting(server);
  if (isHttp(server)) {
    const closeIdleSoon = (): void => void setTimeout(() => server.closeIdleConnections(), IDLE_GRACE_MS).unref();
    // Runs before the user's handler, so the response's head still says `Connection: close`.
    server.prependListener('request', (_req: IncomingMessage, res: ServerResponse) => closeAfter(res, closeIdleSoon));
    for (const socket of sockets) {
      const res = (socket as Socket & { _httpMessage?: ServerResponse | null })._httpMessage;
      if (res) closeAfter(res, closeIdleSoon);
    }
    closeIdleSoon();
  }
  return closed;
}

/** Ends the connection after this response: `Connection: close` if its head is not sent yet, else once idle. */
function closeAfter(res: ServerResponse, closeIdleSoon: () => void): void {
  if (!res.headersSent) res.shouldKeepAlive = false;
  else res.once('finish', closeIdleSoon);
}

/**
 * Closes this process's listen (shared: its copy of the socket, which stays open in the supervisor and the other
 * workers; round_robin: the connection sink) and resolves once every connection is closed. net's close, not
 * http's: http.Server#close() would also close idle keep-alive connections at once.
 */
function stopAccepting(server: Server): Promise<void> {
  return new Promise((resolve) => {
    if (server.listening) {
      Server.prototype.close.call(server, () => resolve());
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
