// Prometheus metrics of a tree (prom-client), fed by its events (counters, histogram) and read from a status
// snapshot at render time (gauges). One registry per admin server; prom-client's default process metrics describe
// the supervisor's own process.
// Cardinality follows the spec, not the tree: by default the children of simple_one_for_one supervisors are
// labelled by their template path (`root/jobs/*`) and summed there, so 10,000 dynamic children cost the same
// handful of series as one. `dynamicChildren: true` gives every dynamic child series of its own; they are deleted
// with the child.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { TreeEvent } from '../supervisor/events.js';
import type { SupervisorStatus } from '../supervisor/tree.js';
import type { ExitReason } from '../types.js';
import { readRss } from '../worker/health.js';
import type { PathTemplates } from './templates.js';

/** One task host pool as the tree's status shows it. */
type HostPoolStatus = NonNullable<SupervisorStatus['hosts']>[number];

/** Bounded label values for a reason: its kind (`code`, `signal`, `error`, …), never its free text. */
export function reasonKind(reason: ExitReason): string {
  if (typeof reason === 'string') return reason;
  const key = Object.keys(reason)[0];
  return key === undefined ? 'unknown' : key === 'shutdown' ? 'self_shutdown' : key;
}

const SUPERVISOR_STATES = ['starting', 'running', 'restarting', 'calling', 'shuttingDown', 'stopped', 'failed'];
/** At most this many pending exit → ready measurements (one per restarting child). */
const MAX_PENDING = 10_000;
/** /proc reads of worker RSS at once, per render: bounds the descriptors a render holds. */
const RSS_READS_AT_ONCE = 8;

export interface MetricsOptions {
  /** Series of their own for every child of a simple_one_for_one supervisor (default false: one per template). */
  dynamicChildren?: boolean;
}

export class TreeMetrics {
  readonly registry = new Registry();
  private readonly restarts: Counter<'supervisor' | 'child' | 'reason'>;
  private readonly restartSeconds: Histogram<'supervisor'>;
  private readonly childUp: Gauge<'supervisor' | 'child' | 'type'>;
  private readonly dynamicCount: Gauge<'supervisor'>;
  private readonly supervisorState: Gauge<'supervisor' | 'state'>;
  private readonly intensityRatio: Gauge<'supervisor'>;
  private readonly listenerConnections: Gauge<'listener' | 'state'>;
  private readonly workerRss: Gauge<'supervisor' | 'child'>;
  private readonly hostUp: Gauge<'pool'>;
  private readonly hostTasks: Gauge<'pool' | 'host'>;
  private readonly hostRss: Gauge<'pool' | 'host'>;
  private readonly hostRestarts: Counter<'pool' | 'reason'>;
  /** The host restarts counted so far, per pool and reason: the status holds totals, the counter takes the rest. */
  private readonly hostRestartsSeen = new Map<string, number>();
  /** Per supervisor: the reason kind and time of the exit its current restarts answer. */
  private readonly cause = new Map<string, { reason: string; at: number }>();
  /** Per child path: when the incarnation being replaced exited. */
  private readonly exitedAt = new Map<string, number>();
  /** dynamicChildren: the restart series of each dynamic child (by its path), to delete them with it. */
  private readonly childSeries = new Map<string, { supervisor: string; child: string; reasons: Set<string> }>();
  /** dynamicChildren: the histogram series of supervisors inside dynamic children, to delete them with it. */
  private readonly supervisorSeries = new Set<string>();
  private readonly perChild: boolean;

  constructor(
    private readonly templates: PathTemplates,
    options: MetricsOptions = {},
  ) {
    this.perChild = options.dynamicChildren ?? false;
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    this.restarts = new Counter({
      name: 'arbor_child_restarts_total',
      help: 'Restarts of a child, by the kind of exit that caused them (code, signal, error, hung, memory, startFailed, shutdown, ...). Dynamic children are summed under child="*" unless per-child series are asked for.',
      labelNames: ['supervisor', 'child', 'reason'],
      registers,
    });
    this.restartSeconds = new Histogram({
      name: 'arbor_restart_seconds',
      help: 'From a child exiting to its replacement being ready.',
      labelNames: ['supervisor'],
      registers,
      buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    });
    this.childUp = new Gauge({
      name: 'arbor_child_up',
      help: '1 if the child is running, else 0; for a template path (child="*"), the number of its children running.',
      labelNames: ['supervisor', 'child', 'type'],
      registers,
    });
    this.dynamicCount = new Gauge({
      name: 'arbor_dynamic_children',
      help: 'Children of a simple_one_for_one supervisor (summed over the instances of a template path).',
      labelNames: ['supervisor'],
      registers,
    });
    this.supervisorState = new Gauge({
      name: 'arbor_supervisor_state',
      help: "1 for the supervisor machine's current state, 0 for the others; for a template path, the number of its supervisors in each state.",
      labelNames: ['supervisor', 'state'],
      registers,
    });
    this.intensityRatio = new Gauge({
      name: 'arbor_restart_intensity_ratio',
      help: 'Restarts within the period divided by intensity: above 1 the supervisor gives up (the highest of a template path).',
      labelNames: ['supervisor'],
      registers,
    });
    this.listenerConnections = new Gauge({
      name: 'arbor_listener_connections',
      help: 'round_robin listeners: connections held for a worker (queued) and closed because the queue was full (dropped, since start). 0 in shared mode, where connections wait in the kernel backlog.',
      labelNames: ['listener', 'state'],
      registers,
    });
    this.workerRss = new Gauge({
      name: 'arbor_worker_rss_bytes',
      help: 'Resident memory of each running worker (dynamic children only with per-child series).',
      labelNames: ['supervisor', 'child'],
      registers,
    });
    this.hostUp = new Gauge({
      name: 'arbor_host_up',
      help: 'Task hosts running (or starting) in each host pool, retired ones included.',
      labelNames: ['pool'],
      registers,
    });
    this.hostTasks = new Gauge({
      name: 'arbor_host_tasks',
      help: 'Tasks placed in each task host, by its slot in the pool (host="retired": summed over retired hosts).',
      labelNames: ['pool', 'host'],
      registers,
    });
    this.hostRss = new Gauge({
      name: 'arbor_host_rss_bytes',
      help: 'Resident memory of each task host process, by its slot in the pool (host="retired": summed).',
      labelNames: ['pool', 'host'],
      registers,
    });
    this.hostRestarts = new Counter({
      name: 'arbor_host_restarts_total',
      help: 'Task hosts that went down, taking their tasks with them, by reason (heartbeat, memory, crash); the slot gets a fresh host when a task next needs one.',
      labelNames: ['pool', 'reason'],
      registers,
    });
  }

  /** The supervisor label of a real path. */
  private supervisorLabel(path: string): string {
    return this.perChild ? path : this.templates.template(path);
  }

  private childLabel(supervisor: string, child: string): string {
    return !this.perChild && this.templates.isDynamic(supervisor) ? '*' : child;
  }

  /** Counters and the restart histogram follow the events, so they match the event log one for one. */
  observe(event: TreeEvent, now = Date.now()): void {
    switch (event.event) {
      case 'child_exited':
        if (event.action === 'restart') {
          this.cause.set(event.supervisor, { reason: reasonKind(event.reason), at: now });
          this.markExited(`${event.supervisor}/${event.child}`, now);
        }
        if (event.action === 'remove') this.forget(`${event.supervisor}/${event.child}`);
        break;
      case 'child_terminated':
        // A dynamic child that is terminated is removed (its spec goes with it).
        if (this.templates.isDynamic(event.supervisor)) this.forget(`${event.supervisor}/${event.child}`);
        break;
      case 'start_failed':
        // A restart whose start failed is tried again: the retry answers this failure.
        if (this.cause.has(event.supervisor))
          this.cause.set(event.supervisor, { reason: reasonKind(event.reason), at: now });
        break;
      case 'child_restarting': {
        const cause = this.cause.get(event.supervisor);
        const reason = cause?.reason ?? 'unknown';
        const labels = {
          supervisor: this.supervisorLabel(event.supervisor),
          child: this.childLabel(event.supervisor, event.child),
          reason,
        };
        this.restarts.inc(labels);
        if (this.perChild && this.templates.insideDynamic(`${event.supervisor}/${event.child}`)) {
          const path = `${event.supervisor}/${event.child}`;
          const series = this.childSeries.get(path) ?? {
            supervisor: labels.supervisor,
            child: labels.child,
            reasons: new Set<string>(),
          };
          series.reasons.add(reason);
          this.childSeries.set(path, series);
        }
        // A sibling restarted with the failed child (one_for_all, rest_for_one) is measured from that exit.
        if (!this.exitedAt.has(`${event.supervisor}/${event.child}`))
          this.markExited(`${event.supervisor}/${event.child}`, cause?.at ?? now);
        break;
      }
      case 'child_started': {
        const key = `${event.supervisor}/${event.child}`;
        const at = this.exitedAt.get(key);
        if (at !== undefined) {
          this.exitedAt.delete(key);
          const supervisor = this.supervisorLabel(event.supervisor);
          if (this.perChild && this.templates.insideDynamic(event.supervisor)) this.supervisorSeries.add(supervisor);
          this.restartSeconds.observe({ supervisor }, (now - at) / 1000);
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

  /** Number of restart series held for dynamic children (per-child series only). */
  get dynamicSeriesCount(): number {
    return this.childSeries.size + this.supervisorSeries.size;
  }

  /** A removed child: its series, and those of everything under it, go with it. */
  private forget(path: string): void {
    const under = `${path}/`;
    this.exitedAt.delete(path);
    if (this.exitedAt.size > 0)
      for (const key of this.exitedAt.keys()) if (key.startsWith(under)) this.exitedAt.delete(key);
    if (!this.perChild) return;
    for (const [child, series] of this.childSeries) {
      if (child !== path && !child.startsWith(under)) continue;
      for (const reason of series.reasons)
        this.restarts.remove({ supervisor: series.supervisor, child: series.child, reason });
      this.childSeries.delete(child);
    }
    for (const supervisor of this.supervisorSeries) {
      if (supervisor !== path && !supervisor.startsWith(under)) continue;
      this.restartSeconds.remove({ supervisor });
      this.supervisorSeries.delete(supervisor);
    }
  }

  /** Gauges from a status snapshot, then the text exposition. */
  async render(status: SupervisorStatus | undefined): Promise<string> {
    this.childUp.reset();
    this.dynamicCount.reset();
    this.supervisorState.reset();
    this.intensityRatio.reset();
    this.listenerConnections.reset();
    this.workerRss.reset();
    this.hostUp.reset();
    this.hostTasks.reset();
    this.hostRss.reset();
    const states = new Map<string, Map<string, number>>();
    const ratios = new Map<string, number>();
    const up = new Map<string, { labels: { supervisor: string; child: string; type: string }; value: number }>();
    const dynamic = new Map<string, number>();
    const connections = new Map<string, { queued: number; dropped: number }>();
    const workers: Array<{ supervisor: string; child: string; pid: number }> = [];
    const add = <K>(map: Map<K, number>, key: K, by: number): void => void map.set(key, (map.get(key) ?? 0) + by);
    const walk = (node: SupervisorStatus): void => {
      const label = this.supervisorLabel(node.path);
      const byState = states.get(label) ?? new Map<string, number>();
      states.set(label, byState);
      add(byState, node.state, 1);
      const { restarts, limit } = node.intensity;
      const ratio = limit === 0 ? (restarts > 0 ? Infinity : 0) : restarts / limit;
      ratios.set(label, Math.max(ratios.get(label) ?? 0, ratio));
      if (node.strategy === 'simple_one_for_one') add(dynamic, label, node.children.length);
      const summed = !this.perChild && this.templates.isDynamic(node.path);
      for (const child of node.children) {
        const childLabel = summed ? '*' : child.id;
        const key = `${label}\0${childLabel}\0${child.type}`;
        const entry = up.get(key) ?? { labels: { supervisor: label, child: childLabel, type: child.type }, value: 0 };
        entry.value += child.status === 'running' ? 1 : 0;
        up.set(key, entry);
        const path = `${node.path}/${child.id}`;
        const ownSeries = this.perChild || !this.templates.insideDynamic(path);
        if (ownSeries && child.type === 'worker' && child.status === 'running' && child.pid !== undefined) {
          workers.push({ supervisor: label, child: child.id, pid: child.pid });
        }
        if (child.listener) {
          const listener = this.perChild ? path : this.templates.template(path);
          const sum = connections.get(listener) ?? { queued: 0, dropped: 0 };
          sum.queued += child.listener.connections?.queued ?? 0;
          sum.dropped += child.listener.connections?.dropped ?? 0;
          connections.set(listener, sum);
        }
        if (child.supervisor) walk(child.supervisor);
      }
    };
    if (status) walk(status);
    for (const [supervisor, byState] of states) {
      for (const state of SUPERVISOR_STATES) this.supervisorState.set({ supervisor, state }, byState.get(state) ?? 0);
    }
    for (const [supervisor, ratio] of ratios) this.intensityRatio.set({ supervisor }, ratio);
    for (const { labels, value } of up.values()) this.childUp.set(labels, value);
    for (const [supervisor, count] of dynamic) this.dynamicCount.set({ supervisor }, count);
    for (const [listener, sum] of connections) {
      this.listenerConnections.set({ listener, state: 'queued' }, sum.queued);
      this.listenerConnections.set({ listener, state: 'dropped' }, sum.dropped);
    }
    this.renderHosts(status?.hosts ?? []);
    for (let i = 0; i < workers.length; i += RSS_READS_AT_ONCE) {
      const batch = workers.slice(i, i + RSS_READS_AT_ONCE);
      const rss = await Promise.all(batch.map((w) => readRss(w.pid)));
      batch.forEach((w, j) => {
        const bytes = rss[j];
        if (bytes !== undefined) this.workerRss.set({ supervisor: w.supervisor, child: w.child }, bytes);
      });
    }
    return this.registry.metrics();
  }

  private renderHosts(pools: readonly HostPoolStatus[]): void {
    for (const pool of pools) {
      this.hostUp.set({ pool: pool.name }, pool.alive);
      for (const host of pool.hosts) {
        const labels = { pool: pool.name, host: host.slot === undefined ? 'retired' : String(host.slot) };
        this.hostTasks.inc(labels, host.tasks);
        if (host.rss !== undefined) this.hostRss.inc(labels, host.rss);
      }
      for (const [reason, total] of Object.entries(pool.restarts)) {
        const key = `${pool.name}\0${reason}`;
        const seen = this.hostRestartsSeen.get(key) ?? 0;
        // Every reason is shown from the start (at 0), as a counter should be.
        this.hostRestarts.inc({ pool: pool.name, reason }, Math.max(0, total - seen));
        this.hostRestartsSeen.set(key, Math.max(seen, total));
      }
    }
  }

  private markExited(key: string, at: number): void {
    if (this.exitedAt.size < MAX_PENDING || this.exitedAt.has(key)) this.exitedAt.set(key, at);
  }
}
