// Hot standby, kill → answered, on one clock: where the time between a SIGKILL of the serving worker and the answer
// to a request sent at that moment goes. Runs the crash bench's configurations (bench/configs/arbor.js, cluster.js)
// with marks.cjs preloaded everywhere (NODE_OPTIONS), kills the serving worker N times per configuration, round by
// round, and prints per configuration the median time after the kill of each event.
// Usage: node bench/standby/probe.js   (env: PROBE_KILLS=20, PROBE_CONFIGS=hot,floor,cold,cluster, PROBE_JSON=out.json,
// PROBE_BEFORE=<another built checkout> with PROBE_CONFIGS=hot,before)
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sleep } from '../lib/clock.js';
import { get } from '../lib/http.js';
import { launch, reapAll } from '../lib/launch.js';
import { median } from '../lib/stats.js';

const at = () => Number(process.hrtime.bigint()) / 1e6;
const MARKS = fileURLToPath(new URL('./marks.cjs', import.meta.url));
const CONFIGS = {
  hot: { name: 'arbor shared + hot standby', script: 'arbor.js', args: ['shared', 1, 'hot'] },
  floor: { name: 'floor: a second worker already listening', script: 'arbor.js', args: ['shared', 2] },
  cold: { name: 'arbor shared (cold)', script: 'arbor.js', args: ['shared', 1] },
  cluster: { name: 'cluster SCHED_NONE', script: 'cluster.js', args: ['none', 1] },
};
// PROBE_BEFORE=<another checkout, built>: its hot standby too, interleaved with this one's (before / after).
if (process.env.PROBE_BEFORE) {
  CONFIGS.before = { ...CONFIGS.hot, name: 'hot standby, before', script: `${process.env.PROBE_BEFORE}/bench/configs/arbor.js` };
}
const kills = Number(process.env.PROBE_KILLS ?? 20);
const chosen = (process.env.PROBE_CONFIGS ?? 'hot,floor').split(',').map((s) => s.trim());

/** First answer to GETs on new connections: one at once, another every ~2 ms until one is answered. */
async function firstAnswer(port) {
  let answered = NaN;
  const pending = [];
  const deadline = at() + 5000;
  const attempt = () =>
    pending.push(get(port, { timeoutMs: 3000 }).then((r) => {
      if (r.outcome === 'ok' && !(answered <= at())) answered = Math.min(Number.isFinite(answered) ? answered : Infinity, at());
    }));
  attempt();
  while (!Number.isFinite(answered) && at() < deadline) {
    await sleep(2);
    if (!Number.isFinite(answered)) attempt();
  }
  await Promise.all(pending);
  return answered;
}

async function serving(port) {
  for (let i = 0; i < 500; i++) {
    if ((await get(port, { timeoutMs: 1000 })).outcome === 'ok') return;
    await sleep(10);
  }
  throw new Error('not serving');
}

async function spareParked(server) {
  for (let i = 0; i < 500; i++) {
    const pids = await server.sparePids();
    if (pids === undefined || pids.length > 0) return;
    await sleep(20);
  }
}

const series = [];
try {
  for (const key of chosen) {
    const config = CONFIGS[key];
    const file = join(tmpdir(), `arbor-standby-marks-${process.pid}-${key}.jsonl`);
    writeFileSync(file, '');
    const server = await launch(config.script, config.args, {
      name: config.name,
      env: { NODE_OPTIONS: `--require ${MARKS}`, STANDBY_MARKS_FILE: file },
    });
    series.push({ key, config, server, file, runs: [] });
  }
  for (let i = 0; i < kills; i++) {
    for (const s of series) {
      await serving(s.server.port);
      if (s.key === 'hot' || s.key === 'before') await spareParked(s.server);
      await sleep(50);
      const pid = await s.server.livePid();
      const replaced = s.server.waitFor((m) => m.name === 'ready' && m.pid !== pid, 10_000);
      const killT = at();
      s.server.kill(pid);
      const answered = await firstAnswer(s.server.port);
      const ready = await replaced;
      s.runs.push({ pid, newPid: ready?.pid, killT, answered });
    }
  }
} finally {
  for (const s of series) await s.server.stop();
  reapAll();
}

const load = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
const out = { load, kills, configs: {} };
for (const s of series) {
  const marks = readFileSync(s.file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
  rmSync(s.file, { force: true });
  const perRun = s.runs.map((run, i) => {
    const next = s.runs[i + 1]?.killT ?? Infinity;
    const inRun = marks.filter((m) => m.t >= run.killT && m.t < next);
    const first = (match) => inRun.find(match)?.t - run.killT;
    const about = (m) => m.child === run.pid;
    const spare = (m) => m.pid === run.newPid;
    return {
      'worker channel closed (supervisor `disconnect`)': first((m) => m.what === 'sup:disconnect' && about(m)),
      'supervisor `exit`': first((m) => m.what === 'sup:exit' && about(m)),
      'supervisor `close`': first((m) => m.what === 'sup:close' && about(m)),
      'child_exited reaches the launcher': first((m) => m.what === 'sup:event:exit' && about(m)),
      'takeover sent to the spare': first((m) => m.what === 'sup:send:arbor:takeover' && m.child === run.newPid),
      'spare: promoted itself (`arbor:promoted` sent)': first((m) => m.what === 'send:arbor:promoted' && spare(m)),
      'spare: takeover received': first((m) => m.what === 'msg:arbor:takeover' && spare(m)),
      'replacement listening': first((m) => m.what === 'listening' && spare(m)),
      'first accept (`connection`)': first((m) => m.what === 'connection' && spare(m)),
      'first request': first((m) => m.what === 'request' && spare(m)),
      'first response finished': first((m) => m.what === 'finish' && spare(m)),
      'any live worker answers (`finish`)': first((m) => m.what === 'finish'),
      'next fork (a new spare or the restart)': first((m) => m.what === 'sup:forked'),
      'answered, the client’s clock': run.answered - run.killT,
    };
  });
  const rows = Object.keys(perRun[0] ?? {});
  out.configs[s.config.name] = {
    medians: Object.fromEntries(rows.map((r) => [r, median(perRun.map((p) => p[r]).filter(Number.isFinite))])),
    runs: perRun,
  };
}
if (process.env.PROBE_JSON) writeFileSync(process.env.PROBE_JSON, `${JSON.stringify(out, null, 2)}\n`);
const names = Object.keys(out.configs);
console.log(`load ${load}, ${kills} kills each; medians, ms after the kill`);
console.log(`| event | ${names.join(' | ')} |`);
console.log(`| :--- |${names.map(() => ' ---: |').join('')}`);
for (const row of Object.keys(out.configs[names[0]]?.medians ?? {})) {
  const cells = names.map((n) => out.configs[n].medians[row]);
  if (cells.every((c) => c === undefined || Number.isNaN(c))) continue;
  console.log(`| ${row} | ${cells.map((c) => (Number.isFinite(c) ? c.toFixed(1) : '–')).join(' | ')} |`);
}
process.exit(0);
