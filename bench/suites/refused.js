// Table 3: what clients see while a one-worker service restarts. A client loop opens new connections at a
// steady rate (one GET each) while the worker is SIGKILLed, waiting each time for the replacement to be ready
// and for at least the kill interval. Every connection ends as ok, refused, reset, timeout or other.
import { now, sleep } from '../lib/clock.js';
import { get } from '../lib/http.js';
import { launch } from '../lib/launch.js';
import { oneWorkerConfigs } from '../lib/one-worker-configs.js';
import { countBy, percentile } from '../lib/stats.js';

/** Longer than Linux's 1 s SYN retransmit, so a dropped SYN shows as a late success, not a timeout. */
const REQUEST_TIMEOUT_MS = 3000;
const REPLACEMENT_TIMEOUT_MS = 5000;

export const refusedConfigs = oneWorkerConfigs;

async function openConnections(port, rate, until, results) {
  const start = now();
  const pending = [];
  let issued = 0;
  while (now() < until) {
    const due = Math.floor(((now() - start) * rate) / 1000);
    for (; issued < due; issued++) pending.push(get(port, { timeoutMs: REQUEST_TIMEOUT_MS }).then((r) => results.push(r)));
    await sleep(2);
  }
  await Promise.all(pending); // bounded: every request settles within REQUEST_TIMEOUT_MS
}

async function killRepeatedly(server, intervalMs, until, kills) {
  await sleep(Math.min(intervalMs, until - now()));
  while (now() < until - 300) {
    const pid = await server.livePid(REPLACEMENT_TIMEOUT_MS);
    if (pid === undefined) break;
    const replaced = server.waitFor((m) => m.name === 'ready' && m.pid !== pid, REPLACEMENT_TIMEOUT_MS);
    const t = now();
    server.kill(pid);
    const ready = await replaced;
    kills.push({ pid, t, readyT: ready?.t ?? NaN });
    const wait = Math.min(intervalMs - (now() - t), until - now());
    if (wait > 0) await sleep(wait);
  }
}

const BUCKET_MS = 100;

/** Per 100 ms of connection start: how many, how they ended, median and max latency; kills and readies. */
function timeline(results, kills, t0) {
  const buckets = [];
  for (const r of results) {
    const i = Math.floor((r.start - t0) / BUCKET_MS);
    const b = (buckets[i] ??= { t: i * BUCKET_MS, n: 0, outcomes: {}, latencies: [] });
    b.n++;
    b.outcomes[r.outcome] = (b.outcomes[r.outcome] ?? 0) + 1;
    b.latencies.push(r.end - r.start);
  }
  return {
    kills: kills.map((k) => ({ t: Math.round(k.t - t0), readyAfter: Math.round(k.readyT - k.t) })),
    buckets: buckets.filter(Boolean).map(({ latencies, ...b }) => ({
      ...b,
      p50: Math.round(percentile(latencies, 50)),
      max: Math.round(Math.max(...latencies)),
    })),
  };
}

async function measure(config, opts) {
  const server = await launch(config.script, config.args, { name: config.name });
  const results = [];
  const kills = [];
  let unplanned = [];
  try {
    const until = now() + opts.refusedDuration * 1000;
    await Promise.all([
      openConnections(server.port, opts.rate, until, results),
      killRepeatedly(server, opts.killInterval, until, kills),
    ]);
  } finally {
    await server.stop();
    unplanned = server.unplannedExits();
  }
  const counts = { ok: 0, refused: 0, reset: 0, timeout: 0, other: 0 };
  const others = {};
  for (const r of results) {
    if (r.outcome in counts) counts[r.outcome]++;
    else {
      counts.other++;
      others[r.outcome] = (others[r.outcome] ?? 0) + 1;
    }
  }
  const t0 = Math.min(...results.map((r) => r.start));
  const okLatency = results.filter((r) => r.outcome === 'ok').map((r) => r.end - r.start);
  const restarts = kills.length;
  return {
    name: config.name,
    restarts,
    attempts: results.length,
    ...counts,
    others,
    refusedPerRestart: restarts ? counts.refused / restarts : NaN,
    failedPerRestart: restarts ? (results.length - counts.ok) / restarts : NaN,
    okP99: percentile(okLatency, 99),
    okMax: Math.max(...okLatency),
    lateOk: okLatency.filter((ms) => ms >= 1000).length,
    timeline: timeline(results, kills, t0),
    unplannedExits: unplanned.length,
    unplannedReasons: countBy(unplanned.map((u) => JSON.stringify(u.detail))),
    unreplaced: kills.filter((k) => !Number.isFinite(k.readyT)).length,
  };
}

export async function runRefused(opts, log) {
  const results = [];
  for (const config of refusedConfigs) {
    log(`refused during restarts: ${config.name} (${opts.rate} conn/s for ${opts.refusedDuration} s)`);
    results.push(await measure(config, opts));
  }
  return { results };
}
