// node cluster for the chaos bench, as users write it: a primary that forks $WORKERS app.js workers and re-forks
// one whenever a worker exits. It answers the bench's `workers` and `events` questions over IPC (events: each
// worker's exit and listening, timed here, so the HTML report draws exit → ready as it does for arbor) and stops
// on SIGTERM or when the bench goes away.
import cluster from 'node:cluster';
import { fileURLToPath } from 'node:url';

const size = Number(process.env.WORKERS ?? 1);
cluster.setupPrimary({ exec: fileURLToPath(new URL('./app.js', import.meta.url)) });

/** worker id → slot (1..size), so the bench can tell a replacement from a new worker. */
const slotOf = new Map();
const listening = new Set();
let stopping = false;
let announced = false;
/** The latest exits and starts, numbered; bounded like arbor's own event log. */
const events = [];
let lastSeq = 0;
const EVENTS_KEPT = 1000;

function record(event, worker) {
  events.push({ seq: ++lastSeq, event, supervisor: 'cluster', child: `slot-${slotOf.get(worker.id)}`, pid: worker.process.pid, type: 'worker', time: Date.now() });
  if (events.length > EVENTS_KEPT) events.shift();
}

function forkInto(slot) {
  slotOf.set(cluster.fork().id, slot);
}

cluster.on('listening', (worker) => {
  if (!listening.has(worker.id)) record('child_started', worker);
  listening.add(worker.id);
  if (listening.size === size && !announced) {
    announced = true;
    process.send?.({ type: 'ready' });
  }
});
cluster.on('exit', (worker) => {
  record('child_exited', worker);
  const slot = slotOf.get(worker.id);
  slotOf.delete(worker.id);
  listening.delete(worker.id);
  if (!stopping) forkInto(slot);
});

process.on('message', (message) => {
  if (message?.type === 'events') {
    const since = Number(message.since) || 0;
    process.send?.({ type: 'events', seq: message.seq, events: events.filter((e) => e.seq > since), next: lastSeq });
    return;
  }
  if (message?.type !== 'workers') return;
  const workers = Object.values(cluster.workers ?? {})
    .filter((w) => w && listening.has(w.id))
    .map((w) => ({ path: `cluster/slot-${slotOf.get(w.id)}`, pid: w.process.pid }));
  process.send?.({ type: 'workers', seq: message.seq, workers });
});

function stop() {
  if (stopping) return;
  stopping = true;
  setTimeout(() => process.exit(0), 3000).unref();
  for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill('SIGTERM');
  const check = () => (Object.keys(cluster.workers ?? {}).length === 0 ? process.exit(0) : setTimeout(check, 20));
  check();
}
process.on('SIGTERM', stop);
process.on('disconnect', stop);

for (let slot = 1; slot <= size; slot++) forkInto(slot);
