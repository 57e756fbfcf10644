// The same hand-written round trips over child_process.fork, with each worker in a session of its own
// (`detached`), as arbor forks its workers: separates the cost of that placement from arbor's own.
// Usage: node bench/configs/calls-fork.js <workers>
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { answerMeasure } from '../calls/load.js';
import { listening, roundTrips } from '../calls/round-trips.js';
import { onStop, report } from './ipc.js';

const size = Number(process.argv[2] ?? 2);
const module = fileURLToPath(new URL('../servers/calls-echo-worker.js', import.meta.url));
const workers = Array.from({ length: size }, () => fork(module, [], { detached: true, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }));
await Promise.all(workers.map(listening));
onStop(() => {
  for (const w of workers) w.kill('SIGKILL');
});
answerMeasure(roundTrips(workers));
report({ type: 'ready', port: 0, pids: workers.map((w) => w.pid) });
