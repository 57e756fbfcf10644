// `npm run bench:chaos`: one seeded chaos plan (SIGKILL and uncaught exceptions only, the faults every system has),
// played by runChaos() against arbor (shared listener), node cluster with a re-fork harness, and PM2 cluster mode,
// for each pool size, under the same HTTP load (a new connection per request). Prints a markdown table on stdout
// (progress on stderr), writes the figures to bench/chaos/results.json and every run's timeline, side by side on
// the same axes, to bench/chaos/report.html.
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { freePort } from '../lib/ports.js';
import { availableParallelism, cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runChaos, writeHtmlReport } from 'arbor-otp/chaos';
import { killMarked, killMarkedOnSignals } from '../lib/marked.js';
import { startArbor, startArborCeiling, startArborHot, startArborStandby, startCluster, startPm2 } from './targets.js';

const env = process.env;
const settings = {
  durationMs: Number(env.BENCH_CHAOS_DURATION ?? 20) * 1000,
  rate: Number(env.BENCH_CHAOS_RATE ?? 1),
  seed: Number(env.BENCH_CHAOS_SEED ?? 20261127),
  concurrency: Number(env.BENCH_CHAOS_CONCURRENCY ?? 16),
  poolSizes: (env.BENCH_CHAOS_WORKERS ?? '1,2').split(',').map(Number),
  systems: (env.BENCH_CHAOS_ONLY ?? 'arbor,arbor-standby,arbor-ceiling,cluster,pm2').split(','),
  mix: env.BENCH_CHAOS_MIX ?? 'sigkill,throw',
  // Short enough that a request stuck on a dead worker shows as a failure, long enough for any restart.
  timeoutMs: 5000,
  // Rounds: every system once per round and pool size, in a shuffled order; ratios are taken within a round.
  rounds: Number(env.BENCH_CHAOS_ROUNDS ?? 1),
};
const STARTERS = {
  arbor: startArbor,
  'arbor-standby': startArborStandby,
  'arbor-hot': startArborHot,
  'arbor-ceiling': startArborCeiling,
  cluster: startCluster,
  pm2: startPm2,
};
// Every process the bench starts inherits this: at the end, none may be alive.
const marker = `BENCH_CHAOS_RUN=${randomUUID()}`;
const [markerKey, markerValue] = marker.split('=');
const dir = mkdtempSync(join(tmpdir(), 'arbor-bench-chaos-'));
killMarkedOnSignals(marker, () => rmSync(dir, { recursive: true, force: true }));

const log = (line) => process.stderr.write(`${line}\n`);

async function measure(system, workers) {
  const port = await freePort();
  log(`\n${system}, ${workers} worker(s), port ${port}`);
  const started = await STARTERS[system]({ port, workers, env: { [markerKey]: markerValue }, dir });
  try {
    const report = await runChaos({
      url: `http://127.0.0.1:${port}/`,
      target: started.target,
      durationMs: settings.durationMs,
      // The ceiling runs the same load with no fault: evenly spaced faults at this rate fall after its end.
      rate: system === 'arbor-ceiling' ? 1000 / (settings.durationMs * 2) : settings.rate,
      mix: settings.mix,
      seed: settings.seed,
      concurrency: settings.concurrency,
      timeoutMs: settings.timeoutMs,
      orphanMarkers: [marker],
      onProgress: (line) => log(`  ${line}`),
      progressIntervalMs: 5000,
    });
    if (system === 'arbor-ceiling' && report.faults.injected !== 0) throw new Error('the ceiling run had a fault');
    return { system: started.name, workers, report, loadavg1: loadavg()[0] };
  } finally {
    await started.stop();
  }
}

/** 2xx answers per second of load: what the clients got done. */
const goodput = (r) => r.requests.answered / (settings.durationMs / 1000);

function table(results) {
  const rows = results.map(({ system, workers, round, report: r, loadavg1 }) => {
    const e = r.requests.errors;
    const cluster = results.find((x) => x.workers === workers && x.round === round && x.system.startsWith('node cluster'));
    return [
      system,
      workers,
      round,
      r.requests.sent,
      r.requests.answered,
      Math.round(goodput(r)),
      cluster ? `${(goodput(r) / goodput(cluster.report)).toFixed(2)}×` : '-',
      e.refused,
      r.requests.failed - e.refused,
      `${e.reset} / ${e.timeout} / ${e.non2xx + e.other}`,
      r.recovery.medianMs ?? '-',
      r.recovery.p95Ms ?? '-',
      `${r.faults.injected} (${Object.entries(r.faults.byKind).map(([k, n]) => `${k} ${n}`).join(', ')})`,
      r.workers.restarts ?? r.workers.pidChanges,
      r.orphans.length,
      loadavg1.toFixed(1),
    ];
  });
  const head = ['system', 'workers', 'round', 'requests', '2xx', '2xx/s', '2xx/s × cluster', 'refused', 'failed (not refused)', 'reset / timeout / other',
    'recover median ms', 'recover p95 ms', 'faults', 'restarts', 'orphans', 'load avg'];
  const line = (cells) => `| ${cells.join(' | ')} |`;
  return [line(head), line(head.map((_, i) => (i < 1 ? ':---' : '---:'))), ...rows.map(line)].join('\n');
}

function shuffled(items) {
  const xs = [...items];
  for (let i = xs.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [xs[i], xs[j]] = [xs[j], xs[i]];
  }
  return xs;
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

const orDash = (x) => (Number.isNaN(x) ? '-' : x);

/** Per system and pool size: median 2xx/s, and the median of its per-round ratios to cluster's 2xx/s. */
function summary(results) {
  const keys = [...new Set(results.map((x) => `${x.workers}\u0000${x.system}`))];
  const rows = keys.map((key) => {
    const [workers, system] = key.split('\u0000');
    const runs = results.filter((x) => String(x.workers) === workers && x.system === system);
    const ratios = runs.map((x) => {
      const cluster = results.find((c) => c.workers === x.workers && c.round === x.round && c.system.startsWith('node cluster'));
      return cluster ? goodput(x.report) / goodput(cluster.report) : NaN;
    });
    return [system, workers, runs.length, Math.round(median(runs.map((x) => goodput(x.report)))),
      `${median(ratios).toFixed(2)}×`, ratios.map((r) => r.toFixed(2)).join(' / '),
      orDash(median(runs.map((x) => x.report.recovery.medianMs ?? NaN))), median(runs.map((x) => x.loadavg1)).toFixed(1)];
  });
  const head = ['system', 'workers', 'rounds', '2xx/s (median)', '2xx/s × cluster (median of rounds)', 'per round', 'recover median ms (median)', 'load avg (median)'];
  const line = (cells) => `| ${cells.join(' | ')} |`;
  return [line(head), line(head.map((_, i) => (i < 1 ? ':---' : '---:'))), ...rows.map(line)].join('\n');
}

const results = [];
let leftBehind = [];
try {
  log(`chaos bench: ${settings.durationMs / 1000} s per run, ${settings.rate} fault/s (${settings.mix}), seed ${settings.seed}, ` +
    `concurrency ${settings.concurrency}, pools ${settings.poolSizes.join(' and ')}`);
  for (let round = 1; round <= settings.rounds; round++) {
    for (const workers of settings.poolSizes) {
      for (const system of shuffled(settings.systems)) results.push({ ...(await measure(system, workers)), round });
    }
  }
} finally {
  // Whatever happened above, nothing this bench started may outlive it.
  leftBehind = await killMarked(marker);
  rmSync(dir, { recursive: true, force: true });
}

/** The issue's target, per pool size: every arbor configuration's median ratio to cluster, beside the ceiling's. */
const GOODPUT_TARGET = 3;
function targets(results) {
  const ratioOf = (system, workers) => {
    const ratios = results
      .filter((x) => x.system === system && x.workers === workers)
      .map((x) => {
        const cluster = results.find((c) => c.workers === workers && c.round === x.round && c.system.startsWith('node cluster'));
        return cluster ? goodput(x.report) / goodput(cluster.report) : NaN;
      });
    return median(ratios);
  };
  const rows = [];
  for (const workers of settings.poolSizes) {
    const systems = [...new Set(results.filter((x) => x.workers === workers).map((x) => x.system))];
    const ceiling = systems.find((name) => name.startsWith('arbor, no faults'));
    for (const system of systems.filter((name) => name.startsWith('arbor ('))) {
      const ratio = ratioOf(system, workers);
      const bound = ceiling === undefined ? '' : ` (ceiling ${ratioOf(ceiling, workers).toFixed(2)}×)`;
      rows.push(`| goodput ${system}, ${workers} worker${workers === 1 ? '' : 's'} | ${ratio.toFixed(2)}× cluster${bound} | ≥ ${GOODPUT_TARGET.toFixed(2)}× | ${ratio >= GOODPUT_TARGET ? 'yes' : '**NO**'} |`);
    }
  }
  return rows.length === 0 ? '' : `## Targets\n\n| check | measured | target | met |\n| :--- | ---: | ---: | ---: |\n${rows.join('\n')}`;
}

const markdown = `${table(results)}\n\n${summary(results)}\n\n${targets(results)}`;
process.stdout.write(
  `\n## Chaos: ${settings.durationMs / 1000} s, ${settings.rate} fault/s (${settings.mix}), seed ${settings.seed}, ` +
    `${settings.concurrency} clients, a new connection per request\n\n${markdown}\n\n` +
    `failed (not refused): reset, timed out (${settings.timeoutMs} ms) or other; recover: fault → end of the first 2xx ` +
    `answer to a request sent after it. Processes left behind at the end: ${leftBehind.length}.\n`,
);
const reportFile = fileURLToPath(new URL('./report.html', import.meta.url));
writeHtmlReport(
  reportFile,
  results.map(({ system, workers, report }) => ({ title: `${system}, ${workers} worker${workers === 1 ? '' : 's'}`, report })),
  `arbor chaos bench: ${settings.durationMs / 1000} s, ${settings.rate} fault/s (${settings.mix}), seed ${settings.seed}, ${settings.concurrency} clients`,
);
log(`\nHTML report (every run on the same axes): ${reportFile}`);
writeFileSync(
  fileURLToPath(new URL('./results.json', import.meta.url)),
  `${JSON.stringify({
    date: new Date().toISOString(),
    machine: { node: process.version, cpus: availableParallelism(), cpu: cpus()[0]?.model, memory: totalmem() },
    settings,
    leftBehind,
    // The per-100 ms timelines are in report.html; the figures stay here.
    results: results.map(({ report: { timeline: _timeline, ...figures }, ...run }) => ({ ...run, report: figures })),
    markdown,
  }, null, 2)}\n`,
);
// Explicitly: PM2's client can keep a socket open after disconnect(), which would hold the bench forever.
process.exit(leftBehind.length > 0 ? 1 : 0);
