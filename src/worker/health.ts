// Heartbeats and the memory ceiling of one running worker: a ping left unanswered for `heartbeat.timeout` ms, or
// an RSS over `maxMemory`, gets the worker killed with that as its exit reason (`{ hung }`, `{ memory }`). A
// silence is judged only once this process has read its pending input, so that a stall of the supervisor's own
// event loop is not taken for the worker's.
import { readFile } from 'node:fs/promises';
import type { ExitReason, WorkerSpec } from '../types.js';

/** How often RSS is checked when `maxMemory` is set without heartbeats. */
const DEFAULT_MEMORY_CHECK_MS = 1000;

export interface HealthIO {
  pid(): number | undefined;
  ping(seq: number): void;
  kill(cause: ExitReason): void;
}

export class HealthChecks {
  private timer: NodeJS.Timeout | undefined;
  private pongTimer: NodeJS.Timeout | undefined;
  private verdict: NodeJS.Immediate | undefined;
  private pingSeq = 0;

  constructor(
    private readonly spec: Pick<WorkerSpec, 'heartbeat' | 'maxMemory'>,
    private readonly io: HealthIO,
  ) {}

  start(): void {
    const { heartbeat, maxMemory } = this.spec;
    if (heartbeat === undefined && maxMemory === undefined) return;
    this.timer = setInterval(() => this.check(), heartbeat?.interval ?? DEFAULT_MEMORY_CHECK_MS);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    clearTimeout(this.pongTimer);
    clearImmediate(this.verdict);
    this.timer = this.pongTimer = this.verdict = undefined;
  }

  /** The worker answered the ping in flight. */
  pong(): void {
    clearTimeout(this.pongTimer);
    this.pongTimer = undefined;
  }

  private check(): void {
    const { heartbeat, maxMemory } = this.spec;
    // One ping in flight at a time; its own timer measures the silence, whatever the interval.
    if (heartbeat !== undefined && this.pongTimer === undefined) {
      const sentAt = Date.now();
      this.io.ping(++this.pingSeq);
      this.pongTimer = setTimeout(() => this.silent(heartbeat.timeout, sentAt), heartbeat.timeout);
      this.pongTimer.unref();
    }
    if (maxMemory !== undefined) void this.checkMemory(maxMemory);
  }

  /**
   * The ping's timeout has passed with no answer read. Timers run before the event loop reads pending I/O: when
   * this process was itself stalled (a long synchronous task, a GC pause, a starved CPU), the timer fires as the
   * loop wakes, with the worker's answer already waiting unread. So the verdict waits for the check phase, which
   * comes after the loop has polled its input once; an answer read by then (pong() clears the timer) acquits.
   */
  private silent(timeout: number, sentAt: number): void {
    const fired = this.pongTimer;
    this.verdict = setImmediate(() => {
      this.verdict = undefined;
      if (this.pongTimer !== fired) return; // answered, or stopped
      // Timers may fire a millisecond early by the wall clock: the silence lasted the timeout at least.
      this.io.kill({ hung: Math.max(timeout, Date.now() - sentAt) });
    });
  }

  private async checkMemory(maxMemory: number): Promise<void> {
    const pid = this.io.pid();
    if (pid === undefined) return;
    const rss = await readRss(pid);
    if (rss !== undefined && rss > maxMemory) this.io.kill({ memory: rss });
  }
}

/** Resident set size in bytes, from /proc (Linux); undefined where unavailable or once the process is gone. */
export async function readRss(pid: number): Promise<number | undefined> {
  try {
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    const kib = /^VmRSS:\s+(\d+)\s+kB/m.exec(status)?.[1];
    return kib === undefined ? undefined : Number(kib) * 1024;
  } catch {
    return undefined;
  }
}
