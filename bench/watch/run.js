// `npm run bench:watch`: what clients see while a developer edits a running HTTP app 5 times. `arbor run --watch`
// (a rolling reload on each save) against nodemon (a restart of the process on each save), the same app (one
// process serving it), the same load (keep-alive and new-connection clients at once), interleaved over rounds
// (A B B A …). After each edit the bench waits until the new version answers, then a little more, before the next.
// Prints a markdown table on stdout (progress on stderr) and writes bench/watch/results.json.
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { killMarked, killMarkedOnSignals } from '../lib/marked.js';
import { freePort } from '../lib/ports.js';
import { median } from '../lib/stats.js';
import { startLoad, versionServed } from '../reload/load.js';

const env = process.env;
const settings = {
  rounds: Number(env.BENCH_WATCH_ROUNDS ?? 2),
  edits: Number(env.BENCH_WATCH_EDITS ?? 5),
  /** After the new version answers, the load runs this long before the next edit. */
  settleMs: 1000,
  /** An edit whose version is not served within this is counted as not served. */
  serveTimeoutMs: 15_000,
};
const here = (file) => fileURLToPath(new URL(file, import.meta.url));
const CLI = here('../../dist/cli/main.js');
const NODEMON = here('../../node_modules/nodemon/bin/nodemon.js');
const APP = readFileSync(here('./app.js'), 'utf8').replace('__ARBOR_WORKER__', pathToFileURL(here('../../dist/runtime/runtime.js')).href);
const SPEC = readFileSync(here('./arbor-spec.js'), 'utf8').replace('__ARBOR__', pathToFileURL(here('../../dist/index.js')).href);

const marker = `BENCH_WATCH_RUN=${randomUUID()}`;
const [markerKey, markerValue] = marker.split('=');
const dir = mkdtempSync(join(tmpdir(), 'arbor-bench-watch-'));
killMarkedOnSignals(marker, () => rmSync(dir, { recursive: true, force: true }));
const log = (line) => process.stderr.write(`${line}\n`);

const SYSTEMS = {
  arbor: {
    name: 'arbor run --watch (rolling reload)',
    command: (appDir, port) => [process.execPath, [CLI, 'run', join(appDir, 'spec.js'), '--watch', '--control', join(appDir, '..', `${port}.sock`)]],
  },
  nodemon: {
    // nodemon as it is used: its default signal (SIGUSR2, which ends a node process at once), with arbor's debounce.
    // With `--signal SIGTERM` and the app closing its server, the old process never exits under keep-alive load
    // (server.close() waits for connections that are never idle) and nodemon waits for it: see bench/README.md.
    name: 'nodemon (restart)',
    command: (appDir) => [process.execPath, [NODEMON, '--delay', '0.2', '--watch', appDir, join(appDir, 'app.js')]],
  },
};

const writeApp = (appDir, version) => writeFileSync(join(appDir, 'app.js'), APP.replace('__VERSION__', version));

async function waitFor(port, version, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if ((await versionServed(port)) === version) return true;
    await sleep(50);
  }
  return false;
}

/** One system, one round: start, load, `edits` edits one after another, stop. */
async function measure(key) {
  const appDir = join(dir, `${key}-${randomUUID().slice(0, 8)}`);
  mkdirSync(appDir);
  writeApp(appDir, 'v0');
  if (key === 'arbor') writeFileSync(join(appDir, 'spec.js'), SPEC);
  const port = await freePort();
  const [command, args] = SYSTEMS[key].command(appDir, port);
  const proc = spawn(command, args, {
    cwd: appDir,
    detached: true,
    stdio: ['ignore', 'ignore', 'ignore'],
    env: { ...process.env, [markerKey]: markerValue, PORT: String(port), TMPDIR: dir, XDG_RUNTIME_DIR: '' },
  });
  if (!(await waitFor(port, 'v0', 20_000))) throw new Error(`${key} did not serve within 20 s`);
  await sleep(1000); // arbor: its watcher is up once the tree runs; nodemon: its own
  const load = startLoad(port, 'agent-each');
  await sleep(settings.settleMs);
  const served = [];
  for (let edit = 1; edit <= settings.edits; edit += 1) {
    const began = performance.now();
    writeApp(appDir, `v${edit}`);
    const ok = await waitFor(port, `v${edit}`, settings.serveTimeoutMs);
    served.push(ok ? performance.now() - began : undefined);
    await sleep(settings.settleMs);
  }
  const results = await load.stop();
  try {
    process.kill(-proc.pid, 'SIGINT');
  } catch {
    // Already gone.
  }
  await Promise.race([new Promise((resolve) => proc.once('exit', resolve)), sleep(10_000)]);
  try {
    process.kill(-proc.pid, 'SIGKILL');
  } catch {
    // The group is empty: it stopped cleanly.
  }
  const count = (outcome) => results.filter((r) => r.outcome === outcome).length;
  // The longest stretch with no answer at all (an outage, whatever the clients' retry rate), from the first answer on.
  const answered = results.filter((r) => r.outcome === 'ok').map((r) => r.end).sort((a, b) => a - b);
  const longestGapMs = Math.round(answered.slice(1).reduce((gap, end, i) => Math.max(gap, end - answered[i]), 0));
  return {
    longestGapMs,
    key,
    requests: results.length,
    failed: results.filter((r) => r.outcome !== 'ok').length,
    refused: count('refused'), reset: count('reset'), timeout: count('timeout'), other: count('5xx') + count('other'),
    served: served.filter((ms) => ms !== undefined).length,
    editToServedMs: served.filter((ms) => ms !== undefined).map(Math.round),
  };
}

const order = (round) => (round % 2 === 0 ? ['arbor', 'nodemon'] : ['nodemon', 'arbor']);
const rounds = [];
const startedAt = new Date();
try {
  for (let round = 0; round < settings.rounds; round += 1) {
    const results = {};
    for (const key of order(round)) {
      log(`round ${round + 1}: ${SYSTEMS[key].name}`);
      results[key] = await measure(key);
      log(`  ${results[key].failed} failed of ${results[key].requests}; edit → served ${results[key].editToServedMs.join(', ')} ms`);
    }
    rounds.push(results);
  }
} finally {
  const left = await killMarked(marker);
  if (left.length > 0) log(`killed ${left.length} process(es) left behind`);
  rmSync(dir, { recursive: true, force: true });
}

const total = (key, field) => rounds.reduce((sum, r) => sum + r[key][field], 0);
const lines = [
  `**Watch mode**: ${settings.edits} edits of a running HTTP app (one process serving it; handlers 20–60 ms), 16 clients (8 on a keep-alive agent each, 8 on a new connection per request), ${settings.rounds} rounds interleaved; ${startedAt.toISOString().slice(0, 16)}Z, ${cpus().length} cores, load average ${loadavg()[0].toFixed(1)} at the end (shared machine)`,
  '',
  '| configuration | requests | failed (per round) | refused / reset / timeout / other | longest time without an answer, ms (per round) | edits served | edit → new version served, ms (median) |',
  '| :--- | ---: | ---: | ---: | ---: | ---: | ---: |',
];
for (const key of Object.keys(SYSTEMS)) {
  const perRound = rounds.map((r) => r[key].failed).join(' / ');
  const times = rounds.flatMap((r) => r[key].editToServedMs);
  lines.push(`| ${SYSTEMS[key].name} | ${total(key, 'requests')} | ${total(key, 'failed')} (${perRound}) | ${total(key, 'refused')} / ${total(key, 'reset')} / ${total(key, 'timeout')} / ${total(key, 'other')} | ${rounds.map((r) => r[key].longestGapMs).join(' / ')} | ${total(key, 'served')} of ${settings.edits * settings.rounds} | ${times.length ? Math.round(median(times)) : '-'} |`);
}
const ratios = rounds.map((r) => median(r.nodemon.editToServedMs) / median(r.arbor.editToServedMs)).filter(Number.isFinite);
lines.push('', `Edit → served, nodemon / arbor, median of per-round ratios: ${ratios.length ? median(ratios).toFixed(2) : '-'}×.`);
process.stdout.write(`${lines.join('\n')}\n`);
writeFileSync(here('./results.json'), `${JSON.stringify({ settings, startedAt, rounds }, null, 2)}\n`);
