// Table 2: how long a one-worker service stops serving when its worker is SIGKILLed, against the floor of
// starting node at all. The configurations run side by side and their crashes are interleaved. Per crash: the bench sends SIGKILL, then at once issues a request on a new connection
// and retries every ~2 ms while it fails (arbor's request should wait in the backlog and be answered by the
// replacement; cluster's are refused until the new worker listens). The launcher reports the exit and the
// replacement's ready; the workers write start-up marks, which give the breakdown of where the time goes.
import { fork, spawn } from 'node:child_process';
import { setMaxListeners } from 'node:events';
import { readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { now, sleep } from '../lib/clock.js';
import { get } from '../lib/http.js';
import { launch } from '../lib/launch.js';
import { oneWorkerConfigs } from '../lib/one-worker-configs.js';
import { countBy, median, shuffle } from '../lib/stats.js';

const REPLACEMENT_TIMEOUT_MS = 10_000;

/**
 * Not a restart: one of two workers already listening on the shared socket is killed, and the other answers. The
 * floor of kill → first answered request for any design in which the process that answers is already listening
 * (a spare holding the socket): the kernel's teardown of the killed process, one wakeup of the one that answers,
 * and the client's own.
 */
export const LISTENING_FLOOR = 'floor: a second worker already listening (arbor shared, 2 workers)';

export const crashConfigs = [...oneWorkerConfigs, { name: LISTENING_FLOOR, script: 'arbor.js', args: ['shared', 2] }];

/** Cold arbor configurations and the node cluster mode that hands connections over the same way. */
const CLUSTER_PEER = {
  'arbor shared': 'cluster SCHED_NONE (re-fork on exit)',
  'arbor round_robin': 'cluster SCHED_RR (re-fork on exit)',
};

const server = (file) => fileURLToPath(new URL(`../servers/${file}`, import.meta.url));

/** Spawn → exit of one `node …` command. */
async function spawnToExit(args) {
  const t0 = now();
  await new Promise((resolve) => spawn(process.execPath, args, { stdio: 'ignore' }).once('exit', resolve));
  return now() - t0;
}

/** Fork → first IPC message of a module that only sends one (then exits; SIGKILLed after 5 s at worst). */
async function forkToMessage(file) {
  const t0 = now();
  const child = fork(server(file), [], { stdio: 'ignore' });
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
  const gone = new Promise((resolve) => child.once('exit', resolve));
  const up = await Promise.race([new Promise((resolve) => child.once('message', () => resolve(now()))), gone.then(() => NaN)]);
  await gone;
  clearTimeout(timer);
  return up - t0;
}

/**
 * One sample of each floor: `node -e 0` (spawn → exit, the target's reference), `node` on an empty ESM file,
 * and fork of an ESM module → its first IPC message (what any forked worker pays at least).
 */
async function floorSample() {
  return {
    nodeE0: await spawnToExit(['-e', '0']),
    emptyEsm: await spawnToExit([server('empty.js')]),
    forkIpcReady: await forkToMessage('ready-only.js'),
  };
}

/**
 * The first answer after a kill: one request at once (it should wait in the backlog), then a new one every
 * ~2 ms while none has been answered; each may wait up to 3 s. Attempts still pending at the first answer are
 * aborted. Returns when it was answered, what became of the immediate request, and the attempts that failed.
 */
async function firstAnswer(port, deadline) {
  const abort = new AbortController();
  setMaxListeners(0, abort.signal); // one listener per attempt, all removed at the end
  const failures = {};
  let attempts = 0;
  let answered = NaN;
  const attempt = () => {
    attempts++;
    const timeoutMs = Math.max(1, Math.min(3000, deadline - now()));
    return get(port, { timeoutMs, signal: abort.signal }).then((r) => {
      if (r.outcome === 'ok') answered = Math.min(Number.isFinite(answered) ? answered : Infinity, r.end);
      else if (!Number.isFinite(answered)) failures[r.outcome] = (failures[r.outcome] ?? 0) + 1;
      return r;
    });
  };
  const pending = [attempt()];
  const immediate = pending[0];
  while (!Number.isFinite(answered) && now() < deadline) {
    await sleep(2);
    if (!Number.isFinite(answered)) pending.push(attempt());
  }
  abort.abort();
  await Promise.all(pending);
  const first = (await immediate).outcome;
  // Aborted: it was still waiting when a later attempt got the first answer (lost in transit, as in cluster RR).
  return { t: answered, attempts, failures, immediate: first === 'aborted' ? 'still waiting' : first };
}

async function serving(port) {
  const deadline = now() + 5000;
  while (now() < deadline) {
    if ((await get(port, { timeoutMs: 1000 })).outcome === 'ok') return true;
    await sleep(10);
  }
  return false;
}

function readMarks(file) {
  const byPid = new Map();
  let text = '';
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return byPid;
  }
  for (const line of text.split('\n')) {
    if (!line) continue;
    const marks = JSON.parse(line);
    byPid.set(marks.pid, marks);
  }
  return byPid;
}

/** Segments of one restart, in ms, from the worker's exit (as its supervisor saw it). */
function breakdown(c, marks) {
  const m = marks.get(c.newPid);
  const d = (a, b) => (Number.isFinite(a) && Number.isFinite(b) ? b - a : NaN);
  return {
    exitToProcessStart: d(c.exitT, m?.origin),
    processStartToEntry: d(m?.origin, m?.entry),
    entryToRuntime: d(m?.entry, m?.runtimeLoaded),
    toAppLoaded: d(m?.runtimeLoaded ?? m?.entry, m?.appLoaded),
    appLoadedToListening: d(m?.appLoaded, m?.listening),
    toWorkerReady: d(m?.listening ?? m?.appLoaded, m?.ready),
    workerReadyToSupervisorReady: d(m?.ready, c.readyT),
    // The client's side of it: from the exit the supervisor saw to the replacement listening, then to the answer.
    // CPU, not time: the replacement's own user + system CPU from its start to serving (its marks), which a loaded
    // machine disturbs far less than any of the times above.
    cpuToReady: m?.cpu?.ready,
    exitToListening: d(c.exitT, m?.listening),
    listeningToFirstAnswer: d(m?.listening, c.firstT),
  };
}

/**
 * A standby configuration is measured as a takeover: its spare must be parked (booted, and hot: its module loaded)
 * before the kill, or the crash measures a cold start. Bounded: after 10 s it is killed anyway.
 */
async function spareParked(server) {
  const deadline = now() + 10_000;
  while (now() < deadline) {
    const pids = await server.sparePids();
    if (pids === undefined || pids.length > 0) return;
    await sleep(20);
  }
}

/** SIGKILLs the live worker of one configuration and measures until it serves again. */
async function crashOnce(server, name, i, standby) {
  if (!(await serving(server.port))) throw new Error(`${name}: not serving before crash ${i + 1}`);
  if (standby) await spareParked(server);
  await sleep(30);
  // A worker may have exited by itself meanwhile (counted as unplanned): kill its replacement instead.
  const pid = await server.livePid();
  if (pid === undefined) throw new Error(`${name}: no live worker before crash ${i + 1}`);
  const replaced = server.waitFor((m) => m.name === 'ready' && m.pid !== pid, REPLACEMENT_TIMEOUT_MS);
  const killT = now();
  server.kill(pid);
  const probe = await firstAnswer(server.port, killT + REPLACEMENT_TIMEOUT_MS);
  const ready = await replaced;
  const exit = server.events.find((e) => e.name === 'exit' && e.pid === pid);
  return {
    pid,
    newPid: ready?.pid,
    killT,
    exitT: exit?.t ?? NaN,
    readyT: ready?.t ?? NaN,
    firstT: probe.t,
    attempts: probe.attempts,
    failures: probe.failures,
    immediate: probe.immediate,
  };
}

function withDurations(run, marks) {
  return {
    ...run,
    killToExit: run.exitT - run.killT,
    exitToReady: run.readyT - run.exitT,
    exitToFirst: run.firstT - run.exitT,
    killToFirst: run.firstT - run.killT,
    segments: breakdown(run, marks),
  };
}

function summarize(name, runs, unplanned, floor) {
  const med = (key) => median(runs.map((r) => r[key]));
  const failures = {};
  for (const r of runs) for (const [k, n] of Object.entries(r.failures)) failures[k] = (failures[k] ?? 0) + n;
  const segmentNames = Object.keys(runs[0]?.segments ?? {});
  return {
    name,
    crashes: runs.length,
    killToExit: med('killToExit'),
    exitToReady: med('exitToReady'),
    exitToFirst: med('exitToFirst'),
    killToFirst: med('killToFirst'),
    readyRatio: med('exitToReady') / floor.nodeE0,
    firstRatio: med('exitToFirst') / floor.nodeE0,
    unanswered: runs.filter((r) => !Number.isFinite(r.firstT)).length,
    failedAttempts: failures,
    immediate: countBy(runs.map((r) => r.immediate)),
    unplannedExits: unplanned.length,
    unplannedReasons: countBy(unplanned.map((u) => JSON.stringify(u.detail))),
    segments: Object.fromEntries(segmentNames.map((s) => [s, median(runs.map((r) => r.segments[s]))])),
    runs,
  };
}

/**
 * All configurations run side by side (idle between crashes), and the crashes and floor samples are interleaved
 * round by round in a shuffled order, so that the machine's drifting load spreads over all of them alike.
 */
export async function runCrash(opts, log) {
  const samples = { nodeE0: [], emptyEsm: [], forkIpcReady: [] };
  const series = [];
  try {
    for (const config of crashConfigs) {
      const timingFile = join(tmpdir(), `arbor-bench-marks-${process.pid}-${series.length}-${Date.now()}.jsonl`);
      const server = await launch(config.script, config.args, { name: config.name, env: { BENCH_TIMING_FILE: timingFile } });
      series.push({ config, server, timingFile, runs: [], unplanned: [] });
    }
    const rounds = Math.max(opts.crashes, opts.floorSamples);
    log(`crash→serving: ${opts.crashes} SIGKILLs × ${series.length} configurations, ${opts.floorSamples} floor samples, interleaved`);
    for (let i = 0; i < rounds; i++) {
      if (i < opts.floorSamples) for (const [k, v] of Object.entries(await floorSample())) samples[k].push(v);
      if (i < opts.crashes) {
        for (const s of shuffle(series)) s.runs.push(await crashOnce(s.server, s.config.name, i, s.config.args[2] !== undefined));
      }
    }
  } finally {
    for (const s of series) {
      await s.server.stop();
      s.unplanned = s.server.unplannedExits();
      s.marks = readMarks(s.timingFile);
      rmSync(s.timingFile, { force: true });
    }
  }
  const floor = {
    nodeE0: median(samples.nodeE0),
    emptyEsm: median(samples.emptyEsm),
    forkIpcReady: median(samples.forkIpcReady),
    samples,
  };
  const results = series.map((s) => {
    if (s.unplanned.length) log(`  ${s.config.name}: ${s.unplanned.length} worker exits the bench did not cause`);
    return summarize(s.config.name, s.runs.map((run) => withDurations(run, s.marks)), s.unplanned, floor);
  });
  // A cold arbor restart against node cluster's re-fork of the same kind, crash by crash (same round).
  for (const r of results) {
    const peer = results.find((p) => p.name === CLUSTER_PEER[r.name]);
    if (!peer) continue;
    const perRound = r.runs.map((run, i) => run.exitToFirst / peer.runs[i]?.exitToFirst);
    Object.assign(r, { clusterPeer: peer.name, clusterRatio: median(perRound), clusterRatioPerRound: perRound });
  }
  // What a client sees of a restart into a spare, against the same crash round of the listening floor.
  const listening = results.find((r) => r.name === LISTENING_FLOOR);
  for (const r of results.filter((x) => x.name.includes('standby') && listening)) {
    const perRound = r.runs.map((run, i) => run.killToFirst / listening.runs[i]?.killToFirst);
    Object.assign(r, { listeningFloorRatio: median(perRound), listeningFloorRatioPerRound: perRound });
  }
  return { floor, results };
}
