// node cluster round trips: a primary with 2 workers, worker.send(message) to each in turn (round robin), the
// reply matched to its caller by an id in the message, as users write request/reply over cluster IPC.
// Usage: node bench/configs/calls-cluster.js <workers>
import cluster from 'node:cluster';
import { fileURLToPath } from 'node:url';
import { answerMeasure } from '../calls/load.js';
import { listening, roundTrips } from '../calls/round-trips.js';
import { onStop, report } from './ipc.js';

const size = Number(process.argv[2] ?? 2);
cluster.setupPrimary({ exec: fileURLToPath(new URL('../servers/calls-echo-worker.js', import.meta.url)) });
const workers = Array.from({ length: size }, () => cluster.fork());
await Promise.all(workers.map(listening));
onStop(() => {
  for (const w of workers) w.process.kill('SIGKILL');
});
answerMeasure(roundTrips(workers));
report({ type: 'ready', port: 0, pids: workers.map((w) => w.process.pid) });
