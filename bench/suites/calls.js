// Table: calls per second and p99 latency of tree.call to a pool of 2 workers, against hand-written request/reply
// over node cluster's worker.send / process.on('message'), interleaved over rounds (shuffled), each measurement in
// a fresh process tree; the ratio is taken within a round and its median reported.
import os from 'node:os';
import { cpuSnapshot } from '../lib/cpu.js';
import { launch } from '../lib/launch.js';
import { median, shuffle } from '../lib/stats.js';

export function callConfigs(workers) {
  return [
    { name: 'arbor tree.call', script: 'calls-arbor.js', args: [workers], workers },
    { name: 'cluster worker.send', script: 'calls-cluster.js', args: [workers], workers, cluster: true },
    { name: 'fork worker.send, detached', script: 'calls-fork.js', args: [workers], workers },
  ];
}

async function measure(config, opts) {
  const launched = await launch(config.script, config.args, { name: config.name });
  try {
    const result = new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${config.name}: no result`)), (opts.callsDuration + opts.warmup + 30) * 1000);
      launched.child.on('message', (m) => {
        if (m?.type !== 'result') return;
        clearTimeout(timer);
        resolve(m.result);
      });
    });
    // CPU of the whole configuration (host process and workers), which a noisy machine disturbs far less than calls/s.
    const cpu = cpuSnapshot(launched.child.pid);
    launched.child.send({ type: 'measure', seconds: opts.callsDuration, callers: opts.callers, warmup: opts.warmup });
    const measured = await result;
    const used = cpu.since();
    return { ...measured, cpuPerCall: (used.seconds * 1e6) / Math.max(1, measured.totalCalls), loadavg1: os.loadavg()[0] };
  } finally {
    await launched.stop();
  }
}

export async function runCalls(opts, log) {
  const configs = callConfigs(opts.callWorkers);
  const rounds = [];
  for (let round = 0; round < opts.rounds; round++) {
    const order = shuffle(configs);
    const results = {};
    for (const config of order) {
      log(`calls round ${round + 1}/${opts.rounds}: ${config.name}`);
      results[config.name] = await measure(config, opts);
    }
    rounds.push({ order: order.map((c) => c.name), results });
  }
  const cluster = configs.find((c) => c.cluster).name;
  const detached = configs.find((c) => c.script === 'calls-fork.js').name;
  const summary = configs.map((config) => {
    const per = rounds.map((r) => r.results[config.name]);
    return {
      name: config.name,
      workers: config.workers,
      callsPerSecond: median(per.map((x) => x.callsPerSecond)),
      p50: median(per.map((x) => x.p50)),
      p99: median(per.map((x) => x.p99)),
      ratio: median(rounds.map((r) => r.results[config.name].callsPerSecond / r.results[cluster].callsPerSecond)),
      detachedRatio: median(rounds.map((r) => r.results[config.name].callsPerSecond / r.results[detached].callsPerSecond)),
      cpuPerCall: median(per.map((x) => x.cpuPerCall)),
      cpuRatio: median(rounds.map((r) => r.results[config.name].cpuPerCall / r.results[cluster].cpuPerCall)),
      p99Ratio: median(rounds.map((r) => r.results[config.name].p99 / r.results[cluster].p99)),
      perRound: per.map((x) => x.callsPerSecond),
      errors: per.reduce((n, x) => n + x.errors, 0),
    };
  });
  return { rounds, summary, callers: opts.callers, seconds: opts.callsDuration };
}
