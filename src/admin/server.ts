// The admin HTTP endpoint (off by default): /healthz, /readyz, /metrics, /tree on its own port, served by the
// supervisor's process for Kubernetes probes and Prometheus. It only reads: the tree's events feed it, its status
// is read through one shared snapshot per interval (snapshot.ts), and nothing here runs in the supervisor's
// machines. Its clients are untrusted: connections, pipelining, unread answers (http1.ts) and answer sizes
// (tree-answer.ts) are bounded, and crash text is not shown unless asked for (`exposeErrors`).
import type { AddressInfo } from 'node:net';
import type { TreeEvent } from '../supervisor/events.js';
import type { SupervisorStatus, Tree } from '../supervisor/tree.js';
import type { SupervisorSpec } from '../types.js';
import { Http1Server, type Http1Answer, type Http1Request } from './http1.js';
import { LagMonitor } from './lag.js';
import { TreeMetrics } from './metrics.js';
import { liveness, readiness, type ProbeAnswer, type TreePhase } from './probes.js';
import { SnapshotCache } from './snapshot.js';
import { PathTemplates } from './templates.js';
import { treeAnswer } from './tree-answer.js';

/** Where and how `start(spec, { admin })` or `arbor run --admin` serves /healthz, /readyz, /metrics and /tree. */
export interface AdminOptions {
  /** The address to bind (default `127.0.0.1`). */
  host?: string;
  /** 0 for a free port (read it back from `address`). */
  port: number;
  /** /healthz fails when the supervisor's event loop lags more than this (ms). Default 2000. */
  maxLag?: number;
  /**
   * /tree shows what workers said about their ends: error messages, stacks, shutdown details, start-failure
   * text. Default false: anyone who can connect sees kinds, codes, signals and counts only (`[hidden]` instead).
   */
  exposeErrors?: boolean;
  /**
   * Series of their own for each child of a simple_one_for_one supervisor (`arbor_child_up`, restarts, RSS).
   * Default false: dynamic children are summed under their template path (`root/jobs/*`), so the number of series
   * follows the spec, not the number of children.
   */
  dynamicChildMetrics?: boolean;
  /** Answers are rebuilt from the tree at most this often (ms; longer for a tree whose status is costly). Default 1000. */
  snapshotInterval?: number;
}

/** What the admin server reads of a tree. */
export type AdminTree = Pick<Tree, 'on' | 'off' | 'status' | 'done'> & {
  spec: Pick<SupervisorSpec, 'id'> & Partial<Pick<SupervisorSpec, 'strategy' | 'children' | 'template'>>;
};

export const DEFAULT_MAX_LAG_MS = 2000;
export const DEFAULT_SNAPSHOT_INTERVAL_MS = 1000;
/** Children listed per supervisor in one /tree answer; `page.next` names the next page. */
export const TREE_PAGE_SIZE = 100;
/** The longest /tree answer, in bytes: what does not fit is omitted with a marker. */
export const MAX_TREE_BYTES = 1024 * 1024;
const ROUTES = new Set(['/healthz', '/readyz', '/metrics', '/tree']);

/** `127.0.0.1:9091`, `:9091`, `[::1]:9091`, `9091` → host and port; throws with a message a user can act on. */
export function parseAdminAddress(text: string): { host: string; port: number } {
  const match = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(text) ?? /^()()(\d+)$/.exec(text);
  const port = Number(match?.[3]);
  if (!match || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw new Error(`--admin takes host:port (e.g. 127.0.0.1:9091), got '${text}'`);
  }
  return { host: match[1] || match[2] || '127.0.0.1', port };
}

export class AdminServer {
  private phase: TreePhase = 'starting';
  private readonly metrics: TreeMetrics;
  private readonly lag = new LagMonitor();
  private readonly snapshots: SnapshotCache;
  private readonly http: Http1Server;
  private readonly onEvent = (event: TreeEvent): void => this.observe(event);

  private constructor(
    private readonly tree: AdminTree,
    private readonly options: AdminOptions,
  ) {
    this.metrics = new TreeMetrics(new PathTemplates(tree.spec), {
      dynamicChildren: options.dynamicChildMetrics ?? false,
    });
    this.snapshots = new SnapshotCache(
      () => this.readStatus(),
      options.snapshotInterval ?? DEFAULT_SNAPSHOT_INTERVAL_MS,
    );
    this.http = new Http1Server((request) => this.answer(request));
    tree.on('event', this.onEvent);
    void tree.done.then(() => {
      if (this.phase !== 'gave_up') this.phase = 'stopped';
      this.snapshots.invalidate();
    });
  }

  /** Listens before the tree starts, so probes answer (503 starting) from the first instant. */
  static async open(tree: AdminTree, options: AdminOptions): Promise<AdminServer> {
    const admin = new AdminServer(tree, options);
    const { server } = admin.http;
    await new Promise<void>((resolve, reject) => {
      server.once('error', (error: NodeJS.ErrnoException) => {
        admin.close();
        reject(
          new Error(`admin server: ${error.code ?? error.message} ${options.host ?? '127.0.0.1'}:${options.port}`),
        );
      });
      server.listen(options.port, options.host ?? '127.0.0.1', () => resolve());
    });
    // Accept errors (EMFILE) are transient: node retries on the next readable.
    server.on('error', () => undefined);
    // Never keeps the process alive by itself: the tree decides when the process ends.
    server.unref();
    return admin;
  }

  get address(): { host: string; port: number } {
    const { address, port } = this.http.server.address() as AddressInfo;
    return { host: address, port };
  }

  /** The tree is running (start() resolved). */
  started(): void {
    if (this.phase === 'starting') this.phase = 'running';
    this.snapshots.invalidate();
  }

  /** The tree failed to start: probes say so until the server is closed. */
  startFailed(): void {
    this.phase = 'start_failed';
  }

  close(): void {
    this.tree.off('event', this.onEvent as (...args: unknown[]) => void);
    this.lag.close();
    this.http.close();
  }

  private observe(event: TreeEvent): void {
    // Readiness turns 503 the moment a stop is asked for, before any drain delay: the load balancer stops
    // sending new connections while the workers still serve.
    if (event.event === 'tree_stopping') this.phase = 'stopping';
    if (event.event === 'max_intensity_reached' && event.supervisor === this.tree.spec.id) this.phase = 'gave_up';
    this.metrics.observe(event);
  }

  private readRoot(): SupervisorStatus | undefined {
    try {
      return this.tree.status(this.tree.spec.id, { limit: 0 });
    } catch {
      return undefined; // the root is gone
    }
  }

  private readStatus(): SupervisorStatus | undefined {
    try {
      // Every child: /tree pages and /metrics sums are built from this one snapshot.
      return this.tree.status(this.tree.spec.id, { limit: Infinity });
    } catch {
      return undefined; // the root is gone
    }
  }

  private answer(request: Http1Request): Http1Answer | Promise<Http1Answer> {
    let url: URL;
    try {
      url = new URL(request.target, 'http://admin');
    } catch {
      return json(400, { error: 'a request target is a path' });
    }
    const path = url.pathname;
    if (!ROUTES.has(path))
      return json(404, { error: `no such path ${path.slice(0, 100)}; try /healthz, /readyz, /metrics, /tree` });
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      return json(405, { error: `${request.method} is not allowed; use GET` }, { Allow: 'GET, HEAD' });
    }
    const probe = { phase: this.phase, lagMs: this.lag.currentMs, maxLagMs: this.options.maxLag ?? DEFAULT_MAX_LAG_MS };
    switch (path) {
      case '/healthz':
        // The root's own state, read fresh and without its children: liveness costs the same for any tree.
        return probeAnswer(liveness({ ...probe, status: this.readRoot() }));
      case '/readyz':
        return probeAnswer(readiness({ ...probe, status: this.snapshots.snapshot().status }));
      case '/tree':
        return this.treeAnswer(url.searchParams);
      default:
        return this.snapshots
          .answer('metrics', (snapshot) => this.metrics.render(snapshot.status).then((text) => Buffer.from(text)))
          .then(
            (body): Http1Answer => ({
              status: 200,
              headers: { 'Content-Type': this.metrics.registry.contentType, 'Cache-Control': 'no-store' },
              body,
            }),
            (error: Error) => json(500, { error: error.message }),
          );
    }
  }

  private async treeAnswer(query: URLSearchParams): Promise<Http1Answer> {
    const offset = Number(query.get('offset') ?? 0);
    const path = query.get('path') ?? undefined;
    if (!Number.isSafeInteger(offset) || offset < 0)
      return json(400, { error: "'offset' must be a non-negative integer" });
    if (path !== undefined && path.length > 1024) return json(400, { error: "'path' is too long" });
    const body = await this.snapshots.answer(`tree\0${path ?? ''}\0${offset}`, ({ status }) => {
      if (!status) return Buffer.alloc(0);
      const text = treeAnswer(status, {
        path,
        offset,
        pageSize: TREE_PAGE_SIZE,
        maxBytes: MAX_TREE_BYTES,
        exposeErrors: this.options.exposeErrors ?? false,
      });
      return text === undefined ? Buffer.alloc(0) : Buffer.from(`${text}\n`);
    });
    if (body.length > 0) return { status: 200, headers: JSON_HEADERS, body };
    return this.snapshots.snapshot().status
      ? json(404, { error: `no supervisor ${String(path).slice(0, 100)}` })
      : json(503, { error: 'the root supervisor has stopped' });
  }
}

const JSON_HEADERS = { 'Content-Type': 'application/json', 'Cache-Control': 'no-store' };

function probeAnswer(answer: ProbeAnswer): Http1Answer {
  return json(answer.ok ? 200 : 503, answer.body);
}

function json(status: number, body: unknown, headers: Record<string, string> = {}): Http1Answer {
  return { status, headers: { ...JSON_HEADERS, ...headers }, body: Buffer.from(`${JSON.stringify(body)}\n`) };
}
