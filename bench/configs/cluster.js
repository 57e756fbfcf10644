// node cluster: a primary that forks N workers and re-forks on 'exit', as users write it.
// Usage: node bench/configs/cluster.js <rr|none> <workers>
import cluster from 'node:cluster';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { event, onStop, report } from './ipc.js';

const policy = process.argv[2] === 'none' ? 'none' : 'rr';
const size = Number(process.argv[3] ?? 2);

// Frozen by setupPrimary(): set before it.
cluster.schedulingPolicy = policy === 'none' ? cluster.SCHED_NONE : cluster.SCHED_RR;
cluster.setupPrimary({
  exec: fileURLToPath(new URL('../servers/cluster-worker.js', import.meta.url)),
  // Extra node flags for the workers (bench/profile: --cpu-prof).
  execArgv: process.env.BENCH_WORKER_EXECARGV?.split(' ').filter(Boolean) ?? [],
});

// cluster closes the socket when its last worker goes, and a listen(0) after that would get a new port:
// pick a free port up front, as a deployment would configure a fixed one.
const port = await new Promise((resolve, reject) => {
  const probe = net.createServer();
  probe.once('error', reject);
  probe.listen(0, '127.0.0.1', () => {
    const { port } = probe.address();
    probe.close(() => resolve(port));
  });
});

let stopping = false;
const env = { PORT: String(port) };
const pids = new Set();
cluster.on('fork', (w) => event('fork', w.process.pid));
cluster.on('listening', (w) => {
  pids.add(w.process.pid);
  event('ready', w.process.pid);
});
cluster.on('exit', (w, code, signal) => {
  pids.delete(w.process.pid);
  event('exit', w.process.pid, signal ?? code);
  if (!stopping) cluster.fork(env);
});

onStop(async () => {
  stopping = true;
  for (const w of Object.values(cluster.workers ?? {})) w?.process.kill('SIGTERM');
  // Bounded by onStop's 3 s exit timer.
  await new Promise((resolve) => {
    const check = () => (Object.keys(cluster.workers ?? {}).length === 0 ? resolve() : setTimeout(check, 20));
    check();
  });
});

const serving = new Promise((resolve) => {
  cluster.on('listening', () => pids.size >= size && resolve());
});
for (let i = 0; i < size; i++) cluster.fork(env);
await serving;
report({ type: 'ready', port, pids: [...pids] });
