// `npm run bench:admin`: does scraping the admin endpoint delay supervision? The same seeded chaos run (SIGKILL
// and uncaught throws, 1 worker, a new connection per request) against arbor without --admin and with --admin
// scraped every 100 ms (/metrics, /healthz and /readyz in turn), interleaved A B B A A B, so the machine's drift
// falls on both. Prints a markdown table: goodput and recovery per run, medians per configuration, their ratio.
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import { freePort } from '../lib/ports.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runChaos } from 'arbor-otp/chaos';
import { killMarked, killMarkedOnSignals } from '../lib/marked.js';
import { startArbor } from './targets.js';

const env = process.env;
const settings = {
  durationMs: Number(env.BENCH_ADMIN_DURATION ?? 15) * 1000,
  rounds: Number(env.BENCH_ADMIN_ROUNDS ?? 3),
  seed: Number(env.BENCH_ADMIN_SEED ?? 20261130),
  scrapeEveryMs: 100,
  workers: 1,
};
const marker = `BENCH_ADMIN_RUN=${randomUUID()}`;
const [markerKey, markerValue] = marker.split('=');
const dir = mkdtempSync(join(tmpdir(), 'arbor-bench-admin-'));
killMarkedOnSignals(marker, () => rmSync(dir, { recursive: true, force: true }));
const log = (line) => process.stderr.write(`${line}\n`);

function get(port, path) {
  return new Promise((resolve) => {
    const started = performance.now();
    http.get({ host: '127.0.0.1', port, path, agent: false, timeout: 5000 }, (res) => {
      res.resume();
      res.on('end', () => resolve({ ok: res.statusCode === 200 || res.statusCode === 503, ms: performance.now() - started }));
    }).on('error', () => resolve({ ok: false, ms: performance.now() - started }));
  });
}

/** Scrapes every `everyMs` until stopped; resolves with the count and the latencies. */
function scraper(port, everyMs) {
  const paths = ['/metrics', '/healthz', '/readyz'];
  const latencies = [];
  let failed = 0;
  let n = 0;
  let running = true;
  const done = (async () => {
    while (running) {
      const next = performance.now() + everyMs;
      const answer = await get(port, paths[n % paths.length]);
      n += 1;
      if (answer.ok) latencies.push(answer.ms);
      else failed += 1;
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, next - performance.now())));
    }
  })();
  return { stop: async () => ((running = false), await done, { scrapes: n, failed, latencies }) };
}

const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
const p99 = (values) => [...values].sort((a, b) => a - b)[Math.min(values.length - 1, Math.floor(values.length * 0.99))];

async function measure(scraped) {
  const port = await freePort();
  const adminPort = scraped ? await freePort() : undefined;
  log(`${scraped ? 'with --admin, scraped every 100 ms' : 'without --admin'}, port ${port}`);
  const started = await startArbor({
    port, workers: settings.workers, env: { [markerKey]: markerValue }, dir,
    args: scraped ? ['--admin', `127.0.0.1:${adminPort}`] : [],
  });
  const scrape = scraped ? scraper(adminPort, settings.scrapeEveryMs) : undefined;
  try {
    const report = await runChaos({
      url: `http://127.0.0.1:${port}/`, target: started.target, durationMs: settings.durationMs, rate: 1,
      mix: 'sigkill,throw', seed: settings.seed, concurrency: 16, timeoutMs: 5000, orphanMarkers: [marker],
    });
    const scrapes = scrape ? await scrape.stop() : undefined;
    return { scraped, report, scrapes };
  } finally {
    await scrape?.stop();
    await started.stop();
  }
}

const runs = [];
try {
  const order = [];
  for (let round = 0; round < settings.rounds; round += 1) order.push(...(round % 2 === 0 ? [false, true] : [true, false]));
  for (const scraped of order) runs.push(await measure(scraped));
} finally {
  await killMarked(marker);
  rmSync(dir, { recursive: true, force: true });
}

const goodput = (r) => r.requests.answered / (settings.durationMs / 1000);
const rows = runs.map(({ scraped, report: r, scrapes }) => [
  scraped ? 'with --admin, scraped' : 'without --admin',
  Math.round(goodput(r)), r.requests.failed, r.requests.errors.refused, r.recovery.medianMs ?? '-', r.recovery.p95Ms ?? '-',
  r.workers.restarts ?? r.workers.pidChanges,
  scrapes ? `${scrapes.scrapes} (${scrapes.failed} failed), p99 ${p99(scrapes.latencies).toFixed(1)} ms` : '-',
]);
const line = (cells) => `| ${cells.join(' | ')} |`;
const head = ['configuration', '2xx/s', 'failed', 'refused', 'recover median ms', 'recover p95 ms', 'restarts', 'scrapes'];
const of = (scraped) => runs.filter((r) => r.scraped === scraped);
const summary = (scraped) => ({
  goodput: median(of(scraped).map((r) => goodput(r.report))),
  recovery: median(of(scraped).map((r) => r.report.recovery.medianMs ?? NaN)),
});
const a = summary(false);
const b = summary(true);
process.stdout.write(
  `\n## Admin scraping under chaos: ${settings.durationMs / 1000} s per run, 1 fault/s (sigkill, throw), seed ${settings.seed}, ` +
    `${settings.workers} worker, 16 clients, interleaved\n\n` +
    `${[line(head), line(head.map((_, i) => (i === 0 ? ':---' : '---:'))), ...rows.map(line)].join('\n')}\n\n` +
    `Medians: 2xx/s ${Math.round(a.goodput)} without vs ${Math.round(b.goodput)} scraped (${(b.goodput / a.goodput).toFixed(2)}×); ` +
    `recovery median ${a.recovery} ms vs ${b.recovery} ms.\n`,
);
