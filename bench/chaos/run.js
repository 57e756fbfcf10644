// `npm run bench:chaos`: one seeded chaos plan (SIGKILL and uncaught exceptions only, the faults every system has),
// played by runChaos() against arbor (shared listener), node cluster with a re-fork harness, and PM2 cluster mode,
// for each pool size, under the same HTTP load (a new connection per request). Prints a markdown table on stdout
// (progress on stderr), writes the figures to bench/chaos/results.json and every run's timeline, side by side on
// the same axes, to bench/chaos/report.html.
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { freePort } from '../lib/ports.js';
import { availableParallelism, cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runChaos, writeHtmlReport } from 'arbor-otp/chaos';
import { killMarked, killMarkedOnSignals } from '../lib/marked.js';
import { startArbor, startArborStandby, startCluster, startPm2 } from './targets.js';

const env = process.env;
const settings = {
  durationMs: Number(env.BENCH_CHAOS_DURATION ?? 20) * 1000,
  rate: Number(env.BENCH_CHAOS_RATE ?? 1),
  seed: Number(env.BENCH_CHAOS_SEED ?? 20261127),
  concurrency: Number(env.BENCH_CHAOS_CONCURRENCY ?? 16),
  poolSizes: (env.BENCH_CHAOS_WORKERS ?? '1,2').split(',').map(Number),
  systems: (env.BENCH_CHAOS_ONLY ?? 'arbor,arbor-standby,cluster,pm2').split(','),
  mix: 'sigkill,throw',
  // Short enough that a request stuck on a dead worker shows as a failure, long enough for any restart.
  timeoutMs: 5000,
};
const STARTERS = { arbor: startArbor, 'arbor-standby': startArborStandby, cluster: startCluster, pm2: startPm2 };
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
      rate: settings.rate,
      mix: settings.mix,
      seed: settings.seed,
      concurrency: settings.concurrency,
      timeoutMs: settings.timeoutMs,
      orphanMarkers: [marker],
      onProgress: (line) => log(`  ${line}`),
      progressIntervalMs: 5000,
    });
    return { system: started.name, workers, report };
  } finally {
    await started.stop();
  }
}

function table(results) {
  const rows = results.map(({ system, workers, report: r }) => {
    const e = r.requests.errors;
    return [
      system,
      workers,
      r.requests.sent,
      r.requests.answered,
      e.refused,
      r.requests.failed - e.refused,
      `${e.reset} / ${e.timeout} / ${e.non2xx + e.other}`,
      r.recovery.medianMs ?? '-',
      r.recovery.p95Ms ?? '-',
      `${r.faults.injected} (${Object.entries(r.faults.byKind).map(([k, n]) => `${k} ${n}`).join(', ')})`,
      r.workers.restarts ?? r.workers.pidChanges,
      r.orphans.length,
    ];
  });
  const head = ['system', 'workers', 'requests', '2xx', 'refused', 'failed (not refused)', 'reset / timeout / other',
    'recover median ms', 'recover p95 ms', 'faults', 'restarts', 'orphans'];
  const line = (cells) => `| ${cells.join(' | ')} |`;
  return [line(head), line(head.map((_, i) => (i < 1 ? ':---' : '---:'))), ...rows.map(line)].join('\n');
}

const results = [];
let leftBehind = [];
try {
  log(`chaos bench: ${settings.durationMs / 1000} s per run, ${settings.rate} fault/s (${settings.mix}), seed ${settings.seed}, ` +
    `concurrency ${settings.concurrency}, pools ${settings.poolSizes.join(' and ')}`);
  for (const workers of settings.poolSizes) {
    for (const system of settings.systems) results.push(await measure(system, workers));
  }
} finally {
  // Whatever happened above, nothing this bench started may outlive it.
  leftBehind = await killMarked(marker);
  rmSync(dir, { recursive: true, force: true });
}

const markdown = table(results);
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
