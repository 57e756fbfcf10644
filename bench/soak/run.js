// `npm run bench:soak [-- --duration 10m] [--interval 60s]`: the example HTTP service (2 workers, ARBOR_CHAOS=1)
// under chaos for the whole duration — every fault kind at 1/s, HTTP load from 16 clients — one runChaos() per
// interval, back to back. After each interval it prints the supervisor's RSS and descriptor count, and at the end a
// Targets section: both must be flat after the warm-up (the first two intervals), or something leaks per restart.
// Progress goes to stderr, the table to stdout.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { ArborTarget, parseDuration, runChaos } from 'arbor-otp/chaos';

const repo = fileURLToPath(new URL('../..', import.meta.url));
const { values } = parseArgs({ options: { duration: { type: 'string' }, interval: { type: 'string' }, seed: { type: 'string' } } });
const durationMs = parseDuration(values.duration ?? process.env.BENCH_SOAK_DURATION ?? '10m');
const intervalMs = parseDuration(values.interval ?? process.env.BENCH_SOAK_INTERVAL ?? '60s');
const seed = Number(values.seed ?? 20261130);
const intervals = Math.max(1, Math.round(durationMs / intervalMs));
const WARM_UP = Math.min(2, intervals - 1);
/** Flat: after the warm-up, RSS stays within this band and the descriptor count within ±FD_BAND. */
const RSS_BAND_MIB = 16;
const FD_BAND = 2;

const log = (line) => process.stderr.write(`${line}\n`);
const MiB = 1024 * 1024;

const dir = mkdtempSync(join(tmpdir(), 'arbor-soak-'));
const control = join(dir, 'ctl.sock');
const arbor = spawn(process.execPath, [join(repo, 'dist/cli/main.js'), 'run', join(repo, 'examples/http-service/spec.js'), '--control', control], {
  env: { ...process.env, PORT: '0', WORKERS: '2', ARBOR_CHAOS: '1', TMPDIR: dir },
  stdio: ['ignore', 'pipe', 'ignore'], // workers' stderr (injected crashes) would drown the progress
});
const lines = createInterface({ input: arbor.stdout });
const url = await new Promise((resolve, reject) => {
  lines.on('line', (text) => {
    const line = JSON.parse(text);
    if (line.event === 'listener_bound') resolve(`http://${line.address}/`);
  });
  arbor.once('exit', (code) => reject(new Error(`arbor run exited (${code}) before its listener bound`)));
});
await new Promise((resolve) => setTimeout(resolve, 1000)); // the pool is up a moment after the listener

const probe = new ArborTarget(control);
const rows = [];
try {
  const start = await probe.supervisorProc();
  log(`soak: ${intervals} × ${intervalMs / 1000} s of chaos against ${url} (supervisor pid ${start.pid})`);
  rows.push({ at: 0, rss: start.rss, fds: start.fds, sent: 0, failed: 0, refused: 0, injected: 0, restarts: 0, settled: true });
  for (let i = 1; i <= intervals; i++) {
    const report = await runChaos({ url, control, durationMs: intervalMs, rate: 1, mix: 'all', seed: seed + i, concurrency: 16 });
    const proc = await probe.supervisorProc();
    rows.push({
      at: i,
      rss: proc.rss,
      fds: proc.fds,
      sent: report.requests.sent,
      failed: report.requests.failed,
      refused: report.requests.errors.refused,
      injected: report.faults.injected,
      restarts: report.workers.restarts ?? report.workers.pidChanges,
      settled: report.workers.settled,
      orphans: report.orphans.length,
    });
    log(`  ${i}/${intervals}: rss ${(proc.rss / MiB).toFixed(1)} MiB, fds ${proc.fds}, faults ${report.faults.injected}, failed ${report.requests.failed}`);
  }
} finally {
  probe.close();
  arbor.kill('SIGTERM');
  await new Promise((resolve) => arbor.once('exit', resolve));
  rmSync(dir, { recursive: true, force: true });
}

const unit = intervalMs % 60_000 === 0 ? `${intervalMs / 60_000} min` : `${intervalMs / 1000} s`;
const out = [
  `## Soak: ${intervals} × ${unit} of chaos (every fault kind at 1/s, 16 clients) against the example (2 workers)`,
  '',
  '| after | supervisor RSS | fds | requests | failed | refused | faults | restarts | settled |',
  '|---|---|---|---|---|---|---|---|---|',
  ...rows.map((r) =>
    `| ${r.at === 0 ? 'start' : `${r.at} × ${unit}`} | ${(r.rss / MiB).toFixed(1)} MiB | ${r.fds} | ${r.sent} | ${r.failed} | ${r.refused} | ${r.injected} | ${r.restarts} | ${r.settled ? 'yes' : 'NO'} |`),
];
const steady = rows.slice(1 + WARM_UP);
const rssValues = steady.map((r) => r.rss / MiB);
const fdValues = steady.map((r) => r.fds);
const rssSpread = Math.max(...rssValues) - Math.min(...rssValues);
const rssDrift = rssValues.at(-1) - rssValues[0];
const fdSpread = Math.max(...fdValues) - Math.min(...fdValues);
const verdict = (ok) => (ok ? 'met' : 'MISSED');
out.push(
  '',
  `### Targets (after a warm-up of ${WARM_UP} interval(s), over ${steady.length})`,
  '',
  `- supervisor RSS flat: spread ${rssSpread.toFixed(1)} MiB (target ≤ ${RSS_BAND_MIB} MiB), drift first→last ${rssDrift >= 0 ? '+' : ''}${rssDrift.toFixed(1)} MiB: ${verdict(rssSpread <= RSS_BAND_MIB)}`,
  `- supervisor fds flat: spread ${fdSpread} (target ≤ ${FD_BAND}): ${verdict(fdSpread <= FD_BAND)}`,
  `- no refused connection: ${rows.reduce((n, r) => n + r.refused, 0)} refused: ${verdict(rows.every((r) => r.refused === 0))}`,
  `- every interval settled (pool whole again), no orphan: ${verdict(rows.every((r) => r.settled && !r.orphans))}`,
);
process.stdout.write(`${out.join('\n')}\n`);
