// sd_notify(3) for a tree run by systemd (Type=notify / notify-reload): READY=1 once the tree has started, STATUS=
// a one-line summary whenever it changes, RELOADING=1 … READY=1 around a reload, STOPPING=1 at stop, and WATCHDOG=1
// every WATCHDOG_USEC/2 — from a timer of the supervisor's own event loop, and only while the root runs, so a
// wedged supervisor stops petting and systemd restarts it. Fed by the tree's events and status only.
import type { Logger } from 'pino';
import type { SupervisorStatus, Tree } from '../supervisor/tree.js';
import type { TreeEvent } from '../supervisor/events.js';
import { openTransport, type NotifyTransport } from './datagram.js';

/** What the notifier reads of a tree. */
export type NotifiedTree = Pick<Tree, 'on' | 'off' | 'status' | 'done'> & { spec: { id: string } };

const RESTART_WINDOW_MS = 60_000;
/** STATUS= is re-checked this often too, as "restarts in the last minute" changes with time alone. */
const STATUS_REFRESH_MS = 5_000;
/**
 * STATUS= follows events at most once per this many ms (or ten times what reading the tree's status last cost,
 * if more): its line is read from the status of the whole tree, which a burst of thousands of events must not
 * read thousands of times.
 */
const STATUS_MIN_INTERVAL_MS = 1_000;
const STATUS_COST_FACTOR = 10;
/** The root's machine states in which the watchdog is petted: it is alive and its event loop turns. */
const PETTING_STATES = new Set(['starting', 'running', 'restarting', 'calling', 'shuttingDown']);

/**
 * Pure: the watchdog period in ms (half of WATCHDOG_USEC, as sd_watchdog_enabled advises), or undefined when
 * systemd asks for none, or asks another process (WATCHDOG_PID).
 */
export function watchdogInterval(env: Record<string, string | undefined>, pid: number): number | undefined {
  const usec = env.WATCHDOG_USEC;
  if (usec === undefined || !/^\d+$/.test(usec) || Number(usec) === 0) return undefined;
  if (env.WATCHDOG_PID !== undefined && env.WATCHDOG_PID !== String(pid)) return undefined;
  return Math.max(1, Math.floor(Number(usec) / 2 / 1000));
}

/** Pure: `2/2 workers up, 1 restart in the last minute` (+ `, stopping`). */
export function statusLine(
  status: SupervisorStatus | undefined,
  recentRestarts: number,
  phase: 'starting' | 'running' | 'reloading' | 'stopping',
): string {
  let up = 0;
  let expected = 0;
  const walk = (node: SupervisorStatus): void => {
    for (const child of node.children) {
      if (child.type === 'worker') {
        expected += 1;
        if (child.status === 'running') up += 1;
      }
      if (child.supervisor) walk(child.supervisor);
    }
  };
  if (status) walk(status);
  const restarts = `${recentRestarts} restart${recentRestarts === 1 ? '' : 's'} in the last minute`;
  return `${up}/${expected} workers up, ${restarts}${phase === 'running' ? '' : `, ${phase}`}`;
}

/** The current MONOTONIC_USEC, from the same CLOCK_MONOTONIC systemd compares it with (libuv's hrtime). */
function monotonicUsec(): bigint {
  return process.hrtime.bigint() / 1000n;
}

export interface NotifyConfig {
  socket: string;
  watchdogMs: number | undefined;
}

/**
 * NOTIFY_SOCKET and the watchdog period when systemd set them (else undefined). The variables are removed from
 * the environment, before anything is forked, so that no worker talks to systemd in arbor's name.
 */
export function takeNotifyEnvironment(env: NodeJS.ProcessEnv = process.env): NotifyConfig | undefined {
  const socket = env.NOTIFY_SOCKET;
  if (!socket) return undefined;
  const watchdogMs = watchdogInterval(env, process.pid);
  for (const name of ['NOTIFY_SOCKET', 'WATCHDOG_USEC', 'WATCHDOG_PID']) delete env[name];
  return { socket, watchdogMs };
}

export class SystemdNotifier {
  private readonly restarts: number[] = [];
  private phase: 'starting' | 'running' | 'reloading' | 'stopping' = 'starting';
  private lastStatus = '';
  private lastStatusAt = -Infinity;
  private statusInterval = STATUS_MIN_INTERVAL_MS;
  private statusTimer: NodeJS.Timeout | undefined;
  private done = false;
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly onEvent = (event: TreeEvent): void => this.handle(event);

  /** Opens the notify socket and follows the tree. */
  static attach(tree: NotifiedTree, config: NotifyConfig, logger: Logger): SystemdNotifier {
    let reported = false;
    const transport = openTransport(config.socket, (error) => {
      // Said once: a socket that refuses one message refuses them all.
      if (!reported) logger.warn({ event: 'notify_failed', socket: config.socket, reason: error.message });
      reported = true;
    });
    const { socket, watchdogMs } = config;
    logger.info({ event: 'notify_socket', socket, ...(watchdogMs ? { watchdogMs } : {}) });
    return new SystemdNotifier(tree, transport, watchdogMs);
  }

  constructor(
    private readonly tree: NotifiedTree,
    private readonly transport: NotifyTransport,
    watchdogMs: number | undefined,
  ) {
    tree.on('event', this.onEvent);
    if (watchdogMs !== undefined) this.timers.push(setInterval(() => this.petWatchdog(), watchdogMs));
    this.timers.push(setInterval(() => this.sendStatus(), STATUS_REFRESH_MS));
    for (const timer of this.timers) timer.unref();
    void tree.done.then(() => this.close());
  }

  /** The tree has started: READY=1 (systemd's Type=notify waits for it). */
  ready(): void {
    this.phase = 'running';
    this.send('READY=1', true);
  }

  close(): void {
    if (this.done) return;
    this.done = true;
    if (this.phase !== 'stopping') {
      this.phase = 'stopping';
      this.send('STOPPING=1', true);
    }
    for (const timer of this.timers) clearInterval(timer);
    clearTimeout(this.statusTimer);
    this.tree.off('event', this.onEvent as (...args: unknown[]) => void);
    this.transport.close();
  }

  private handle(event: TreeEvent): void {
    const name = event.event as string;
    if (name === 'child_restarting' && this.restarts.length < 100_000) this.restarts.push(Date.now());
    if (name === 'tree_stopping' && this.phase !== 'stopping') {
      this.phase = 'stopping';
      return this.send('STOPPING=1', true);
    }
    // Reloads (Type=notify-reload): RELOADING=1 with the time it began, then READY=1 when it is over.
    if (name === 'reload_started' && this.phase === 'running') {
      this.phase = 'reloading';
      return this.send(`RELOADING=1\nMONOTONIC_USEC=${monotonicUsec()}`, true);
    }
    if ((name === 'reload_finished' || name === 'reload_failed') && this.phase === 'reloading') {
      this.phase = 'running';
      return this.send('READY=1', true);
    }
    if (this.phase !== 'starting') this.scheduleStatus();
  }

  /** STATUS= once the interval since the last one is over: the events of a burst share one. */
  private scheduleStatus(): void {
    if (this.done || this.statusTimer !== undefined) return;
    const wait = Math.max(0, this.lastStatusAt + this.statusInterval - performance.now());
    this.statusTimer = setTimeout(() => {
      this.statusTimer = undefined;
      this.sendStatus();
    }, wait);
    this.statusTimer.unref();
  }

  private rootRuns(): boolean {
    if (this.done) return false;
    try {
      return PETTING_STATES.has(this.tree.status(this.tree.spec.id, { limit: 0 }).state);
    } catch {
      return false; // the root is gone
    }
  }

  private petWatchdog(): void {
    if (this.rootRuns()) this.transport.send('WATCHDOG=1');
  }

  /** STATUS= alone, when the line changed. */
  private sendStatus(): void {
    if (this.done) return;
    const line = this.currentStatus();
    if (line !== this.lastStatus) this.send('', true);
  }

  private currentStatus(): string {
    const started = performance.now();
    this.lastStatusAt = started;
    const now = Date.now();
    while (this.restarts.length > 0 && this.restarts[0]! < now - RESTART_WINDOW_MS) this.restarts.shift();
    let status: SupervisorStatus | undefined;
    try {
      status = this.tree.status(this.tree.spec.id, { limit: Infinity }); // every worker counts
    } catch {
      status = undefined;
    }
    const line = statusLine(status, this.restarts.length, this.phase);
    this.statusInterval = Math.max(STATUS_MIN_INTERVAL_MS, (performance.now() - started) * STATUS_COST_FACTOR);
    return line;
  }

  /** One datagram: the state change (if any), with the current STATUS= line when `withStatus`. */
  private send(state: string, withStatus: boolean): void {
    const parts = state ? [state] : [];
    if (withStatus) {
      this.lastStatus = this.currentStatus();
      parts.push(`STATUS=${this.lastStatus}`);
    }
    this.transport.send(parts.join('\n'));
  }
}
