// The admin HTTP endpoint (off by default): /healthz, /readyz, /metrics, /tree on its own port, served by the
// supervisor's process for Kubernetes probes and Prometheus. It only reads: the tree's events feed it, its status
// is read per request, and nothing here runs in the supervisor's machines. Requests are small and bounded.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { TreeEvent } from '../supervisor/events.js';
import type { SupervisorStatus, Tree } from '../supervisor/tree.js';
import { LagMonitor } from './lag.js';
import { TreeMetrics } from './metrics.js';
import { liveness, readiness, type ProbeAnswer, type TreePhase } from './probes.js';

export interface AdminOptions {
  host?: string;
  /** 0 for a free port (read it back from `address`). */
  port: number;
  /** /healthz fails when the supervisor's event loop lags more than this (ms). Default 2000. */
  maxLag?: number;
}

/** What the admin server reads of a tree. */
export type AdminTree = Pick<Tree, 'on' | 'off' | 'status' | 'done'> & { spec: { id: string } };

export const DEFAULT_MAX_LAG_MS = 2000;
/** Probes and scrapes are tiny; more connections than this at once are refused by the server. */
const MAX_CONNECTIONS = 64;
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
  private readonly metrics = new TreeMetrics();
  private readonly lag = new LagMonitor();
  private readonly onEvent = (event: TreeEvent): void => this.observe(event);

  private constructor(
    private readonly tree: AdminTree,
    private readonly server: http.Server,
    private readonly maxLagMs: number,
  ) {
    tree.on('event', this.onEvent);
    void tree.done.then(() => {
      if (this.phase !== 'gave_up') this.phase = 'stopped';
    });
  }

  /** Listens before the tree starts, so probes answer (503 starting) from the first instant. */
  static async open(tree: AdminTree, options: AdminOptions): Promise<AdminServer> {
    const server = http.createServer();
    server.maxConnections = MAX_CONNECTIONS;
    server.headersTimeout = 5_000;
    server.requestTimeout = 10_000;
    server.keepAliveTimeout = 5_000;
    const admin = new AdminServer(tree, server, options.maxLag ?? DEFAULT_MAX_LAG_MS);
    server.on('request', (req, res) => admin.answer(req, res));
    await new Promise<void>((resolve, reject) => {
      server.once('error', (error: NodeJS.ErrnoException) => {
        admin.close();
        reject(new Error(`admin server: ${error.code ?? error.message} ${options.host ?? '127.0.0.1'}:${options.port}`));
      });
      server.listen(options.port, options.host ?? '127.0.0.1', () => resolve());
    });
    // Never keeps the process alive by itself: the tree decides when the process ends.
    server.unref();
    return admin;
  }

  get address(): { host: string; port: number } {
    const { address, port } = this.server.address() as AddressInfo;
    return { host: address, port };
  }

  /** The tree is running (start() resolved). */
  started(): void {
    if (this.phase === 'starting') this.phase = 'running';
  }

  /** The tree failed to start: probes say so until the server is closed. */
  startFailed(): void {
    this.phase = 'start_failed';
  }

  close(): void {
    this.tree.off('event', this.onEvent as (...args: unknown[]) => void);
    this.lag.close();
    this.server.close();
    this.server.closeAllConnections();
  }

  private observe(event: TreeEvent): void {
    // Readiness turns 503 the moment a stop is asked for, before any drain delay: the load balancer stops
    // sending new connections while the workers still serve.
    if (event.event === 'tree_stopping') this.phase = 'stopping';
    if (event.event === 'max_intensity_reached' && event.supervisor === this.tree.spec.id) this.phase = 'gave_up';
    this.metrics.observe(event);
  }

  private status(): SupervisorStatus | undefined {
    try {
      return this.tree.status();
    } catch {
      return undefined; // the root is gone
    }
  }

  private answer(req: http.IncomingMessage, res: http.ServerResponse): void {
    const path = (req.url ?? '/').split('?')[0]!;
    if (!ROUTES.has(path)) return send(res, 404, { error: `no such path ${path.slice(0, 100)}; try /healthz, /readyz, /metrics, /tree` });
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('Allow', 'GET, HEAD');
      return send(res, 405, { error: `${req.method} is not allowed; use GET` });
    }
    const status = this.status();
    const probe = { phase: this.phase, status, lagMs: this.lag.currentMs, maxLagMs: this.maxLagMs };
    switch (path) {
      case '/healthz':
        return sendProbe(res, liveness(probe));
      case '/readyz':
        return sendProbe(res, readiness(probe));
      case '/tree':
        return status ? send(res, 200, status) : send(res, 503, { error: 'the root supervisor has stopped' });
      default:
        this.metrics.render(status).then(
          (text) => {
            res.statusCode = 200;
            res.setHeader('Content-Type', this.metrics.registry.contentType);
            res.end(text);
          },
          (error: Error) => send(res, 500, { error: error.message }),
        );
    }
  }
}

function sendProbe(res: http.ServerResponse, answer: ProbeAnswer): void {
  send(res, answer.ok ? 200 : 503, answer.body);
}

function send(res: http.ServerResponse, code: number, body: unknown): void {
  res.statusCode = code;
  res.setHeader('Content-Type', 'application/json');
  res.setHeader('Cache-Control', 'no-store');
  res.end(`${JSON.stringify(body)}\n`);
}
