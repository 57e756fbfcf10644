// One measurement of arbor's side of bench:light, in a process of its own (run by ./run.js with --expose-gc):
// a simple_one_for_one supervisor of N task children started one by one, the heap they cost, then K of them
// crashing at once, timed until every child runs again. Prints one JSON line, as otp.escript does.
import { start, supervisor, task } from '../../dist/index.js';

const [n, k] = process.argv.slice(2).map(Number);
if (!(n > 0) || !(k >= 0) || typeof globalThis.gc !== 'function') {
  console.error('usage: node --expose-gc tasks.js <children> <killed>');
  process.exit(2);
}

/** Each running incarnation's crash switch, by child id: flipping one is the task failing on its own. */
const crashers = new Map();
const child = task({
  id: 'child',
  restart: 'permanent',
  run: ({ id }) => new Promise((_resolve, reject) => crashers.set(id, reject)),
});

const tree = await start(supervisor({
  children: [supervisor({ id: 'pool', strategy: 'simple_one_for_one', intensity: 1_000_000, period: 1, template: child })],
}), { logger: false });

gc();
const heap0 = process.memoryUsage().heapUsed;
/** CPU ms of this process since `from` (a shared machine stretches wall time; CPU time much less). */
const cpuMs = (from) => {
  const used = process.cpuUsage(from);
  return (used.user + used.system) / 1000;
};
const c0 = process.cpuUsage();
const t0 = performance.now();
for (let i = 0; i < n; i++) await tree.startChild('root/pool');
const startMs = performance.now() - t0;
const startCpuMs = cpuMs(c0);
gc();
const bytesPerChild = (process.memoryUsage().heapUsed - heap0) / n;

let restartMs = NaN;
let restartCpuMs = NaN;
if (k > 0) {
  let restarted = 0;
  const allBack = new Promise((resolve) => {
    tree.on('child_started', (e) => {
      if (e.supervisor === 'root/pool' && ++restarted === k) resolve();
    });
  });
  const victims = [...crashers.keys()].slice(0, k).map((id) => crashers.get(id));
  const c1 = process.cpuUsage();
  const t1 = performance.now();
  for (const crash of victims) crash(new Error('killed'));
  await allBack;
  restartMs = performance.now() - t1;
  restartCpuMs = cpuMs(c1);
  const active = tree.countChildren('root/pool').active;
  if (active !== n) throw new Error(`${active} of ${n} running after the restarts`);
}

await tree.stop();
console.log(JSON.stringify({ n, k, startMs, startCpuMs, bytesPerChild, restartMs, restartCpuMs, rss: process.memoryUsage().rss }));
