// One incarnation of one task host: a forked process or a thread running ../runtime/task-host.ts, and the tasks
// placed in it. Its heartbeat and memory limit are watched as a worker's are (../worker/health.ts); when it dies or
// is killed for its health, every task in it is told `host_down` at once and the incarnation is never used again.
import type { ChildProcess } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import { parseFromHost, type FromHost, type ToHost } from '../host-protocol.js';
import { fullBucket, take, type Bucket } from '../rate.js';
import { describeReason, type ExitReason, type HostKind, type HostSpec } from '../types.js';
import { processGroups, signalGroup } from '../worker/groups.js';
import { forkGroupLeader } from '../worker/group-fork.js';
import { HealthChecks } from '../worker/health.js';
import { IgnoredMessages, MAX_MESSAGE_BYTES, MESSAGE_ENVELOPE_BYTES, limitMessageSize } from '../worker/inbox.js';
import { CAPTURED_STDIO, captureOutput } from '../worker/output.js';
import { outputSink, type OutputLog } from '../worker/output-log.js';
import { preview } from '../worker/exit-reason.js';

// Compiled JavaScript beside this file; from TypeScript sources (the test suite), the built copy in dist/.
const here = fileURLToPath(import.meta.url);
const ENTRY = here.endsWith('.ts')
  ? join(dirname(here), '../../dist/runtime/task-host.js')
  : join(dirname(here), '../runtime/task-host.js');

/** A task host boots node and pino: well under a second; a host that takes longer is stuck. */
export const DEFAULT_HOST_START_TIMEOUT = 10_000;
/** Messages (sends and log lines) per second one host may send for all its tasks; the excess is dropped. */
const MAX_HOST_MESSAGE_RATE = 20_000;
/** How long a thread host may take to end after terminate() before it is given up. */
const TERMINATE_GRACE_MS = 5000;

/**
 * Why a host went down: its heartbeat went unanswered, it went over its memory limit, it crashed (exited, failed,
 * did not start, broke the protocol), or the tree ended it (`stopped`: closed, retired by a reload).
 */
export type HostDownCause = 'heartbeat' | 'memory' | 'crash' | 'stopped';

/** What a host tells the handle of one of its tasks. */
export interface HostedPeer {
  /** The task's path in the tree. */
  readonly path: string;
  fromHost(message: Exclude<FromHost, { t: 'ready' | 'pong' }>): void;
  /** The host went down: the task is gone with it. */
  hostDown(why: string): void;
}

let instancesAlive = 0;
/** Host processes and threads started and not yet gone (for tests). */
export const liveHosts = (): number => instancesAlive;

export class HostInstance {
  readonly tasks = new Map<number, HostedPeer>();
  /** Resolves once the host runs; rejects if it does not start. */
  readonly ready: Promise<void>;
  private nextTask = 0;
  private child: ChildProcess | undefined;
  private thread: Worker | undefined;
  private state: 'starting' | 'running' | 'down' = 'starting';
  private markReady!: () => void;
  private failReady!: (error: Error) => void;
  private startTimer: NodeJS.Timeout | undefined;
  private health: HealthChecks;
  /** Retired (a reload shrank or replaced its pool): it takes no new task and ends once its last task has. */
  private retiring = false;
  /** Resolves once its process or thread has ended. */
  readonly exited: Promise<void>;
  private markExited!: () => void;
  private readonly bucket = fullBucket(MAX_HOST_MESSAGE_RATE, Date.now());
  private dropped = 0;
  private readonly ignored: IgnoredMessages;

  constructor(
    readonly name: string,
    readonly incarnation: number,
    private spec: HostSpec,
    private readonly logger: Logger,
    private readonly onDown: (instance: HostInstance, cause: HostDownCause) => void,
    private readonly outputLog?: OutputLog,
  ) {
    this.ready = new Promise((resolve, reject) => {
      this.markReady = resolve;
      this.failReady = reject;
    });
    this.ready.catch(() => undefined);
    this.exited = new Promise((resolve) => (this.markExited = resolve));
    this.health = this.healthChecks();
    this.ignored = new IgnoredMessages((summary) =>
      this.logger.warn({ event: 'host_message_ignored', host: name, pid: this.pid, ...summary }),
    );
    this.launch();
  }

  private healthChecks(): HealthChecks {
    const { heartbeat, maxMemory } = this.spec;
    return new HealthChecks(
      { heartbeat, maxMemory: this.kind === 'process' ? maxMemory : undefined },
      {
        pid: () => this.pid,
        ping: (seq) => void this.send({ t: 'ping', seq }),
        kill: (cause) => this.unhealthy(cause),
      },
    );
  }

  get kind(): HostKind {
    return this.spec.kind ?? 'process';
  }

  /** The host process's pid (a thread host: undefined). */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  get threadId(): number | undefined {
    return this.thread?.threadId;
  }

  get running(): boolean {
    return this.state !== 'down';
  }

  /** Adds a task; its number in this host. */
  register(peer: HostedPeer): number {
    const n = ++this.nextTask;
    this.tasks.set(n, peer);
    return n;
  }

  forget(n: number): void {
    this.tasks.delete(n);
    if (this.retiring && this.tasks.size === 0) void this.close(`${this.label()} retired: its last task ended`);
  }

  get retired(): boolean {
    return this.retiring;
  }

  /** Takes no new task from now on, and ends once it runs none (at once if it runs none now). */
  retire(): void {
    this.retiring = true;
    if (this.tasks.size === 0) void this.close(`${this.label()} retired`);
  }

  /** Its pool's new heartbeat and memory limit, applied now (the rest of a spec only matters at launch). */
  retune(spec: HostSpec): void {
    this.spec = { ...spec, kind: this.kind };
    this.health.stop();
    this.health = this.healthChecks();
    if (this.state === 'running') this.health.start();
  }

  /** False when the host is gone or the message cannot be serialized. */
  send(message: ToHost): boolean {
    if (this.state === 'down') return false;
    try {
      if (this.thread !== undefined) this.thread.postMessage(message);
      else if (this.child?.connected) this.child.send(message, this.onSent);
      else return false;
      return true;
    } catch (err) {
      this.logger.debug({ event: 'host_send_failed', host: this.name, err });
      return false;
    }
  }

  private readonly onSent = (err: Error | null): void => {
    if (err) this.logger.debug({ event: 'host_send_failed', host: this.name, pid: this.pid, err });
  };

  /**
   * Kills the host (if it still runs) and tells every task in it: they exit with `{ host_down: why }`. Its slot
   * forgets it first, so a task restarted meanwhile goes to a fresh host.
   */
  down(why: string, cause: HostDownCause = 'crash'): void {
    if (this.state === 'down') return;
    const wasStarting = this.state === 'starting';
    this.state = 'down';
    clearTimeout(this.startTimer);
    this.health.stop();
    this.ignored.flush();
    this.kill();
    this.onDown(this, cause);
    if (wasStarting) this.failReady(new Error(why));
    const peers = [...this.tasks.values()];
    this.tasks.clear();
    this.logger.warn({
      event: 'host_down',
      host: this.name,
      incarnation: this.incarnation,
      pid: this.pid,
      reason: why,
      tasks: peers.length,
      cause,
    });
    for (const peer of peers) peer.hostDown(why);
  }

  /** Ends the host and resolves once its process or thread is gone (its tasks are told, if any are left). */
  async close(why: string): Promise<void> {
    this.down(why, 'stopped');
    await Promise.race([this.exited, new Promise((resolve) => setTimeout(resolve, TERMINATE_GRACE_MS).unref())]);
  }

  private launch(): void {
    const env = {
      ...process.env,
      ARBOR_HOST: this.name,
      ARBOR_HOST_LOG_LEVEL: this.logger.level === 'silent' ? 'silent' : this.logger.level,
    };
    const outputPath = `hosts/${this.name}`;
    try {
      if (this.kind === 'thread') {
        const thread = new Worker(ENTRY, {
          env,
          workerData: { arborHost: true },
          stdout: true,
          stderr: true,
          ...(this.spec.resourceLimits !== undefined ? { resourceLimits: this.spec.resourceLimits } : {}),
        });
        this.thread = thread;
        instancesAlive += 1;
        captureOutput(thread as unknown as Parameters<typeof captureOutput>[0]).attach(
          outputSink(outputPath, this.logger, this.outputLog),
        );
        thread.on('message', (raw: unknown) => this.onMessage(raw));
        // Always: a thread's 'error' with no listener would be thrown in the supervisor's process.
        thread.on('error', (err) => {
          const code = (err as { code?: unknown }).code;
          this.down(
            code === 'ERR_WORKER_OUT_OF_MEMORY'
              ? `${this.label()} went over its heap limit (resourceLimits)`
              : `${this.label()} failed: ${err.message}`,
            code === 'ERR_WORKER_OUT_OF_MEMORY' ? 'memory' : 'crash',
          );
        });
        thread.once('exit', (code) => {
          instancesAlive -= 1;
          this.markExited();
          this.down(`${this.label()} ended (code ${code})`);
        });
      } else {
        const watched = processGroups.prepare(this.logger);
        // Guarded: the host and its group never outlive this process (../worker/group-fork.ts).
        const child = forkGroupLeader(
          ENTRY,
          [],
          { env, execArgv: this.spec.execArgv ?? [], stdio: CAPTURED_STDIO },
          watched,
        );
        this.child = child;
        instancesAlive += 1;
        processGroups.adopt(child, this.logger);
        captureOutput(child).attach(outputSink(outputPath, this.logger, this.outputLog));
        const bounded = limitMessageSize(child, MAX_MESSAGE_BYTES + MESSAGE_ENVELOPE_BYTES, (bytes) =>
          this.down(`${this.label()} sent an over-long message (${bytes} bytes)`),
        );
        if (!bounded) this.logger.debug({ event: 'ipc_size_unbounded', pid: child.pid });
        child.on('message', (raw: unknown) => this.onMessage(raw));
        child.on('error', (err) => this.logger.warn({ event: 'host_process_error', host: this.name, err }));
        child.once('exit', (code, signal) => {
          instancesAlive -= 1;
          this.markExited();
          this.down(`${this.label()} exited (${signal !== null ? `killed by ${signal}` : `code ${code}`})`);
        });
      }
    } catch (err) {
      queueMicrotask(() => this.down(`host '${this.name}' could not start: ${(err as Error).message}`));
      this.markExited();
      return;
    }
    const timeout = this.spec.startTimeout ?? DEFAULT_HOST_START_TIMEOUT;
    this.startTimer = setTimeout(() => this.down(`${this.label()} did not start within ${timeout} ms`), timeout);
    this.startTimer.unref();
  }

  private onMessage(raw: unknown): void {
    const message = parseFromHost(raw);
    if (message === undefined) {
      this.ignored.note(() => preview(raw));
      return;
    }
    switch (message.t) {
      case 'ready':
        if (this.state !== 'starting') return;
        this.state = 'running';
        clearTimeout(this.startTimer);
        this.health.start();
        this.logger.debug({ event: 'host_started', host: this.name, incarnation: this.incarnation, pid: this.pid });
        this.markReady();
        return;
      case 'pong':
        this.health.pong();
        return;
      case 'send':
      case 'log':
        if (!this.withinRate()) return;
        break;
      default:
        break;
    }
    this.tasks.get(message.n)?.fromHost(message);
  }

  /** Sends and log lines of all the host's tasks, bounded together: a flood is dropped and counted, never queued. */
  private withinRate(): boolean {
    if (take(this.bucket as Bucket, MAX_HOST_MESSAGE_RATE, Date.now())) {
      if (this.dropped > 0) {
        this.logger.warn({ event: 'host_messages_dropped', host: this.name, pid: this.pid, dropped: this.dropped });
        this.dropped = 0;
      }
      return true;
    }
    this.dropped += 1;
    return false;
  }

  /** Killed for its health: a missed heartbeat (confirmed by HealthChecks after a read of pending input) or memory. */
  private unhealthy(cause: ExitReason): void {
    const kind =
      typeof cause !== 'object' ? 'crash' : 'hung' in cause ? 'heartbeat' : 'memory' in cause ? 'memory' : 'crash';
    this.down(this.describeCause(cause), kind);
  }

  private kill(): void {
    if (this.thread !== undefined) {
      void this.thread.terminate().catch(() => undefined);
      return;
    }
    const child = this.child;
    if (child?.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
    if (!signalGroup(child.pid, 'SIGKILL')) child.kill('SIGKILL');
  }

  private label(): string {
    const where = this.pid !== undefined ? `pid ${this.pid}` : `thread ${this.threadId ?? '?'}`;
    return `host '${this.name}' #${this.incarnation} (${where})`;
  }

  private describeCause(cause: ExitReason): string {
    return `${this.label()} ${describeReason(cause)}`;
  }
}
