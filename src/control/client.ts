// The client side of the control socket of a running `arbor run`: newline-delimited JSON, one response per request.
import { createConnection, type Socket } from 'node:net';
import type { ChaosFault } from '../protocol.js';

export const CONTROL_OPS = [
  'status',
  'which',
  'count',
  'restart',
  'stop-child',
  'start-child',
  'delete-child',
  'stop',
  'fault',
  'events',
  'proc',
  'info',
  'reload',
  'logs',
] as const;
export type ControlOp = (typeof CONTROL_OPS)[number];

export interface ControlRequest {
  id: string | number;
  op: ControlOp;
  /** A supervisor path (`root/jobs`), or for child ops the child's full path (`root/jobs/job-1`). */
  path?: string;
  /** start-child: the extra args appended to a simple_one_for_one template's. */
  args?: string[];
  /** fault: what the worker at `path` is asked to inflict on itself (honoured only with ARBOR_CHAOS=1). */
  fault?: ChaosFault;
  /** events, logs: only the events (lines) numbered after this one. */
  since?: number;
  /** logs: how many recent lines, when `since` is not given. */
  lines?: number;
  /** reload: workers of one supervisor replaced at a time (default 1). */
  maxSurge?: number;
  /** reload: say what would be done (the spec's changes, the workers replaced), change nothing. */
  dryRun?: boolean;
}

export type ControlParams = Omit<ControlRequest, 'id' | 'op'>;

/** The `proc` op: the supervisor process's own resources. */
export interface ProcStats {
  /** The supervisor's pid. */
  pid: number;
  /** Its resident memory, in bytes. */
  rss: number;
  /** Open file descriptors; null where /proc is not available. */
  fds: number | null;
}

/** The `info` op: which run this is. */
export interface RunInfo {
  pid: number;
  /** The spec module `arbor run` was given, as an absolute path. */
  spec?: string;
  /** The control socket it listens on. */
  control?: string;
  /** ms since the epoch. */
  startedAt?: number;
}

export type ControlResponse =
  | { id: string | number | null; ok: true; result: unknown }
  | { id: string | number | null; ok: false; error: { code: string; message: string } };

/** Longest request line the server accepts, in bytes (newline excluded). */
export const MAX_LINE_BYTES = 64 * 1024;
/** Longest answer line the server sends and the client accepts, in bytes (newline included). */
export const MAX_ANSWER_BYTES = 1024 * 1024;

/** A request the running tree refused, or a failure to reach it; `code` is machine-readable. */
export class ControlError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'ControlError';
  }
}

interface Pending {
  resolve: (result: unknown) => void;
  reject: (error: ControlError) => void;
}

/** One connection to a control socket; requests may overlap, responses are matched by id. */
export class ControlClient {
  private socket: Socket | undefined;
  private connecting: Promise<Socket> | undefined;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private buffered = '';

  constructor(
    readonly socketPath: string,
    private readonly timeoutMs = 30_000,
  ) {}

  /** Sends one request and resolves with its result; rejects with a ControlError carrying the server's code. */
  async request(op: ControlOp, params: ControlParams = {}): Promise<unknown> {
    const socket = await this.connect();
    const id = this.nextId++;
    const request: ControlRequest = { id, op, ...params };
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new ControlError('timeout', `no answer to '${op}' within ${this.timeoutMs} ms`));
      }, this.timeoutMs);
      this.pending.set(id, {
        resolve: (result) => (clearTimeout(timer), resolve(result)),
        reject: (error) => (clearTimeout(timer), reject(error)),
      });
      socket.write(`${JSON.stringify(request)}\n`);
    });
  }

  close(): void {
    this.socket?.end();
    this.socket = undefined;
    this.connecting = undefined;
  }

  private connect(): Promise<Socket> {
    this.connecting ??= new Promise<Socket>((resolve, reject) => {
      const socket = createConnection(this.socketPath);
      socket.setEncoding('utf8');
      socket.once('connect', () => {
        this.socket = socket;
        resolve(socket);
      });
      socket.on('data', (chunk: string) => this.receive(chunk));
      socket.on('error', (error: NodeJS.ErrnoException) => {
        const unreachable = error.code === 'ENOENT' || error.code === 'ECONNREFUSED';
        const failure = unreachable
          ? new ControlError('no_arbor', `no running arbor at ${this.socketPath} (${error.code})`)
          : new ControlError('connection', `${this.socketPath}: ${error.message}`);
        reject(failure);
        this.failAll(failure);
      });
      socket.on('close', () => {
        this.socket = undefined;
        this.connecting = undefined;
        this.failAll(new ControlError('connection', 'the control connection closed'));
      });
    });
    return this.connecting;
  }

  private receive(chunk: string): void {
    this.buffered += chunk;
    let newline: number;
    while ((newline = this.buffered.indexOf('\n')) >= 0) {
      const line = this.buffered.slice(0, newline);
      this.buffered = this.buffered.slice(newline + 1);
      this.settle(line);
    }
    if (this.buffered.length > MAX_ANSWER_BYTES) {
      // Not an arbor (its answers are bounded): stop listening to it rather than buffer without end.
      this.failAll(new ControlError('too_large', `${this.socketPath} sent an answer over ${MAX_ANSWER_BYTES} bytes`));
      this.buffered = '';
      this.socket?.destroy();
    }
  }

  private settle(line: string): void {
    let response: ControlResponse;
    try {
      response = JSON.parse(line) as ControlResponse;
    } catch {
      return;
    }
    const waiter = typeof response.id === 'number' ? this.pending.get(response.id) : undefined;
    if (!waiter || typeof response.id !== 'number') return;
    this.pending.delete(response.id);
    if (response.ok) waiter.resolve(response.result);
    else waiter.reject(new ControlError(response.error.code, response.error.message));
  }

  private failAll(error: ControlError): void {
    for (const waiter of this.pending.values()) waiter.reject(error);
    this.pending.clear();
  }
}

/** Splits `root/jobs/job-1` into the supervisor path `root/jobs` and the child id `job-1`. */
export function splitChildPath(path: string): { supervisor: string; child: string } | undefined {
  const slash = path.lastIndexOf('/');
  if (slash <= 0 || slash === path.length - 1) return undefined;
  return { supervisor: path.slice(0, slash), child: path.slice(slash + 1) };
}
