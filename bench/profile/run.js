// CPU per request of the same tiny app (`res.end('hi')`) under arbor and under node cluster, measured from
// outside: 2 workers each, 50 keep-alive connections from a load generator in a process of its own, CPU of each
// process tree from /proc, workers apart from the rest (supervisor or primary, launcher). Configurations are
// interleaved in a shuffled order each round; the ratios are taken within a round and their medians reported.
// With PROFILE_CPU=1 every worker also runs under `--cpu-prof`, and the profiles are summed per function
// (./analyze.js): µs of worker CPU per request, function by function, per configuration.
//
//   node bench/profile/run.js                 # CPU per request, 3 rounds
//   PROFILE_CPU=1 PROFILE_ROUNDS=1 node bench/profile/run.js
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cpuSeconds, treePids } from '../lib/cpu.js';
import { launch, reapAll } from '../lib/launch.js';
import { median, shuffle } from '../lib/stats.js';
import { compare, report, summarize } from './analyze.js';
import { PERF_HZ, categoryOfSample, perfAvailable, record, removePerfMaps, samplesOf } from './perf.js';

const rounds = Number(process.env.PROFILE_ROUNDS ?? 3);
const seconds = Number(process.env.PROFILE_DURATION ?? 5);
const connections = Number(process.env.PROFILE_CONNECTIONS ?? 50);
const workers = Number(process.env.PROFILE_WORKERS ?? 2);
const profiling = process.env.PROFILE_CPU === '1';
/** PROFILE_PERF=1: `perf record -e cpu-clock` of the workers during the measured load (CPU time only, kernel too). */
const perfing = process.env.PROFILE_PERF === '1';
if (perfing && !(await perfAvailable())) throw new Error('PROFILE_PERF=1 needs perf, and perf_event_paranoid allowing it');
const only = process.env.PROFILE_ONLY?.split(',');
/** PROFILE_CLOSE=1: a new connection per request instead of keep-alive. */
const close = process.env.PROFILE_CLOSE === '1';

const configs = [
  { name: 'arbor shared', script: 'arbor.js', args: ['shared', workers], kind: 'shared', peer: 'cluster SCHED_NONE' },
  { name: 'arbor round_robin', script: 'arbor.js', args: ['round_robin', workers], kind: 'rr', peer: 'cluster SCHED_RR' },
  { name: 'cluster SCHED_NONE', script: 'cluster.js', args: ['none', workers], kind: 'shared' },
  { name: 'cluster SCHED_RR', script: 'cluster.js', args: ['rr', workers], kind: 'rr' },
].filter((c) => only === undefined || only.includes(c.kind));

const loadScript = fileURLToPath(new URL('./load.js', import.meta.url));

function runLoad(port, duration) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [loadScript, port, duration, connections, close ? 'close' : 'keep-alive'], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.once('error', reject);
    child.once('exit', (code) => (code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`load generator exited ${code}`))));
  });
}

async function measure(config) {
  const profileDir = profiling ? mkdtempSync(join(os.tmpdir(), 'arbor-prof-')) : undefined;
  const flags = [...(profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : []), ...(perfing ? ['--perf-basic-prof'] : [])];
  const env = { BENCH_APP: 'hi', ...(flags.length > 0 ? { BENCH_WORKER_EXECARGV: flags.join(' ') } : {}) };
  const server = await launch(config.script, config.args, { name: config.name, env });
  try {
    const warmUp = await runLoad(server.port, 1);
    const root = server.child.pid;
    const workerPids = new Set(server.workers);
    const perfFile = join(os.tmpdir(), `arbor-perf-${process.pid}-${Date.now()}.data`);
    const perf = perfing ? record([...workerPids], perfFile) : undefined;
    const before = cpuSeconds(treePids(root));
    const load = await runLoad(server.port, seconds);
    const after = cpuSeconds(treePids(root));
    await perf?.stop();
    const perfRows = perf ? await samplesOf(perfFile) : undefined;
    removePerfMaps(workerPids);
    let workerCpu = 0;
    let otherCpu = 0;
    for (const [pid, s] of after) {
      const used = s - (before.get(pid) ?? 0);
      if (workerPids.has(pid)) workerCpu += used;
      else otherCpu += used;
    }
    const us = (s) => (s * 1e6) / Math.max(1, load.total);
    return { ...load, perfRows, warmUpTotal: warmUp.total, loadavg1: os.loadavg()[0], workerUs: us(workerCpu), otherUs: us(otherCpu), totalUs: us(workerCpu + otherCpu), profileDir };
  } finally {
    await server.stop();
  }
}

const results = [];
try {
  for (let round = 1; round <= rounds; round++) {
    const r = {};
    for (const config of shuffle(configs)) {
      process.stderr.write(`round ${round}: ${config.name}\n`);
      r[config.name] = await measure(config);
    }
    results.push(r);
  }
} finally {
  reapAll();
}

const fmt = (x, d = 1) => (Number.isFinite(x) ? x.toFixed(d) : '–');
console.log(`${close ? 'a new connection per request' : 'keep-alive'}, ${connections} connections, ${seconds} s per round, ${workers} workers`);
console.log(`machine: ${os.cpus().length} cores, load average at the end ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`);
console.log('\nconfiguration | round | load1 | req/s | total µs/req | workers µs/req | rest µs/req | errors');
console.log(':--- | ---: | ---: | ---: | ---: | ---: | ---: | ---:');
results.forEach((r, i) => {
  for (const c of configs) {
    const x = r[c.name];
    console.log(`${c.name} | ${i + 1} | ${fmt(x.loadavg1, 2)} | ${fmt(x.rps, 0)} | ${fmt(x.totalUs)} | ${fmt(x.workerUs)} | ${fmt(x.otherUs)} | ${x.errors}`);
  }
});
console.log('\nconfiguration | median total CPU/req ratio | median worker CPU/req ratio | median req/s ratio | per-round total ratios');
console.log(':--- | ---: | ---: | ---: | :---');
for (const c of configs.filter((c) => c.peer && configs.some((p) => p.name === c.peer))) {
  const ratios = (f) => results.map((r) => f(r[c.name]) / f(r[c.peer]));
  const tot = ratios((x) => x.totalUs);
  console.log(
    `${c.name} / ${c.peer} | ${fmt(median(tot), 3)} | ${fmt(median(ratios((x) => x.workerUs)), 3)} | ${fmt(median(ratios((x) => x.rps)), 3)} | ${tot.map((x) => fmt(x, 3)).join(' ')}`,
  );
}
/** perf samples summed over rounds: µs of worker CPU per request, by category and by function. */
function perfSummary(name) {
  const functions = new Map();
  const categories = new Map();
  let total = 0;
  let requests = 0;
  for (const r of results) {
    requests += r[name].total;
    for (const row of r[name].perfRows) {
      // One function under several tiers (~ interpreted, * optimized) is one function here.
      const fn = `${row.symbol.replace(/^(JS|LazyCompile|Function):[~*^+]?/, '').replace(/\s\S*\/(dist|bench)\//, ' $1/')}${row.dso.includes('kernel') ? ' [kernel]' : ''}`;
      const us = (row.samples / PERF_HZ) * 1e6;
      functions.set(fn, (functions.get(fn) ?? 0) + us);
      const cat = categoryOfSample(row);
      categories.set(cat, (categories.get(cat) ?? 0) + us);
      total += us;
    }
  }
  return { summary: { functions, categories, totalMicros: total }, requests };
}

if (perfing) {
  const top = Number(process.env.PROFILE_TOP ?? 25);
  for (const c of configs.filter((c) => c.peer && configs.some((p) => p.name === c.peer))) {
    const a = perfSummary(c.name);
    const b = perfSummary(c.peer);
    console.log(`\n### perf cpu-clock: ${c.name} (A) against ${c.peer} (B), worker CPU µs per request\n`);
    console.log(compare(a.summary, a.requests, b.summary, b.requests, top));
    // What of arbor's own code ran in the workers at all, however little.
    const ours = [...a.summary.functions].filter(([fn]) => fn.includes('dist/')).sort((x, y) => y[1] - x[1]);
    console.log(`\narbor's own functions in ${c.name}'s workers: ${ours.length === 0 ? 'none sampled' : ''}`);
    for (const [fn, us] of ours) console.log(`- ${fn}: ${(us / a.requests).toFixed(4)} µs/request`);
  }
}

if (profiling) {
  const summaries = new Map();
  for (const c of configs) {
    const dirs = results.map((r) => r[c.name].profileDir);
    const files = dirs.flatMap((d) => readdirSync(d).map((f) => join(d, f)));
    const requests = results.reduce((n, r) => n + r[c.name].total, 0);
    // The warm-up's requests are profiled too.
    const warm = results.reduce((n, r) => n + r[c.name].warmUpTotal, 0);
    console.log(`\n### ${c.name} (${files.length} worker profiles)\n`);
    const summary = summarize(files);
    summaries.set(c.name, { summary, requests: requests + warm });
    console.log(report(summary, requests + warm, Number(process.env.PROFILE_TOP ?? 25)));
    if (process.env.PROFILE_KEEP !== '1') for (const d of dirs) rmSync(d, { recursive: true, force: true });
    else console.log(`profiles kept in ${dirs.join(' ')}`);
  }
  for (const c of configs.filter((c) => c.peer && summaries.has(c.peer))) {
    const a = summaries.get(c.name);
    const b = summaries.get(c.peer);
    console.log(`\n### ${c.name} (A) against ${c.peer} (B), worker CPU per request\n`);
    console.log(compare(a.summary, a.requests, b.summary, b.requests, Number(process.env.PROFILE_TOP ?? 25)));
  }
}

