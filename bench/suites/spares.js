// Table 4: every worker of an 8-worker pool SIGKILLed at once, until all 8 serve again: restarts from cold, from
// warm spares and from hot spares (standby count = pool size), and what a spare costs in memory. The
// configurations run side by side and their all-kills are interleaved round by round in a shuffled order.
import { sleep, now } from '../lib/clock.js';
import { memoryOf } from '../lib/cpu.js';
import { launch } from '../lib/launch.js';
import { median, shuffle } from '../lib/stats.js';

const WHOLE_TIMEOUT_MS = 20_000;

export function sparesConfigs(size) {
  return [
    { name: `arbor shared, ${size} workers, cold`, args: ['shared', size] },
    { name: `arbor shared, ${size} workers, warm ×${size}`, args: ['shared', size, 'warm', size], spares: size },
    { name: `arbor shared, ${size} workers, hot ×${size}`, args: ['shared', size, 'hot', size], spares: size },
  ];
}

/** Waits (bounded) until the launcher reports `count` parked spares; returns their pids. */
async function sparesParked(server, count) {
  const deadline = now() + WHOLE_TIMEOUT_MS;
  for (;;) {
    const pids = (await server.sparePids()) ?? [];
    if (pids.length >= count || now() > deadline) return pids;
    await sleep(50);
  }
}

/** Kills every live worker at once; resolves with ms from the kill to each replacement's ready (sorted). */
async function allKill(server, size) {
  const pids = [...server.pids];
  if (pids.length !== size) throw new Error(`${server.name}: ${pids.length} live workers, expected ${size}`);
  const t0 = now();
  const readies = [];
  const whole = server.waitFor((m) => {
    if (m.name === 'ready' && !pids.includes(m.pid)) readies.push(m.t - t0);
    return readies.length >= size;
  }, WHOLE_TIMEOUT_MS);
  for (const pid of pids) server.kill(pid);
  await whole;
  return readies.sort((a, b) => a - b);
}

export async function runSpares(opts, log) {
  const size = opts.poolSize;
  const series = [];
  try {
    for (const config of sparesConfigs(size)) {
      const server = await launch('arbor.js', config.args, { name: config.name });
      series.push({ config, server, runs: [], memory: [] });
    }
    log(`spares: ${opts.spareRounds} all-kills of ${size} workers × ${series.length} configurations, interleaved`);
    for (let round = 0; round < opts.spareRounds; round++) {
      for (const s of shuffle(series)) {
        if (s.config.spares) {
          const spares = await sparesParked(s.server, s.config.spares);
          if (round === 0) s.memory = spares.map(memoryOf);
        }
        await sleep(100);
        const readies = await allKill(s.server, size);
        s.runs.push({ first: readies[0], whole: readies.at(-1), count: readies.length });
      }
    }
  } finally {
    for (const s of series) await s.server.stop();
  }
  return {
    size,
    results: series.map((s) => ({
      name: s.config.name,
      spares: s.config.spares ?? 0,
      rounds: s.runs.length,
      incomplete: s.runs.filter((r) => r.count < size).length,
      firstReady: median(s.runs.map((r) => r.first)),
      wholeAgain: median(s.runs.map((r) => (r.count < size ? NaN : r.whole))),
      spareRss: median(s.memory.map((m) => m.rss)),
      sparePss: median(s.memory.map((m) => m.pss)),
      runs: s.runs,
      unplannedExits: s.server.unplannedExits().length,
    })),
  };
}
