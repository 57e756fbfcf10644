// Prometheus metrics of a tree (prom-client), fed by its events (counters, histogram) and read from its status at
// scrape time (gauges). One registry per admin server; prom-client's default process metrics describe the
// supervisor's own process.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { TreeEvent } from '../supervisor/events.js';
import type { SupervisorStatus } from '../supervisor/tree.js';
import type { ExitReason } from '../types.js';
import { readRss } from '../worker/health.js';

/** Bounded label values for a reason: its kind (`code`, `signal`, `error`, …), never its free text. */
export function reasonKind(reason: ExitReason): string {
  if (typeof reason === 'string') return reason;
  const key = Object.keys(reason)[0];
  return key === undefined ? 'unknown' : key === 'shutdown' ? 'self_shutdown' : key;
}

const SUPERVISOR_STATES = ['starting', 'running', 'restarting', 'calling', 'shuttingDown', 'stopped', 'failed'];
/** At most this many pending exit → ready measurements (one per restarting child). */
const MAX_PENDING = 10_000;

export class TreeMetrics {
  readonly registry = new Registry();
  private readonly restarts: Counter<'supervisor' | 'child' | 'reason'>;
  private readonly restartSeconds: Histogram<'supervisor'>;
  private readonly childUp: Gauge<'supervisor' | 'child' | 'type'>;
  private readonly supervisorState: Gauge<'supervisor' | 'state'>;
  private readonly intensityRatio: Gauge<'supervisor'>;
  private readonly listenerConnections: Gauge<'listener' | 'state'>;
  private readonly workerRss: Gauge<'supervisor' | 'child'>;
  /** Per supervisor: the reason kind and time of the exit its current restarts answer. */
  private readonly cause = new Map<string, { reason: string; at: number }>();
  /** Per child path: when the incarnation being replaced exited. */
  private readonly exitedAt = new Map<string, number>();

  constructor() {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    this.restarts = new Counter({
      name: 'arbor_child_restarts_total',
      help: 'Restarts of a child, by the kind of exit that caused them (code, signal, error, hung, memory, startFailed, shutdown, ...).',
      labelNames: ['supervisor', 'child', 'reason'], registers,
    });
    this.restartSeconds = new Histogram({
      name: 'arbor_restart_seconds',
      help: 'From a child exiting to its replacement being ready.',
      labelNames: ['supervisor'], registers,
      buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    });
    this.childUp = new Gauge({ name: 'arbor_child_up', help: '1 if the child is running, else 0.', labelNames: ['supervisor', 'child', 'type'], registers });
    this.supervisorState = new Gauge({
      name: 'arbor_supervisor_state',
      help: "1 for the supervisor machine's current state, 0 for the others.",
      labelNames: ['supervisor', 'state'], registers,
    });
    this.intensityRatio = new Gauge({
      name: 'arbor_restart_intensity_ratio',
      help: 'Restarts within the period divided by intensity: above 1 the supervisor gives up.',
      labelNames: ['supervisor'], registers,
    });
    this.listenerConnections = new Gauge({
      name: 'arbor_listener_connections',
      help: 'round_robin listeners: connections held for a worker (queued) and closed because the queue was full (dropped, since start). 0 in shared mode, where connections wait in the kernel backlog.',
      labelNames: ['listener', 'state'], registers,
    });
    this.workerRss = new Gauge({ name: 'arbor_worker_rss_bytes', help: 'Resident memory of each running worker.', labelNames: ['supervisor', 'child'], registers });
  }

  /** Counters and the restart histogram follow the events, so they match the event log one for one. */
  observe(event: TreeEvent, now = Date.now()): void {
    switch (event.event) {
      case 'child_exited':
        if (event.action === 'restart') {
          this.cause.set(event.supervisor, { reason: reasonKind(event.reason), at: now });
          this.markExited(`${event.supervisor}/${event.child}`, now);
        }
        break;
      case 'start_failed':
        // A restart whose start failed is tried again: the retry answers this failure.
        if (this.cause.has(event.supervisor)) this.cause.set(event.supervisor, { reason: reasonKind(event.reason), at: now });
        break;
      case 'child_restarting': {
        const cause = this.cause.get(event.supervisor);
        this.restarts.inc({ supervisor: event.supervisor, child: event.child, reason: cause?.reason ?? 'unknown' });
        // A sibling restarted with the failed child (one_for_all, rest_for_one) is measured from that exit.
        if (!this.exitedAt.has(`${event.supervisor}/${event.child}`)) this.markExited(`${event.supervisor}/${event.child}`, cause?.at ?? now);
        break;
      }
      case 'child_started': {
        const key = `${event.supervisor}/${event.child}`;
        const at = this.exitedAt.get(key);
        if (at !== undefined) {
          this.exitedAt.delete(key);
          this.restartSeconds.observe({ supervisor: event.supervisor }, (now - at) / 1000);
        }
        break;
      }
      case 'supervisor_stopped':
        for (const key of this.exitedAt.keys()) if (key.startsWith(`${event.supervisor}/`)) this.exitedAt.delete(key);
        this.cause.delete(event.supervisor);
        break;
      default:
        break;
    }
  }

  /** Gauges from the status at scrape time, then the text exposition. */
  async render(status: SupervisorStatus | undefined): Promise<string> {
    this.childUp.reset();
    this.supervisorState.reset();
    this.intensityRatio.reset();
    this.listenerConnections.reset();
    this.workerRss.reset();
    const workers: Array<{ supervisor: string; child: string; pid: number }> = [];
    const walk = (node: SupervisorStatus): void => {
      for (const state of SUPERVISOR_STATES) this.supervisorState.set({ supervisor: node.path, state }, node.state === state ? 1 : 0);
      const { restarts, limit } = node.intensity;
      this.intensityRatio.set({ supervisor: node.path }, limit === 0 ? (restarts > 0 ? Infinity : 0) : restarts / limit);
      for (const child of node.children) {
        const path = `${node.path}/${child.id}`;
        this.childUp.set({ supervisor: node.path, child: child.id, type: child.type }, child.status === 'running' ? 1 : 0);
        if (child.type === 'worker' && child.status === 'running' && child.pid !== undefined) {
          workers.push({ supervisor: node.path, child: child.id, pid: child.pid });
        }
        if (child.listener) {
          const connections = child.listener.connections;
          this.listenerConnections.set({ listener: path, state: 'queued' }, connections?.queued ?? 0);
          this.listenerConnections.set({ listener: path, state: 'dropped' }, connections?.dropped ?? 0);
        }
        if (child.supervisor) walk(child.supervisor);
      }
    };
    if (status) walk(status);
    const rss = await Promise.all(workers.map((w) => readRss(w.pid)));
    workers.forEach((w, i) => {
      const bytes = rss[i];
      if (bytes !== undefined) this.workerRss.set({ supervisor: w.supervisor, child: w.child }, bytes);
    });
    return this.registry.metrics();
  }

  private markExited(key: string, at: number): void {
    if (this.exitedAt.size < MAX_PENDING || this.exitedAt.has(key)) this.exitedAt.set(key, at);
  }
}
