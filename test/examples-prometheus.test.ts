// examples/prometheus: the alert rules and the Grafana dashboard name only metrics that a real `arbor run --admin`
// exports, and the production guide shows the alert rules exactly as the file holds them.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { arborRunScope, repo, spawnArborRun } from './support/arbor-run.js';
import { blocksOf } from './support/doc-blocks.js';

const scope = arborRunScope('arbor-prometheus-');

interface Rules {
  groups: Array<{ rules: Array<{ alert: string; expr: string }> }>;
}
interface Dashboard {
  panels: Array<{ title: string; targets: Array<{ expr: string }> }>;
}

const rulesText = readFileSync(join(repo, 'examples/prometheus/alerts.yml'), 'utf8');
const rules = parseYaml(rulesText) as Rules;
const dashboard = JSON.parse(
  readFileSync(join(repo, 'examples/prometheus/grafana-dashboard.json'), 'utf8'),
) as Dashboard;

/** The arbor_* names an expression reads, histogram series (_bucket, _sum, _count) by their metric's name. */
const metricsOf = (expr: string): string[] =>
  [...expr.matchAll(/\barbor_[a-z_]+/g)].map(([name]) => name.replace(/_(bucket|sum|count)$/, ''));

it('the production guide shows the alert rules as examples/prometheus/alerts.yml holds them', () => {
  const block = blocksOf('docs/guides/production.md').find(
    (b) => b.lang === 'yaml' && b.code.includes('ArborCrashLoop'),
  );
  expect(block).toBeDefined();
  expect(rulesText.endsWith(block!.code)).toBe(true);
});

it('every alert and every dashboard panel reads metrics that arbor run --admin exports', async () => {
  const arbor = spawnArborRun(
    join(repo, 'examples/http-service/spec.js'),
    scope.tempDir(),
    { PORT: '0', WORKERS: '1' },
    { args: ['--admin', '127.0.0.1:0'] },
  );
  scope.runs.push(arbor);
  const admin = await arbor.line((l) => l.event === 'admin_listening', 'the admin endpoint');
  await arbor.line((l) => l.event === 'supervisor_started' && l.supervisor === 'root', 'the root started');
  const text = await (await fetch(`http://${admin.address as string}/metrics`)).text();
  const exported = new Set([...text.matchAll(/^# TYPE (arbor_[a-z_]+) /gm)].map(([, name]) => name!));
  expect(exported.size).toBeGreaterThanOrEqual(7);

  const expressions = [
    ...rules.groups.flatMap((g) => g.rules.map((r) => ({ where: `alert ${r.alert}`, expr: r.expr }))),
    ...dashboard.panels.flatMap((p) => p.targets.map((t) => ({ where: `panel ${p.title}`, expr: t.expr }))),
  ];
  expect(expressions.length).toBeGreaterThanOrEqual(10);
  const unknown = expressions.flatMap(({ where, expr }) =>
    metricsOf(expr)
      .filter((m) => !exported.has(m))
      .map((m) => `${where}: ${m}`),
  );
  expect(unknown).toEqual([]);
  // Every metric arbor exports is on the dashboard.
  const drawn = new Set(dashboard.panels.flatMap((p) => p.targets.flatMap((t) => metricsOf(t.expr))));
  expect([...exported].filter((m) => !drawn.has(m))).toEqual([]);
});
