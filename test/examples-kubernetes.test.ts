// examples/kubernetes: the manifests parse, their probes point at the admin endpoint the image serves, the grace
// period covers the drain, and the image's command answers those probes. Needs the build (runs from dist/).
import { readFileSync } from 'node:fs';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import type { SupervisorSpec, WorkerSpec } from '../src/index.js';
import { repo, spawnArborRun, type ArborRun, killArborRun } from './support/arbor-run.js';

const dir = join(repo, 'examples/kubernetes');
const documents = parseAllDocuments(readFileSync(join(dir, 'deployment.yaml'), 'utf8'));
for (const doc of documents) if (doc.errors.length > 0) throw doc.errors[0];

const manifests = documents.map((doc) => doc.toJS()) as any[];
const deployment = manifests.find((m) => m.kind === 'Deployment');
const service = manifests.find((m) => m.kind === 'Service');
const container = deployment.spec.template.spec.containers[0];
const env: Record<string, string> = Object.fromEntries(
  container.env.map((e: { name: string; value: string }) => [e.name, e.value]),
);
const portNamed = (name: string | number): number =>
  typeof name === 'number' ? name : container.ports.find((p: { name: string }) => p.name === name).containerPort;

const dockerfile = readFileSync(join(dir, 'Dockerfile'), 'utf8');
const entrypoint = JSON.parse(/^ENTRYPOINT (\[.*\])$/m.exec(dockerfile)![1]!) as string[];
const adminArg = entrypoint[entrypoint.indexOf('--admin') + 1]!;

describe('examples/kubernetes', () => {
  it('the Dockerfile: node:20-slim, runtime dependencies only, a non-root user, tini as PID 1 running arbor run', () => {
    expect(dockerfile).toMatch(/^FROM node:20-slim$/m);
    expect(dockerfile).toMatch(/npm ci --omit=dev/);
    expect(dockerfile).toMatch(/^USER node$/m);
    expect(entrypoint.slice(0, 6)).toEqual([
      '/usr/bin/tini',
      '--',
      'node',
      'dist/cli/main.js',
      'run',
      'examples/http-service/spec.js',
    ]);
  });

  it('probes hit /healthz and /readyz on the port the image serves the admin endpoint on, reachable from the kubelet', () => {
    expect(container.livenessProbe.httpGet.path).toBe('/healthz');
    expect(container.readinessProbe.httpGet.path).toBe('/readyz');
    const [host, port] = adminArg.split(':');
    expect(host).toBe('0.0.0.0');
    for (const probe of [container.livenessProbe, container.readinessProbe, container.startupProbe]) {
      expect(portNamed(probe.httpGet.port)).toBe(Number(port));
    }
    expect(deployment.spec.template.metadata.annotations['prometheus.io/port']).toBe(port);
    // The Service sends traffic to the service's port, never the admin one.
    expect(portNamed(service.spec.ports[0].targetPort)).toBe(Number(env.PORT));
    expect(service.spec.selector).toEqual(deployment.spec.template.metadata.labels);
    expect(deployment.spec.template.spec.securityContext.runAsNonRoot).toBe(true);
  });

  it('the grace period covers the drain delay and every worker draining one after another', async () => {
    Object.assign(process.env, env);
    const spec = (await import(pathToFileURL(join(repo, 'examples/http-service/spec.js')).href))
      .default as SupervisorSpec;
    const workers = (spec.children.find((c) => c.id === 'pool') as SupervisorSpec).children as WorkerSpec[];
    expect(workers).toHaveLength(Number(env.WORKERS));
    const drain = (spec.drainDelay ?? 0) + workers.reduce((sum, w) => sum + (w.shutdown as number), 0);
    expect(spec.drainDelay).toBe(Number(env.DRAIN_DELAY));
    expect(deployment.spec.template.spec.terminationGracePeriodSeconds * 1000).toBeGreaterThanOrEqual(drain + 5000);
  });

  describe("the image's command answers the manifest's probes", () => {
    let arbor: ArborRun | undefined;
    const tmp = mkdtempSync(join(tmpdir(), 'arbor-k8s-'));
    afterAll(async () => {
      if (arbor) await killArborRun(arbor);
      rmSync(tmp, { recursive: true, force: true });
    });

    it('liveness and readiness answer 200 once the tree runs', async () => {
      // As in the pod, but on loopback and free ports: this machine is shared.
      arbor = spawnArborRun(
        join(repo, entrypoint[5]!),
        tmp,
        { ...env, HOST: '127.0.0.1', PORT: '0' },
        { args: ['--admin', '127.0.0.1:0'] },
      );
      const address = (await arbor.line((l) => l.event === 'admin_listening', 'admin_listening')).address as string;
      await arbor.line((l) => l.event === 'supervisor_started' && l.supervisor === 'root', 'root started');
      for (const probe of [container.livenessProbe, container.readinessProbe]) {
        const status = await new Promise<number>((resolve, reject) =>
          http
            .get(
              `http://${address}${probe.httpGet.path}`,
              { agent: false },
              (res) => (res.resume(), resolve(res.statusCode!)),
            )
            .on('error', reject),
        );
        expect(status).toBe(200);
      }
    });
  });
});
