// The worker's side of the protocol, imported by worker modules as `arbor-otp/worker`: announce ready, serve a
// listener's socket, run shutdown hooks, report uncaught errors before dying, and never outlive the supervisor.
// Node builtins only, so importing it costs a worker nothing at start-up.
/**
 * What a worker module imports: {@link serve} a server on its listener's socket (or {@link ready} for a worker
 * with none), {@link onShutdown} hooks for a graceful stop, {@link shutdown} to stop itself, {@link onMessage} and
 * {@link send} to talk with the tree. Run outside a tree (`node server.js`), `serve()` listens on `$PORT`.
 *
 * @module arbor-otp/worker
 */
import type { Server, Socket } from 'node:net';
import { Outbox } from '../batching.js';
import {
  REPORT_LIMITS,
  boundDetail,
  parseParentMessage,
  truncate,
  type BatchedWorkerMessage,
  type WorkerMessage,
} from '../protocol.js';
import type { Messages } from '../types.js';
import { channel, inArborThread } from './channel.js';
import type { DeathWatch, WatchEnd } from './death-watch.js';
import { drain, drainOnStop, stopAcceptingAtOnce } from './drain.js';
import { injectFault } from './faults.js';
import { inspectLater } from './inspect-later.js';
import { Mailbox, type MessageHandler } from './mailbox.js';

export { MessageTooLargeError, type MessageContext, type MessageHandler } from './mailbox.js';
export type { Messages } from '../types.js';

/** True when this process was forked by an arbor supervisor, or this thread created by one (`kind: 'thread'`). */
export const supervised: boolean =
  inArborThread || (typeof process.send === 'function' && process.env.ARBOR_WORKER === '1');

/**
 * A hot standby spare (standby.ts) runs its module up to `serve()` / `ready()` and waits there until the
 * supervisor hands it a restart (`arbor:takeover`); any other worker is taken over from the start.
 */
const hotSpare = supervised && !inArborThread && process.env.ARBOR_STANDBY === 'hot';
delete process.env.ARBOR_STANDBY;
let takeOver!: () => void;
const takenOver: Promise<void> = hotSpare ? new Promise((resolve) => (takeOver = resolve)) : Promise.resolve();
let parkedSent = false;
/** The path a hot spare became, by its takeover or by promoting itself (death-watch.ts). */
let takenOverAs: string | undefined;

/** Work to finish when the worker is asked to stop: close servers, flush buffers. May return a promise. */
export type ShutdownHook = () => void | Promise<void>;

/** Options of `serve(server, options)`. */
export interface ServeOptions {
  /** The listener id to serve; default: the first listener whose handle arrives. */
  listener?: string;
  /** Announce `ready()` once serving (default true). */
  ready?: boolean;
}

interface Grant {
  listener: string;
  mode: 'shared' | 'round_robin';
  handle: unknown;
  /** shared mode: node applies the backlog of the worker's listen() call to the shared socket. */
  backlog: number | undefined;
}

/** How long a dying worker waits for its error report to flush before exiting anyway. */
const REPORT_FLUSH_MS = 1000;

const hooks: ShutdownHook[] = [];
const grants = new Map<string, Grant>();
/** Listeners whose grant a server or listenerHandle() has taken: their handle is the worker's now. */
const grantsTaken = new Set<string>();
const grantWaiters = new Set<() => void>();
const connectionSinks = new Map<string, (socket: Socket) => void>();
/** Connections sent before serve() took their listener's grant: raw handles or sockets, made sockets on delivery. */
const queuedConnections = new Map<string, Array<{ seq: number; handle: object }>>();
/**
 * net.Socket, which a round_robin worker makes of each raw connection handle. Imported by serve() for a round_robin
 * listener only: node:net's module object costs a start ~1 ms of CPU, and a shared listener's worker never needs it.
 */
let SocketClass: typeof Socket | undefined;
let announcedReady = false;
let stopping: Promise<never> | undefined;
let dying = false;
let holds = 0;

/**
 * Handles the tree's messages: `tree.call(path, message)` resolves with the handler's return value (or promise);
 * `tree.cast` calls it and ignores the result. A call that throws rejects the caller with `handler_failed`; a call
 * with no handler with `no_handler`. Register it before `ready()`/`serve()`. While a handler is installed the
 * worker stays alive to answer; `onMessage(undefined)` removes it. One handler: a new one replaces the old.
 */
export function onMessage<M extends Messages = Messages>(handler: MessageHandler<M> | undefined): void {
  mailbox.setHandler(handler as MessageHandler | undefined);
}

/**
 * Sends `message` to the tree, where it is a `worker_message` event with this worker's path and pid. Returns false
 * when not sent (not supervised, or over `maxMessageRate`); throws MessageTooLargeError over `maxMessageBytes`.
 */
export function send<M extends Messages = Messages>(message: M['send']): boolean {
  return mailbox.send(message);
}

/**
 * Tells the supervisor this worker is started. Once; a no-op when not supervised. In a hot standby spare the
 * announcement waits for the takeover, and so does the returned promise: `await ready()` before starting work
 * that must not run in a spare.
 */
export function ready(): Promise<void> {
  if (!supervised || announcedReady) return takenOver;
  announcedReady = true;
  return untilTakeover()
    .then(afterThisTask)
    .then(() => (dying ? undefined : sendToSupervisor({ type: 'arbor:ready' })));
}

/**
 * Resolves once the code running now (the module's own top level after `await serve()`) has run to its next
 * wait: a module that throws right after serving is a failed start, not a ready worker that crashes (a reload
 * would otherwise swap in a release that cannot run).
 */
function afterThisTask(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** Resolves at once, except in a hot spare: tells the supervisor it is parked, then waits to be taken over. */
function untilTakeover(): Promise<void> {
  if (!hotSpare || parkedSent) return takenOver;
  parkedSent = true;
  hold();
  void sendToSupervisor({ type: 'arbor:parked' });
  return takenOver.then(release);
}

/**
 * Registers a hook run when the supervisor asks this worker to stop (or on SIGTERM); hooks run in reverse
 * registration order, then the process exits 0.
 */
export function onShutdown(hook: ShutdownHook): void {
  if (!supervised && hooks.length === 0) {
    // Run alone, the hooks still make Ctrl-C and SIGTERM graceful.
    process.once('SIGTERM', () => void stop());
    process.once('SIGINT', () => void stop());
  }
  hooks.push(hook);
}

/** The worker stops itself: its exit reason becomes `{ shutdown: detail }`. */
export async function shutdown(detail?: unknown): Promise<never> {
  return stop(async () =>
    sendToSupervisor({ type: 'arbor:exit-shutdown', detail: boundDetail(await serializable(detail)) }),
  );
}

/** The listening handle a `shared` listener sent to this worker (default: the first listener's). */
export async function listenerHandle(listenerId?: string): Promise<unknown> {
  if (!supervised) throw new Error('arbor: listenerHandle() needs a worker started by an arbor supervisor');
  await untilTakeover();
  const grant = await nextGrant(listenerId);
  if (grant.mode !== 'shared') {
    throw new Error(`arbor: listener ${grant.listener} is in round_robin mode and has no handle; use serve()`);
  }
  return grant.handle;
}

/**
 * Serves a listener's connections with `server` (a net.Server; http.Server is one), then announces ready.
 * On every planned stop the server is drained before the process exits: it stops accepting, requests in flight
 * finish, keep-alive connections close after their current response. Not supervised, it listens on $PORT (or a
 * free port) so the module also runs alone.
 */
export async function serve(server: Server, options: ServeOptions = {}): Promise<void> {
  drainOnStop(server);
  if (!supervised) {
    await listen(server, Number(process.env.PORT ?? 0), undefined);
    return;
  }
  if (hotSpare && !parkedSent) await (await import('./warm-up.js')).warmUp(server);
  await untilTakeover();
  const grant = await nextGrant(options.listener);
  if (grant.mode === 'shared') {
    await listen(server, grant.handle, grant.backlog);
    void sendToSupervisor({ type: 'arbor:listening', listener: grant.listener });
  } else {
    SocketClass ??= (await import('node:net')).Socket;
    acceptConnectionsInto(server, grant.listener);
  }
  if (options.ready !== false) void ready();
}

function listen(server: Server, target: unknown, backlog: number | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    const fail = (err: Error): void => reject(err);
    const listening = (): void => {
      server.off('error', fail);
      resolve();
    };
    server.once('error', fail);
    if (backlog === undefined) server.listen(target, listening);
    else server.listen(target, backlog, listening);
  });
}

/**
 * round_robin: the listener accepts and sends each socket here. As in node cluster's round-robin workers, the
 * server gets a stand-in for a listening handle, so net treats routed sockets as its own: `close()` waits for
 * the connections in progress (a graceful stop), `getConnections()` counts them, and the open server keeps the
 * process alive (`ref()`/`unref()` work) until it is closed.
 */
function acceptConnectionsInto(server: Server, listener: string): void {
  let keepAlive: NodeJS.Timeout | undefined = setInterval(() => {}, 2 ** 31 - 1);
  const standIn = {
    close: (): void => {
      clearInterval(keepAlive);
      keepAlive = undefined;
      connectionSinks.delete(listener);
    },
    ref: (): void => void keepAlive?.ref(),
    unref: (): void => void keepAlive?.unref(),
  };
  (server as unknown as { _handle: unknown })._handle = standIn;
  connectionSinks.set(listener, (socket) => {
    // What net's own accept path does; net decrements the count when the socket is destroyed.
    (server as unknown as { _connections: number })._connections += 1;
    Object.assign(socket, { server, _server: server });
    server.emit('connection', socket);
    if (socket.isPaused()) socket.resume();
  });
  // As net does after a listen (and node cluster's round-robin workers): http.Server starts tracking its
  // connections on 'listening', which its timeouts and closeIdleConnections() (the drain) rely on.
  server.emit('listening');
  const queued = queuedConnections.get(listener) ?? [];
  queuedConnections.delete(listener);
  for (const { seq, handle } of queued) deliverConnection(listener, seq, handle);
}

function deliverConnection(listener: string, seq: number, handle: object): void {
  const sink = connectionSinks.get(listener);
  if (sink === undefined || SocketClass === undefined) {
    queuedConnections.set(listener, [...(queuedConnections.get(listener) ?? []), { seq, handle }]);
    return;
  }
  // Once per connection: written at once, without the promise sendToSupervisor() makes for its caller.
  outbox.flush();
  write({ type: 'arbor:connection-ack', listener, seq });
  sink(asSocket(SocketClass, handle));
}

function nextGrant(listener: string | undefined): Promise<Grant> {
  return new Promise((resolve) => {
    const take = (): boolean => {
      const grant = listener === undefined ? grants.values().next().value : grants.get(listener);
      if (grant === undefined) return false;
      grantsTaken.add(grant.listener);
      if (grantWaiters.delete(take)) release();
      resolve(grant);
      return true;
    };
    if (!take()) {
      grantWaiters.add(take);
      hold();
    }
  });
}

function onParentMessage(raw: unknown, handle: unknown): void {
  const msg = parseParentMessage(raw);
  if (msg === undefined) {
    // The channel is the user's too: only a malformed message of ours is worth a word.
    if (isArborMessage(raw))
      void inspectLater(raw).then((text) => console.error(`arbor: ignored a malformed message: ${text}`));
    return;
  }
  switch (msg.type) {
    case 'arbor:ping':
      void sendToSupervisor({ type: 'arbor:pong', seq: msg.seq });
      return;
    case 'arbor:shutdown':
      void stop(undefined, msg.timeout);
      return;
    case 'arbor:handle':
      if (msg.mode === 'shared' && handle === undefined) {
        console.error(`arbor: listener ${msg.listener} sent no handle`);
        return;
      }
      grants.set(msg.listener, { listener: msg.listener, mode: msg.mode, handle, backlog: msg.backlog });
      for (const take of [...grantWaiters]) take();
      return;
    case 'arbor:connection':
      // A socket closed while in transit arrives without a handle: nothing to serve, nothing to acknowledge.
      if (typeof handle === 'object' && handle !== null) deliverConnection(msg.listener, msg.seq, handle);
      return;
    case 'arbor:chaos':
      injectFault(msg.fault);
      return;
    case 'arbor:call':
      mailbox.onCall(msg.id, msg.message);
      return;
    case 'arbor:cast':
      mailbox.onCast(msg.message);
      return;
    case 'arbor:batch':
      for (const message of msg.messages) {
        if (message.type === 'arbor:call') mailbox.onCall(message.id, message.message);
        else mailbox.onCast(message.message);
      }
      return;
    case 'arbor:takeover':
      // A spare that promoted itself hears of it from the supervisor too.
      if (hotSpare && takenOverAs === undefined) becomeWorker(msg.path);
      return;
    case 'arbor:watch':
      if (!hotSpare) return;
      // Until it is watched (a microtask away): a reset must not be an uncaught error.
      (handle as { once?: (event: string, listener: () => void) => void } | undefined)?.once?.('error', () => {});
      void deathWatch().then((watch) => {
        if (takenOverAs === undefined) watch.watchSocket(msg.path, msg.pid, handle);
        else watch.discard(handle);
      });
      return;
    case 'arbor:unwatch':
      stopWatching();
      return;
    case 'arbor:revoke': {
      // A parked hot spare got the handle ahead of its takeover, and the listener is closing: its copy of the
      // descriptor would keep the old socket listening. Closed once node has let go of it, then said so.
      const grant = grants.get(msg.listener);
      if (grant === undefined || grantsTaken.has(msg.listener)) return;
      grants.delete(msg.listener);
      // Without the handle there is nothing to take over with.
      stopWatching();
      const revoked = (): void => void sendToSupervisor({ type: 'arbor:revoked', listener: msg.listener });
      const handle = grant.handle as { close?: (callback: () => void) => void } | undefined;
      if (typeof handle?.close === 'function') handle.close(revoked);
      else revoked();
      return;
    }
  }
}

function becomeWorker(path: string): void {
  takenOverAs = path;
  stopWatching();
  process.env.ARBOR_CHILD_PATH = path;
  takeOver();
}

/**
 * The worker this hot spare watched is dead: it becomes that worker now, then tells the supervisor, whose restart
 * takes it. Not when the supervisor itself is gone (this spare is an orphan about to exit). A watch that ended
 * otherwise is reported, so that the supervisor does not count on it.
 */
function onWatchEnd(path: string, end: WatchEnd): void {
  if (!process.connected) return;
  if (end !== 'dead') {
    void sendToSupervisor({ type: 'arbor:unwatched', path, reason: end });
    return;
  }
  if (takenOverAs !== undefined || process.ppid !== Number(process.env.ARBOR_SUPERVISOR_PID)) return;
  becomeWorker(path);
  void sendToSupervisor({ type: 'arbor:promoted', path });
}

/**
 * Loaded by hot spares only, as the runtime loads: ready long before the first watch arrives (after parking), so that
 * a watch begins a microtask after its message, before any other I/O is read. Its users chain on it, in order.
 */
let watching: Promise<DeathWatch> | undefined;
function deathWatch(): Promise<DeathWatch> {
  return (watching ??= import('./death-watch.js').then(({ DeathWatch }) => new DeathWatch(onWatchEnd)));
}
if (hotSpare) void deathWatch();

function stopWatching(): void {
  void watching?.then((watch) => watch.stop());
}

/**
 * Drains the served servers while the hooks run once, in reverse order; then the last words, then exits 0.
 * Later requests share the first; the supervisor's (`timeout`: ms until its SIGKILL) sets the drain's deadline
 * even when its SIGTERM came first.
 */
function stop(lastWords?: () => Promise<void>, timeout?: number): Promise<never> {
  if (stopping !== undefined) {
    if (timeout !== undefined) void drain(timeout);
    return stopping;
  }
  stopping = (async (): Promise<never> => {
    const drained = drain(timeout);
    for (const hook of [...hooks].reverse()) {
      try {
        await hook();
      } catch (err) {
        console.error('arbor: a shutdown hook failed:', err);
      }
    }
    await drained;
    await lastWords?.();
    process.exit(0);
  })();
  return stopping;
}

/** An uncaught exception or unhandled rejection: tell the supervisor why, then die with code 1. */
function dieOf(err: unknown): void {
  if (dying) return;
  dying = true;
  process.exitCode = 1;
  stopAcceptingAtOnce();
  console.error(err);
  setTimeout(() => process.exit(1), REPORT_FLUSH_MS);
  void describeError(err)
    .then(({ message, stack }) =>
      sendToSupervisor({ type: 'arbor:error', message, ...(stack !== undefined ? { stack } : {}) }),
    )
    .then(() => process.exit(1));
}

/** Cut to the supervisor's limits here already, so a huge message costs the IPC channel nothing. */
async function describeError(err: unknown): Promise<{ message: string; stack?: string }> {
  const message = (text: string): string => truncate(text, REPORT_LIMITS.message);
  if (err instanceof Error) {
    const stack = typeof err.stack === 'string' ? { stack: truncate(err.stack, REPORT_LIMITS.stack) } : {};
    return { message: message(err.message || err.name), ...stack };
  }
  return { message: message(typeof err === 'string' ? err : await inspectLater(err)) };
}

/** SIGKILL to the process group this worker leads, itself included. */
function endProcessGroup(): void {
  try {
    process.kill(-process.pid, 'SIGKILL');
  } catch {
    // Not a group leader (not forked by arbor): only this process, which exits next.
  }
}

/** Replies and sends wait here until the end of the tick, to go out together. */
const outbox = new Outbox<BatchedWorkerMessage>(write);

/** Resolves once written (or when there is no channel). Replies and sends queued before go first. */
function sendToSupervisor(msg: WorkerMessage): Promise<void> {
  outbox.flush();
  return new Promise((resolve) => channel.send(msg, resolve));
}

/** Replies and sends: fire and forget, batched by the tick; a closed channel drops them. */
function post(msg: BatchedWorkerMessage): void {
  if (!channel.connected()) return;
  outbox.push(msg);
}

/** No promise per message, for the hot path. */
function write(msg: WorkerMessage): void {
  channel.send(msg);
}

/** The IPC channel keeps the process alive only while the runtime waits on it for a listener's handle. */
function hold(): void {
  if (holds++ === 0) channel.ref();
}

function release(): void {
  if (--holds === 0) channel.unref();
}

/** A socket arrives as a net.Socket when the listener sent one, as a raw TCP handle when it sent that. */
function asSocket(SocketOf: typeof Socket, handle: object): Socket {
  if (handle instanceof SocketOf) return handle;
  return new SocketOf({ handle, readable: true, writable: true } as ConstructorParameters<typeof Socket>[0]);
}

/** The optional `backlog` a listener adds to its shared handle message. */

function isArborMessage(raw: unknown): boolean {
  const type = raw !== null && typeof raw === 'object' ? (raw as { type?: unknown }).type : undefined;
  return typeof type === 'string' && type.startsWith('arbor:');
}

/** IPC carries JSON: a detail that cannot be serialized is sent as its inspection. */
async function serializable(detail: unknown): Promise<unknown> {
  try {
    JSON.stringify(detail);
    return detail;
  } catch {
    return inspectLater(detail);
  }
}

const mailbox = new Mailbox({ supervised, post, hold, release });

if (supervised) {
  channel.listen(onParentMessage);
  // A reply queued in the tick that ends with process.exit() still goes: the channel writes synchronously when it can.
  process.on('exit', () => outbox.flush());
}
if (supervised && !inArborThread) {
  // The channel closed. If the supervisor is gone (even SIGKILLed), an orphan worker must not live on, nor wait for
  // its hooks, nor leave its own children behind: its whole group goes. If the supervisor closed it, exit 0.
  process.on('disconnect', () => {
    if (process.ppid !== Number(process.env.ARBOR_SUPERVISOR_PID)) endProcessGroup();
    process.exit();
  });
  process.on('SIGTERM', () => void stop());
  // Ctrl-C reaches the whole process group; the supervisor decides when its workers stop.
  process.on('SIGINT', () => {});
}
if (supervised) {
  // A thread's process.exit() ends the thread only: dieOf ends a thread as it ends a process.
  process.on('uncaughtException', dieOf);
  process.on('unhandledRejection', dieOf);
  // Listening on the channel must not keep the worker alive by itself: a worker whose work is done exits.
  channel.unref();
}
