// arbor shared against node cluster SCHED_NONE, req/s and CPU per request, interleaved rounds — the smallest
// comparison, for seeing what the scheduler decides (bench/README.md, "Throughput, and what the scheduler decides").
// Reports whether Linux's autogroup is on, and which session arbor's workers are in: with autogroup each session is a
// scheduling group of its own, so workers that lead sessions of their own (ARBOR_PROCESS_GROUPS=session, or no perl)
// are scheduled unlike cluster's, which share their primary's (decision 0006).
//
//   node bench/scheduler/run.js [rounds=8] [seconds=3]
import { readFileSync } from 'node:fs';
import { groupLaunch } from '../../dist/worker/group-fork.js';
import os from 'node:os';
import autocannon from 'autocannon';
import { cpuSnapshot } from '../lib/cpu.js';
import { launch, reapAll } from '../lib/launch.js';
import { median } from '../lib/stats.js';

const rounds = Number(process.argv[2] ?? 8);
const seconds = Number(process.argv[3] ?? 3);
const configs = [
  { name: 'arbor shared', script: 'arbor.js', args: ['shared', 2] },
  { name: 'cluster SCHED_NONE', script: 'cluster.js', args: ['none', 2] },
];

function autogroup() {
  try {
    return readFileSync('/proc/sys/kernel/sched_autogroup_enabled', 'utf8').trim() === '1' ? 'on' : 'off';
  } catch {
    return 'unknown (no /proc/sys/kernel/sched_autogroup_enabled)';
  }
}

const load = (port, duration) => autocannon({ url: `http://127.0.0.1:${port}/`, connections: 50, duration });
const results = Object.fromEntries(configs.map((c) => [c.name, []]));
const loadBefore = os.loadavg()[0];
try {
  for (let round = 0; round < rounds; round++) {
    for (const config of round % 2 === 0 ? configs : [...configs].reverse()) {
      const server = await launch(config.script, config.args, { name: config.name });
      try {
        await load(server.port, 1);
        const cpu = cpuSnapshot(server.child.pid);
        const run = await load(server.port, seconds);
        const used = cpu.since();
        results[config.name].push({ rps: run.requests.average, cpuUs: (used.seconds * 1e6) / Math.max(1, run.requests.total) });
      } finally {
        await server.stop();
      }
    }
  }
} finally {
  reapAll();
}

const [arbor, cluster] = configs.map((c) => results[c.name]);
const rps = arbor.map((a, i) => a.rps / cluster[i].rps);
const cpu = arbor.map((a, i) => a.cpuUs / cluster[i].cpuUs);
const list = (xs) => xs.map((x) => x.toFixed(2)).join(' / ');
const sessions = groupLaunch().kind === 'group' ? "the supervisor's session" : 'sessions of their own';
console.log(`autogroup ${autogroup()}; arbor's workers in ${sessions}; ${rounds} rounds × ${seconds} s; load average ${loadBefore.toFixed(2)} → ${os.loadavg()[0].toFixed(2)}`);
console.log(`req/s, arbor shared × cluster SCHED_NONE: median ${median(rps).toFixed(2)}× (per round ${list(rps)})`);
console.log(`CPU per request, same: median ${median(cpu).toFixed(2)}× (per round ${list(cpu)})`);
process.exit(0);
