// `npm run bench:admin-abuse`: the supervisor's descriptors, RSS and kill → restarted latency while admin and control
// clients misbehave, on a tree of BENCH_ABUSE_CHILDREN dynamic subtrees (default 10,000). One `arbor run --admin`,
// one phase after another (BENCH_ABUSE_PHASE_S seconds each, default 10):
//   quiet        nothing but the measurements
//   pipelining   20 admin connections, each writing 2,000 pipelined GET /metrics and never reading (re-opened 0.5 s
//                after the server closes one)
//   idle         200 idle admin connections held open (re-opened 0.5 s after the server closes one)
//   scrapers     8 clients scraping /metrics and /tree back to back
//   control      64 control connections pipelining `status` requests without reading
//   all          all of the above at once
// Throughout: the worker `w` is SIGKILLed every second and its replacement timed (kill → child_started in the log);
// /healthz is probed every 250 ms on a new connection (2 s deadline); fds and RSS read from /proc every 250 ms.
// Prints a markdown table and a Targets section to stdout, progress to stderr.
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { killMarked, killMarkedOnSignals } from '../lib/marked.js';

const repo = fileURLToPath(new URL('../..', import.meta.url));
const env = process.env;
const CHILDREN = Number(env.BENCH_ABUSE_CHILDREN ?? 10_000);
const PHASE_MS = Number(env.BENCH_ABUSE_PHASE_S ?? 10) * 1000;
const PHASES = ['quiet', 'pipelining', 'idle', 'scrapers', 'control', 'all'];
const marker = `BENCH_ADMIN_ABUSE_RUN=${randomUUID()}`;
const [markerKey, markerValue] = marker.split('=');
const dir = mkdtempSync(join(tmpdir(), 'arbor-bench-abuse-'));
killMarkedOnSignals(marker, () => rmSync(dir, { recursive: true, force: true }));
const log = (line) => process.stderr.write(`${line}\n`);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const MiB = 1024 * 1024;

// ---- the supervisor -------------------------------------------------------------------------------------------
const control = join(dir, 'ctl.sock');
const arbor = spawn(process.execPath, [join(repo, 'dist/cli/main.js'), 'run', join(repo, 'bench/admin-abuse/spec.js'), '--control', control, '--admin', '127.0.0.1:0'], {
  env: { ...env, TMPDIR: dir, XDG_RUNTIME_DIR: '', [markerKey]: markerValue },
  stdio: ['ignore', 'pipe', 'ignore'],
  detached: true,
});
const started = new Map(); // child id → latest pid
const waiters = new Set();
let adminAddress;
const ready = new Promise((resolve, reject) => {
  createInterface({ input: arbor.stdout }).on('line', (text) => {
    let line;
    try {
      line = JSON.parse(text);
    } catch {
      return;
    }
    if (line.event === 'admin_listening') adminAddress = line.address;
    if (line.event === 'child_started' && line.supervisor === 'root') {
      started.set(line.child, line.pid);
      for (const waiter of waiters) waiter(line);
    }
    if (line.event === 'supervisor_started' && line.supervisor === 'root') resolve();
  });
  arbor.once('exit', (code) => reject(new Error(`arbor run exited (${code}) before it started`)));
});
await ready;
const [adminHost, adminPortText] = adminAddress.split(':');
const adminPort = Number(adminPortText);
const pid = arbor.pid;

// ---- control requests ----------------------------------------------------------------------------------------
function controlConnection() {
  const socket = net.connect(control);
  let buffered = '';
  const pending = new Map();
  let next = 1;
  socket.on('data', (chunk) => {
    buffered += chunk.toString();
    let newline;
    while ((newline = buffered.indexOf('\n')) >= 0) {
      const answer = JSON.parse(buffered.slice(0, newline));
      buffered = buffered.slice(newline + 1);
      pending.get(answer.id)?.(answer);
      pending.delete(answer.id);
    }
  });
  socket.on('error', () => undefined);
  return {
    request: (op, params = {}) => new Promise((resolve) => {
      const id = next++;
      pending.set(id, resolve);
      socket.write(`${JSON.stringify({ id, op, ...params })}\n`);
    }),
    close: () => socket.destroy(),
  };
}

log(`admin-abuse: starting ${CHILDREN} dynamic subtrees (supervisor pid ${pid}, admin ${adminAddress})`);
const setupStarted = performance.now();
{
  const connections = Array.from({ length: 4 }, controlConnection);
  let left = CHILDREN;
  await Promise.all(connections.map(async (c) => {
    while (left > 0) {
      const batch = Math.min(50, left);
      left -= batch;
      const answers = await Promise.all(Array.from({ length: batch }, () => c.request('start-child', { path: 'root/rooms' })));
      const failed = answers.find((a) => !a.ok);
      if (failed) throw new Error(`start-child failed: ${JSON.stringify(failed.error)}`);
    }
  }));
  connections.forEach((c) => c.close());
}
log(`admin-abuse: ${CHILDREN} subtrees started in ${((performance.now() - setupStarted) / 1000).toFixed(1)} s`);

// ---- measurements --------------------------------------------------------------------------------------------
function fds() {
  try {
    return readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return NaN;
  }
}
function rss() {
  try {
    return Number(/^VmRSS:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) * 1024;
  } catch {
    return NaN;
  }
}

function probe(path, timeoutMs) {
  const begun = performance.now();
  return new Promise((resolve) => {
    const req = http.get({ host: adminHost, port: adminPort, path, agent: false, timeout: timeoutMs }, (res) => {
      res.resume();
      res.on('end', () => resolve({ ok: res.statusCode === 200, ms: performance.now() - begun }));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve({ ok: false, ms: performance.now() - begun }));
  });
}

async function restartLatency() {
  const old = started.get('w');
  const replaced = new Promise((resolve) => {
    const waiter = (line) => {
      if (line.child === 'w' && line.pid !== old) (waiters.delete(waiter), resolve(line));
    };
    waiters.add(waiter);
  });
  const begun = performance.now();
  try {
    process.kill(old, 'SIGKILL');
  } catch {
    return NaN;
  }
  const timeout = sleep(60_000).then(() => undefined);
  const line = await Promise.race([replaced, timeout]);
  return line ? performance.now() - begun : Infinity;
}

// ---- misbehaving clients -------------------------------------------------------------------------------------
/**
 * Keeps `count` connections made by `open()` alive until stopped: one closed by the server is opened again after
 * REOPEN_MS (a client holding on, not a connection flood, which costs any server its accepts).
 */
const REOPEN_MS = 500;
function held(count, open) {
  let running = true;
  const sockets = new Set();
  let reopened = 0;
  const one = () => {
    if (!running) return;
    const socket = open();
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.once('close', () => {
      sockets.delete(socket);
      if (running) {
        reopened += 1;
        setTimeout(one, REOPEN_MS);
      }
    });
  };
  for (let i = 0; i < count; i++) one();
  return { stop: () => ((running = false), sockets.forEach((s) => s.destroy()), reopened) };
}

const pipelining = () => held(20, () => {
  const socket = net.connect(adminPort, adminHost);
  socket.pause();
  socket.once('connect', () => socket.write('GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n'.repeat(2000)));
  // A paused socket does not notice its end: peek now and then.
  const timer = setInterval(() => {
    if (socket.destroyed) return clearInterval(timer);
    socket.resume();
    setTimeout(() => !socket.destroyed && socket.pause(), 5);
  }, 1000);
  socket.once('close', () => clearInterval(timer));
  return socket;
});
const idle = () => held(200, () => net.connect(adminPort, adminHost));
const controlAbuse = () => held(64, () => {
  const socket = net.connect(control);
  socket.pause();
  socket.once('connect', () => socket.write(`${JSON.stringify({ id: 1, op: 'status' })}\n`.repeat(2000)));
  return socket;
});
function scrapers() {
  let running = true;
  let answers = 0;
  const loops = Array.from({ length: 8 }, async (_, i) => {
    while (running) {
      const answer = await probe(i % 2 === 0 ? '/metrics' : '/tree', 30_000);
      if (answer.ok) answers += 1;
    }
  });
  return { stop: () => ((running = false), void Promise.all(loops), answers) };
}
const ABUSE = {
  quiet: () => [],
  pipelining: () => [pipelining()],
  idle: () => [idle()],
  scrapers: () => [scrapers()],
  control: () => [controlAbuse()],
  all: () => [pipelining(), idle(), scrapers(), controlAbuse()],
};

// ---- phases ----------------------------------------------------------------------------------------------------
const median = (values) => (values.length === 0 ? NaN : [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]);
const quantile = (values, q) => (values.length === 0 ? NaN : [...values].sort((a, b) => a - b)[Math.min(values.length - 1, Math.floor(values.length * q))]);
const rows = [];
const baseline = { fds: fds(), rss: rss() };
for (const phase of PHASES) {
  log(`admin-abuse: phase ${phase} (${PHASE_MS / 1000} s)`);
  const clients = ABUSE[phase]();
  const end = performance.now() + PHASE_MS;
  const samples = { fds: [], rss: [] };
  const probes = [];
  const restarts = [];
  const sampler = (async () => {
    while (performance.now() < end) {
      samples.fds.push(fds());
      samples.rss.push(rss());
      await sleep(250);
    }
  })();
  const prober = (async () => {
    while (performance.now() < end) {
      const next = performance.now() + 250;
      probes.push(await probe('/healthz', 2000));
      await sleep(Math.max(0, next - performance.now()));
    }
  })();
  const killer = (async () => {
    await sleep(500);
    while (performance.now() < end) {
      const next = performance.now() + 1000;
      restarts.push(await restartLatency());
      await sleep(Math.max(0, next - performance.now()));
    }
  })();
  await Promise.all([sampler, prober, killer]);
  clients.forEach((c) => c.stop());
  rows.push({
    phase,
    fdsMax: Math.max(...samples.fds),
    rssMaxMiB: Math.max(...samples.rss) / MiB,
    restartMedian: median(restarts),
    restartMax: Math.max(...restarts),
    restarts: restarts.length,
    healthzOk: probes.filter((p) => p.ok).length,
    healthz: probes.length,
    healthzP99: quantile(probes.filter((p) => p.ok).map((p) => p.ms), 0.99),
  });
  await sleep(1500); // the connections of this phase close before the next one
}

const alive = arbor.exitCode === null && arbor.signalCode === null;
try {
  process.kill(-pid, 'SIGTERM');
} catch {
  // Already gone.
}
await new Promise((resolve) => (arbor.exitCode !== null || arbor.signalCode !== null ? resolve() : arbor.once('exit', resolve)));
await killMarked(marker);
rmSync(dir, { recursive: true, force: true });

// ---- report ---------------------------------------------------------------------------------------------------
const f = (n, digits = 0) => (Number.isFinite(n) ? n.toFixed(digits) : String(n));
const quiet = rows[0];
console.log(`### bench:admin-abuse — ${CHILDREN} dynamic subtrees, ${PHASE_MS / 1000} s per phase, node ${process.version}\n`);
console.log(`Baseline after the set-up: ${baseline.fds} fds, ${f(baseline.rss / MiB, 1)} MiB RSS.\n`);
console.log('| phase | fds max | RSS max MiB | restart median ms | restart max ms | restarts | /healthz ok | /healthz p99 ms |');
console.log('| :--- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
for (const r of rows) {
  console.log(`| ${r.phase} | ${r.fdsMax} | ${f(r.rssMaxMiB, 1)} | ${f(r.restartMedian)} | ${f(r.restartMax)} | ${r.restarts} | ${r.healthzOk}/${r.healthz} | ${f(r.healthzP99)} |`);
}
const targets = [
  ['the supervisor survived every phase', alive],
  ['fds stay within baseline + 400 (64 admin + 64 control connections, their accepts in flight)', rows.every((r) => r.fdsMax <= baseline.fds + 400)],
  ['RSS stays within baseline + 256 MiB', rows.every((r) => r.rssMaxMiB * MiB <= baseline.rss + 256 * MiB)],
  ['restart median under abuse ≤ 3 × quiet median + 100 ms', rows.every((r) => r.restartMedian <= 3 * quiet.restartMedian + 100)],
  ['every restart within 5 s', rows.every((r) => r.restartMax <= 5000)],
  ['/healthz: ≥ 95% of probes answered within 2 s in every phase', rows.every((r) => r.healthzOk >= 0.95 * r.healthz)],
];
console.log('\nTargets:');
for (const [what, met] of targets) console.log(`- ${met ? 'met' : 'MISSED'}: ${what}`);
process.exit(targets.every(([, met]) => met) ? 0 : 1);
