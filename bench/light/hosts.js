// bench:light's task hosts measurement (also run alone: node bench/light/hosts.js [tasks] [hosts]): N permanent
// tasks started one by one into a pool of H host processes (time; RSS each host gains per task), then one host
// SIGKILLed: every task in it exits { host_down } and is restarted by its supervisor into a fresh host — timed from
// the kill until every one of them runs again. Prints one JSON line.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { start, supervisor, task } from '../../dist/index.js';

const N = Number(process.argv[2] ?? 1000);
const H = Number(process.argv[3] ?? 2);
const module = fileURLToPath(new URL('./hosted-task.mjs', import.meta.url));
const rss = (pid) => Number(/^VmRSS:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) * 1024;

const tree = await start(
  supervisor({
    hosts: { pool: { kind: 'process', size: H } },
    children: [
      supervisor({
        id: 'tasks',
        strategy: 'simple_one_for_one',
        intensity: N * 2,
        period: 10_000,
        template: task({ id: 't', module, host: 'pool' }),
      }),
    ],
  }),
  { logger: false },
);
// The hosts boot with the first tasks: measured from a warm pool, as a running service would start its tasks.
for (let i = 0; i < H; i++) await tree.startChild('root/tasks', []);
const hostPids = () => [...new Set(tree.whichChildren('root/tasks').map((c) => c.host?.pid))];
const before = Object.fromEntries(hostPids().map((pid) => [pid, rss(pid)]));
const t0 = performance.now();
for (let i = H; i < N; i++) await tree.startChild('root/tasks', []);
const startMs = performance.now() - t0;
await new Promise((resolve) => setTimeout(resolve, 200));
const perTask = hostPids().map((pid) => (rss(pid) - before[pid]) / (N / H));

const victim = hostPids()[0];
const inVictim = tree.whichChildren('root/tasks').filter((c) => c.host?.pid === victim).length;
let restarted = 0;
const allBack = new Promise((resolve) =>
  tree.on('child_started', (e) => {
    if (e.supervisor === 'root/tasks' && ++restarted === inVictim) resolve();
  }),
);
const killedAt = performance.now();
process.kill(victim, 'SIGKILL');
await allBack;
const restartMs = performance.now() - killedAt;
await tree.stop();
console.log(
  JSON.stringify({
    tasks: N,
    hosts: H,
    startMs: Math.round(startMs),
    startPerTaskUs: Math.round((startMs * 1000) / (N - H)),
    rssPerTaskBytes: Math.round(perTask.reduce((a, b) => a + b, 0) / perTask.length),
    hostDownTasks: inVictim,
    hostDownToAllRunningMs: Math.round(restartMs),
  }),
);
