// The control socket of `arbor run`: a Unix socket, private to its user (0600), speaking newline-delimited JSON.
// Every request is checked field by field before anything is done; a bad one gets an error response and changes
// nothing. A line longer than MAX_LINE_BYTES is answered with `too_large` and the connection is closed.
import { chmodSync, rmSync, writeFileSync, readFileSync, readdirSync, existsSync } from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { CallError } from '../supervisor/calls.js';
import { SpecError } from '../supervisor/validate.js';
import { StartFailure } from '../child.js';
import type { Tree } from '../supervisor/tree.js';
import { CHAOS_FAULTS, isChaosFault, type ChaosFault } from '../protocol.js';
import {
  CONTROL_OPS,
  MAX_LINE_BYTES,
  currentRunFile,
  splitChildPath,
  type ControlOp,
  type ControlResponse,
  type ProcStats,
} from './client.js';
import { EventLog } from './event-log.js';

const MAX_ID_LENGTH = 128;
const MAX_PATH_LENGTH = 1024;

export interface ControlHooks {
  /** The running tree, or undefined while it is still starting. */
  tree(): Tree | undefined;
  /** The `stop` op: stop the whole tree gracefully, as SIGTERM does. */
  stop(): void;
  /** The `events` op reads this log; without one, `events` answers `unavailable`. */
  events?: EventLog;
}

type RequestId = string | number | null;

class RequestError extends Error {
  constructor(readonly code: string, message: string) {
    super(message);
  }
}

interface ValidRequest {
  id: string | number;
  op: ControlOp;
  path: string | undefined;
  args: string[] | undefined;
  fault: ChaosFault | undefined;
  since: number | undefined;
  maxSurge: number | undefined;
}

const ALLOWED_FIELDS = new Set(['id', 'op', 'path', 'args', 'fault', 'since', 'maxSurge']);
/** A reload starts at most this many new processes at once: a request must not fork-bomb the host. */
const MAX_SURGE_LIMIT = 64;
/** Ops that name a child (`<supervisor path>/<child id>`), and those that name a supervisor. */
const CHILD_OPS: readonly ControlOp[] = ['restart', 'stop-child', 'delete-child', 'fault'];
/** Ops about the whole `arbor run`: they take no path. */
const RUN_OPS: readonly ControlOp[] = ['stop', 'events', 'proc'];
const SUPERVISOR_OPS: readonly ControlOp[] = ['status', 'which', 'count', 'start-child'];

/** Checks one decoded line; throws a RequestError naming the bad field. */
export function parseRequest(raw: unknown): ValidRequest {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new RequestError('bad_request', 'a request is a JSON object');
  const request = raw as Record<string, unknown>;
  const { id, op, path, args, fault, since, maxSurge } = request;
  if (!((typeof id === 'string' && id.length > 0 && id.length <= MAX_ID_LENGTH) || Number.isSafeInteger(id))) {
    throw new RequestError('bad_request', `'id' must be a non-empty string (at most ${MAX_ID_LENGTH} chars) or an integer`);
  }
  const extra = Object.keys(request).filter((key) => !ALLOWED_FIELDS.has(key));
  if (extra.length > 0) throw new RequestError('bad_request', `unknown field(s): ${extra.join(', ')}`);
  if (typeof op !== 'string') throw new RequestError('bad_request', "'op' must be a string");
  if (!(CONTROL_OPS as readonly string[]).includes(op)) {
    throw new RequestError('unknown_op', `unknown op '${op.slice(0, 64)}'; expected one of ${CONTROL_OPS.join(', ')}`);
  }
  const known = op as ControlOp;
  if (path !== undefined && (typeof path !== 'string' || path.length === 0 || path.length > MAX_PATH_LENGTH)) {
    throw new RequestError('bad_request', "'path' must be a non-empty string");
  }
  if (CHILD_OPS.includes(known) && (path === undefined || !splitChildPath(path))) {
    throw new RequestError('bad_request', `'${op}' needs 'path' as <supervisor path>/<child id>`);
  }
  if (known === 'start-child' && path === undefined) throw new RequestError('bad_request', "'start-child' needs a supervisor 'path'");
  if (RUN_OPS.includes(known) && path !== undefined) throw new RequestError('bad_request', `'${op}' takes no 'path'`);
  if (args !== undefined) {
    if (known !== 'start-child') throw new RequestError('bad_request', `'${op}' takes no 'args'`);
    if (!Array.isArray(args) || !args.every((a) => typeof a === 'string')) {
      throw new RequestError('bad_request', "'args' must be an array of strings");
    }
  }
  if (known === 'fault' && !isChaosFault(fault)) {
    throw new RequestError('bad_request', `'fault' needs 'fault' as one of ${CHAOS_FAULTS.join(', ')}`);
  }
  if (known !== 'fault' && fault !== undefined) throw new RequestError('bad_request', `'${op}' takes no 'fault'`);
  if (since !== undefined) {
    if (known !== 'events') throw new RequestError('bad_request', `'${op}' takes no 'since'`);
    if (!Number.isSafeInteger(since) || (since as number) < 0) {
      throw new RequestError('bad_request', "'since' must be a non-negative integer");
    }
  }
  if (maxSurge !== undefined) {
    if (known !== 'reload') throw new RequestError('bad_request', `'${op}' takes no 'maxSurge'`);
    if (!Number.isSafeInteger(maxSurge) || (maxSurge as number) < 1 || (maxSurge as number) > MAX_SURGE_LIMIT) {
      throw new RequestError('bad_request', `'maxSurge' must be an integer from 1 to ${MAX_SURGE_LIMIT}`);
    }
  }
  return {
    id: id as string | number,
    maxSurge: maxSurge as number | undefined,
    op: known,
    path: path as string | undefined,
    args: args as string[] | undefined,
    fault: fault as ChaosFault | undefined,
    since: since as number | undefined,
  };
}

/** Runs one checked request against the tree. */
async function perform(tree: Tree, request: ValidRequest, hooks: ControlHooks): Promise<unknown> {
  const { op, path, args } = request;
  if (SUPERVISOR_OPS.includes(op)) {
    const supervisor = path ?? tree.spec.id;
    switch (op) {
      case 'status':
        return tree.status(supervisor);
      case 'which':
        return tree.whichChildren(supervisor);
      case 'count':
        return tree.countChildren(supervisor);
      default:
        return tree.startChild(supervisor, args ?? []);
    }
  }
  switch (op) {
    case 'stop':
      hooks.stop();
      return { stopping: true };
    case 'events':
      if (!hooks.events) throw new RequestError('unavailable', 'this arbor keeps no event log');
      return hooks.events.read(request.since);
    case 'proc':
      return procStats();
    case 'fault':
      return tree.injectFault(path!, request.fault!);
    case 'reload':
      return tree.reload(path ?? tree.spec.id, request.maxSurge !== undefined ? { maxSurge: request.maxSurge } : {});
  }
  const { supervisor, child } = splitChildPath(path!)!;
  switch (op) {
    case 'stop-child':
      await tree.terminateChild(supervisor, child);
      return { terminated: path };
    case 'delete-child':
      await tree.deleteChild(supervisor, child);
      return { deleted: path };
    default:
      return restart(tree, supervisor, child);
  }
}

/** The supervisor process's own resources, to watch for leaks across many restarts. */
function procStats(): ProcStats {
  let fds: number | null = null;
  try {
    fds = readdirSync('/proc/self/fd').length;
  } catch {
    // Not Linux: no /proc.
  }
  return { pid: process.pid, rss: process.memoryUsage().rss, fds };
}

/** Restart by hand: terminate the child if it runs, then start it again. Refused before anything is stopped. */
async function restart(tree: Tree, supervisor: string, child: string): Promise<unknown> {
  if (tree.status(supervisor).strategy === 'simple_one_for_one') {
    throw new CallError('simple_one_for_one', 'dynamic children cannot be restarted by id; start a new one');
  }
  const current = tree.whichChildren(supervisor).find((c) => c.id === child);
  if (!current) throw new CallError('not_found', `no child '${child}' in '${supervisor}'`);
  if (current.status !== 'stopped') await tree.terminateChild(supervisor, child);
  return tree.restartChild(supervisor, child);
}

/** An error as `{ code, message }`: call errors keep OTP's names; the tree's own errors read `code: message`. */
function describeError(error: unknown): { code: string; message: string } {
  if (error instanceof RequestError) return { code: error.code, message: error.message };
  if (error instanceof CallError) return { code: error.code, message: error.message.replace(`${error.code}: `, '') };
  if (error instanceof SpecError) return { code: 'bad_spec', message: error.message };
  if (error instanceof StartFailure) return { code: 'start_failed', message: error.message };
  const message = error instanceof Error ? error.message : String(error);
  const coded = /^([a-z_]+): (.*)$/s.exec(message);
  return coded ? { code: coded[1]!, message: coded[2]! } : { code: 'internal', message };
}

export class ControlServer {
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();

  private constructor(readonly socketPath: string, private readonly hooks: ControlHooks) {
    this.server = createServer((socket) => this.accept(socket));
  }

  /** Listens at `socketPath` (replacing a stale socket file, refusing a live one) and records it as the latest run. */
  static async open(socketPath: string, hooks: ControlHooks): Promise<ControlServer> {
    if (existsSync(socketPath)) {
      if (await isLive(socketPath)) throw new Error(`another arbor is listening at ${socketPath}`);
      rmSync(socketPath, { force: true });
    }
    const control = new ControlServer(socketPath, hooks);
    await new Promise<void>((resolve, reject) => {
      control.server.once('error', reject);
      // The socket file is created by bind inside listen(): the umask keeps it private from the first instant.
      const previous = process.umask(0o177);
      try {
        control.server.listen(socketPath, () => resolve());
      } finally {
        process.umask(previous);
      }
    });
    chmodSync(socketPath, 0o600);
    writeFileSync(currentRunFile(), `${socketPath}\n`, { mode: 0o600 });
    return control;
  }

  /** Stops listening, drops connections, removes the socket file and, if it still names us, the latest-run file. */
  close(): void {
    this.server.close();
    for (const socket of this.sockets) socket.destroy();
    rmSync(this.socketPath, { force: true });
    try {
      if (readFileSync(currentRunFile(), 'utf8').trim() === this.socketPath) rmSync(currentRunFile(), { force: true });
    } catch {
      // Already gone, or replaced by a newer run: nothing of ours to remove.
    }
  }

  private accept(socket: Socket): void {
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    let pending: Buffer[] = [];
    let pendingBytes = 0;
    socket.on('data', (chunk: Buffer) => {
      let start = 0;
      let newline: number;
      while ((newline = chunk.indexOf(0x0a, start)) >= 0) {
        if (pendingBytes + newline - start > MAX_LINE_BYTES) return this.refuseOversize(socket);
        pending.push(chunk.subarray(start, newline));
        const line = Buffer.concat(pending).toString('utf8');
        pending = [];
        pendingBytes = 0;
        start = newline + 1;
        void this.answer(socket, line);
      }
      pendingBytes += chunk.length - start;
      if (pendingBytes > MAX_LINE_BYTES) return this.refuseOversize(socket);
      pending.push(chunk.subarray(start));
    });
  }

  private refuseOversize(socket: Socket): void {
    const response: ControlResponse = {
      id: null,
      ok: false,
      error: { code: 'too_large', message: `a request line is limited to ${MAX_LINE_BYTES} bytes` },
    };
    socket.removeAllListeners('data');
    socket.end(`${JSON.stringify(response)}\n`, () => socket.destroy());
  }

  private async answer(socket: Socket, line: string): Promise<void> {
    let id: RequestId = null;
    let response: ControlResponse;
    try {
      let raw: unknown;
      try {
        raw = JSON.parse(line);
      } catch {
        throw new RequestError('bad_request', 'a request is one line of JSON');
      }
      // Echo a well-formed id even when the rest of the request is refused, so the client can match it.
      const rawId = (raw as { id?: unknown } | null)?.id;
      if (typeof rawId === 'string' && rawId.length <= MAX_ID_LENGTH) id = rawId;
      else if (Number.isSafeInteger(rawId)) id = rawId as number;
      const request = parseRequest(raw);
      const tree = this.hooks.tree();
      if (!tree) throw new RequestError('starting', 'the tree is still starting');
      response = { id, ok: true, result: await perform(tree, request, this.hooks) };
    } catch (error) {
      response = { id, ok: false, error: describeError(error) };
    }
    if (!socket.destroyed && socket.writable) socket.write(`${JSON.stringify(response)}\n`);
  }
}

/** Whether something accepts connections at `socketPath` (a stale file from a crashed run does not). */
function isLive(socketPath: string): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = createConnection(socketPath);
    probe.once('connect', () => (probe.destroy(), resolve(true)));
    probe.once('error', () => resolve(false));
  });
}
