// The task layer alone, without a supervisor: N TaskHandles started (what a supervisor's start of a task child
// adds to its own bookkeeping), then K crashing at once, timed until each one's exit has been reported. Shows
// what the light child costs apart from the supervisor's per-child work. Prints one JSON line.
import { pino } from 'pino';
import { TaskHandle } from '../../dist/task/handle.js';
import { task } from '../../dist/index.js';

const [n, k] = process.argv.slice(2).map(Number);
const logger = pino({ level: 'silent' });
const crashers = [];
const spec = task({ id: 'child', run: () => new Promise((_resolve, reject) => crashers.push(reject)) });
let exits = 0;
let allExited;
const exited = new Promise((resolve) => (allExited = resolve));
const context = (i) => ({
  path: `root/pool/child-${i}`, logger, resolveListener: () => undefined,
  onExit: () => {
    if (++exits === k) allExited();
  },
});

gc();
const heap0 = process.memoryUsage().heapUsed;
const c0 = process.cpuUsage();
const t0 = performance.now();
const handles = [];
for (let i = 0; i < n; i++) {
  const handle = new TaskHandle({ ...spec, id: `child-${i}` }, context(i));
  await handle.start();
  handles.push(handle);
}
const startMs = performance.now() - t0;
const startCpu = process.cpuUsage(c0);
const startCpuMs = (startCpu.user + startCpu.system) / 1000;
gc();
const bytesPerChild = (process.memoryUsage().heapUsed - heap0) / n;
const c1 = process.cpuUsage();
const t1 = performance.now();
for (const crash of crashers.slice(0, k)) crash(new Error('killed'));
await exited;
const exitMs = performance.now() - t1;
const exitCpu = process.cpuUsage(c1);
const exitCpuMs = (exitCpu.user + exitCpu.system) / 1000;
await Promise.all(handles.map((h) => h.kill()));
console.log(JSON.stringify({ n, k, startMs, startCpuMs, bytesPerChild, exitMs, exitCpuMs }));
