// `npm run bench:reload`: zero-downtime deploys side by side. Each configuration serves the same app (2 workers,
// handlers of 40–120 ms answering with `res.end(string)`) under load from 8 keep-alive and 8 new-connection client
// loops at once, in each client shape of load.js, and is reloaded 5 times back to back with new code on disk; then
// once with code that throws at import (a bad deploy), in each client shape too. arbor (shared and
// round_robin listener, `arbor reload`), PM2 cluster mode (`pm2 reload`) and node cluster (hand-written rolling
// restart), interleaved over rounds. Prints a markdown table with a Targets section on stdout (progress on stderr)
// and writes bench/reload/results.json.
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { killMarked, killMarkedOnSignals } from '../lib/marked.js';
import { freePort } from '../lib/ports.js';
import { availableParallelism, cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { median, percentile, shuffle } from '../lib/stats.js';
import { DRAIN_BUDGET_MS, arbor, cluster, pm2 } from './systems.js';
import { CLIENT_SHAPES, startLoad, versionServed } from './load.js';

const env = process.env;
const settings = {
  rounds: Number(env.BENCH_RELOAD_ROUNDS ?? 2),
  reloads: Number(env.BENCH_RELOAD_COUNT ?? 5),
  shapes: (env.BENCH_RELOAD_SHAPES ?? CLIENT_SHAPES.join(',')).split(',').filter((shape) => CLIENT_SHAPES.includes(shape)),
  workers: 2,
  settleMs: 1000,
  only: (env.BENCH_RELOAD_ONLY ?? 'arbor-shared,arbor-rr,pm2,cluster').split(','),
};
const SYSTEMS = {
  'arbor-shared': { name: 'arbor shared (`arbor reload`)', start: arbor('shared') },
  'arbor-rr': { name: 'arbor round_robin (`arbor reload`)', start: arbor('round_robin') },
  pm2: { name: 'PM2 cluster mode (`pm2 reload`, wait_ready)', start: pm2 },
  cluster: { name: 'node cluster (hand-written rolling restart)', start: cluster },
};
const systems = settings.only.filter((key) => SYSTEMS[key]);

const marker = `BENCH_RELOAD_RUN=${randomUUID()}`;
const [markerKey, markerValue] = marker.split('=');
const dir = mkdtempSync(join(tmpdir(), 'arbor-bench-reload-'));
killMarkedOnSignals(marker, () => rmSync(dir, { recursive: true, force: true }));
const log = (line) => process.stderr.write(`${line}\n`);

const APP_TEMPLATE = readFileSync(fileURLToPath(new URL('./app.js', import.meta.url)), 'utf8');
const ARBOR_WORKER = pathToFileURL(fileURLToPath(new URL('../../dist/runtime/runtime.js', import.meta.url))).href;

/** Writes the app "on disk" for one configuration: version `v<n>`, or code that throws at import. */
function deploy(appDir, version) {
  const code = APP_TEMPLATE.replace('__ARBOR_WORKER__', ARBOR_WORKER).replace('__VERSION__', version === 'bad' ? 'bad' : version);
  const bad = "throw new Error('bad deploy: this release throws at import');\n";
  writeFileSync(join(appDir, 'app.js'), version === 'bad' ? bad + code : code);
}

/** One configuration: start, load, `reloads` reloads back to back (or one bad deploy), load a little more, stop. */
async function measure(key, badDeploy, shape) {
  const appDir = join(dir, `${key}-${randomUUID().slice(0, 8)}`);
  mkdirSync(appDir);
  deploy(appDir, 'v1');
  const port = await freePort();
  log(`${SYSTEMS[key].name}, ${shape} clients${badDeploy ? ', bad deploy' : ''}: port ${port}`);
  const system = await SYSTEMS[key].start({ port, app: join(appDir, 'app.js'), env: { [markerKey]: markerValue }, dir, workers: settings.workers });
  const windows = [];
  let requests;
  let loadSeconds;
  let finalVersion;
  const reloadResults = [];
  try {
    const load = startLoad(port, shape);
    const loadStart = performance.now();
    await sleep(settings.settleMs);
    const versions = badDeploy ? ['bad'] : Array.from({ length: settings.reloads }, (_, i) => `v${i + 2}`);
    for (const version of versions) {
      deploy(appDir, version);
      const start = performance.now();
      const result = await system.reload();
      windows.push({ start, end: performance.now() });
      reloadResults.push(result);
      log(`  reload to ${version}: ${result.ok ? 'ok' : `FAILED (${result.error.split('\n')[0].slice(0, 160)})`} in ${(performance.now() - start).toFixed(0)} ms`);
    }
    await sleep(settings.settleMs);
    requests = await load.stop();
    loadSeconds = (performance.now() - loadStart) / 1000;
    finalVersion = await versionServed(port);
  } finally {
    await system.stop();
  }
  const during = (r) => windows.some((w) => r.start < w.end && r.end > w.start);
  const failed = requests.filter((r) => r.outcome !== 'ok');
  const count = (outcome) => failed.filter((r) => r.outcome === outcome).length;
  const latency = (rs) => percentile(rs.filter((r) => r.outcome === 'ok').map((r) => r.end - r.start), 99);
  return {
    key, name: SYSTEMS[key].name, badDeploy, shape,
    requests: requests.length,
    loadSeconds,
    failed: failed.length,
    failedKeepAlive: failed.filter((r) => r.keepAlive).length,
    byKind: { refused: count('refused'), reset: count('reset'), timeout: count('timeout'), '5xx': count('5xx'), other: count('other') },
    p99During: latency(requests.filter(during)),
    p99Outside: latency(requests.filter((r) => !during(r))),
    reloadMs: windows.map((w) => w.end - w.start),
    reloadsOk: reloadResults.filter((r) => r.ok).length,
    reloadErrors: reloadResults.filter((r) => !r.ok).map((r) => r.error.split('\n')[0].slice(0, 200)),
    finalVersion,
    expectedVersion: badDeploy ? 'v1' : `v${settings.reloads + 1}`,
    loadavg1: loadavg()[0],
  };
}

const fmt = (x, digits = 0) => (Number.isFinite(x) ? x.toFixed(digits) : '–');
const line = (cells) => `| ${cells.join(' | ')} |`;
const head = (cells) => [line(cells), line(cells.map((_, i) => (i === 0 ? ':---' : '---:')))];

function summary(runs) {
  return settings.shapes.flatMap((shape) => systems.map((key) => {
    const mine = runs.filter((r) => r.key === key && r.shape === shape);
    return {
      key, name: SYSTEMS[key].name, shape,
      requests: mine.reduce((n, r) => n + r.requests, 0),
      rps: mine.reduce((n, r) => n + r.requests, 0) / mine.reduce((n, r) => n + r.loadSeconds, 0),
      failed: mine.reduce((n, r) => n + r.failed, 0),
      failedPerRound: mine.map((r) => r.failed),
      failedKeepAlive: mine.reduce((n, r) => n + r.failedKeepAlive, 0),
      byKind: Object.fromEntries(['refused', 'reset', 'timeout', '5xx', 'other'].map((k) => [k, mine.reduce((n, r) => n + r.byKind[k], 0)])),
      p99During: median(mine.map((r) => r.p99During)),
      p99Outside: median(mine.map((r) => r.p99Outside)),
      reloadMs: median(mine.flatMap((r) => r.reloadMs)),
      reloads: mine.reduce((n, r) => n + r.reloadMs.length, 0),
      reloadsOk: mine.reduce((n, r) => n + r.reloadsOk, 0),
      versionsOk: mine.filter((r) => r.finalVersion === r.expectedVersion).length,
      rounds: mine.length,
      finalVersions: mine.map((r) => r.finalVersion),
    };
  }));
}

function render(rolling, bad, leftBehind) {
  const kinds = (k) => `${k.refused} / ${k.reset} / ${k.timeout} / ${k['5xx']} / ${k.other}`;
  const out = [
    `## Rolling reload: ${settings.workers} workers, 8 keep-alive + 8 new-connection client loops, ` +
      `handlers 40–120 ms, ${settings.reloads} reloads back to back, ${settings.rounds} rounds interleaved`,
    '',
    ...head(['configuration', 'clients', 'requests', 'req/s', 'failed (per round)', 'refused / reset / timeout / 5xx / other', 'of them on keep-alive',
      'p99 ms outside reloads', 'p99 ms during reloads', 'time per reload ms (median)', 'reloads ok', 'new code served at the end']),
    ...rolling.map((s) => line([
      s.name, s.shape, s.requests, fmt(s.rps), `${s.failed} (${s.failedPerRound.join(' / ')})`, kinds(s.byKind), s.failedKeepAlive,
      fmt(s.p99Outside), fmt(s.p99During), fmt(s.reloadMs), `${s.reloadsOk} of ${s.reloads}`, `${s.versionsOk} of ${s.rounds} rounds`,
    ])),
    '',
    `**Bad deploy** (the new code throws at import; one reload; the old code must keep serving):`,
    '',
    ...head(['configuration', 'clients', 'requests', 'failed', 'refused / reset / timeout / 5xx / other', 'p99 ms during the reload', 'reload reported', 'served after the reload']),
    ...bad.map((r) => line([
      r.name, r.shape, r.requests, r.failed, kinds(r.byKind), fmt(r.p99During), r.reloadsOk ? 'success' : `failure: ${r.reloadErrors[0]?.replace(/\|/g, '/').slice(0, 90) ?? ''}`,
      r.finalVersion === 'v1' ? 'v1 (the old code)' : r.finalVersion,
    ])),
    '',
    '### Targets',
    '',
  ];
  for (const s of rolling.filter((x) => x.key.startsWith('arbor'))) {
    const met = s.failed === 0 && s.reloadsOk === s.reloads && s.versionsOk === s.rounds;
    out.push(`- ${s.name}, ${s.shape} clients: 0 failed requests over ${settings.reloads} reloads, every round, new code served: ` +
      `**${met ? 'met' : 'NOT met'}** (${s.failed} failed, ${s.reloadsOk} of ${s.reloads} reloads ok).`);
  }
  for (const r of bad.filter((x) => x.key.startsWith('arbor'))) {
    const met = r.failed === 0 && r.finalVersion === 'v1' && r.reloadsOk === 0;
    out.push(`- ${r.name}, ${r.shape} clients, bad deploy: 0 failed, the reload reported as failed, the old code still serving: ` +
      `**${met ? 'met' : 'NOT met'}** (${r.failed} failed, served ${r.finalVersion}).`);
  }
  out.push(
    '',
    `Every system gets the same drain budget: ${DRAIN_BUDGET_MS} ms (arbor's worker \`shutdown\`, PM2's \`kill_timeout\`, ` +
      'the cluster script\'s kill timer) before an old worker is killed. "failed": no 2xx answer (refused, reset, timed out ' +
      'after 5 s, 5xx). "during reloads": requests that overlap a reload, from the command until it reported done. ' +
      `Processes left behind at the end: ${leftBehind}.`,
  );
  return out.join('\n');
}

const runs = [];
let leftBehind = [];
try {
  log(`reload bench: ${settings.rounds} rounds of ${systems.join(', ')} × ${settings.shapes.join(', ')} clients; ` +
    `${settings.reloads} reloads each; then a bad deploy each`);
  const pairs = settings.shapes.flatMap((shape) => systems.map((key) => ({ key, shape })));
  for (let round = 1; round <= settings.rounds; round++) {
    const order = shuffle(pairs);
    log(`\nround ${round}: ${order.map((p) => `${p.key}/${p.shape}`).join(' → ')}`);
    for (const { key, shape } of order) runs.push(await measure(key, false, shape));
  }
  log('\nbad deploy');
  for (const { key, shape } of shuffle(pairs)) runs.push(await measure(key, true, shape));
} finally {
  leftBehind = await killMarked(marker);
  rmSync(dir, { recursive: true, force: true });
}

const rolling = summary(runs.filter((r) => !r.badDeploy));
const bad = runs.filter((r) => r.badDeploy);
process.stdout.write(`\n${render(rolling, bad, leftBehind.length)}\n`);
writeFileSync(
  env.BENCH_RELOAD_RESULTS ?? fileURLToPath(new URL('./results.json', import.meta.url)),
  `${JSON.stringify({
    date: new Date().toISOString(),
    machine: { node: process.version, cpus: availableParallelism(), cpu: cpus()[0]?.model, memory: totalmem() },
    settings: { ...settings, drainBudgetMs: DRAIN_BUDGET_MS },
    summary: rolling,
    runs,
    leftBehind: leftBehind.length,
  }, null, 2)}\n`,
);
