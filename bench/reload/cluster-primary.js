// node cluster for the reload bench, with the rolling restart users write by hand: for each old worker, fork a
// new one, wait for its 'listening', then disconnect the old one (its server closes and it exits once its
// connections end), killing it if it has not exited after $KILL_AFTER_MS. A new worker that exits before listening stops the
// reload there. Workers that die otherwise are re-forked. The bench asks for a reload over IPC.
import cluster from 'node:cluster';

const size = Number(process.env.WORKERS ?? 2);
const KILL_AFTER_MS = Number(process.env.KILL_AFTER_MS ?? 3000);
cluster.setupPrimary({ exec: process.env.APP });

const reloading = new Set();
let stopping = false;

/** Forks a worker that is forked again if it dies by itself (not when disconnected by a reload). */
function fork() {
  const worker = cluster.fork();
  watch(worker);
  return worker;
}

function watch(worker) {
  worker.on('exit', () => {
    if (!stopping && !reloading.has(worker.id) && worker.exitedAfterDisconnect !== true) fork();
  });
}

function replace(old) {
  return new Promise((resolve) => {
    const fresh = cluster.fork();
    reloading.add(fresh.id);
    watch(fresh);
    fresh.once('listening', () => {
      reloading.delete(fresh.id);
      const timer = setTimeout(() => old.process.kill('SIGKILL'), KILL_AFTER_MS);
      old.once('exit', () => (clearTimeout(timer), resolve({ ok: true })));
      old.disconnect();
    });
    fresh.once('exit', (code) => {
      if (!reloading.delete(fresh.id)) return;
      resolve({ ok: false, error: `new worker exited with code ${code} before listening` });
    });
  });
}

async function reload() {
  for (const old of Object.values(cluster.workers ?? {}).filter(Boolean)) {
    const result = await replace(old);
    if (!result.ok) return result;
  }
  return { ok: true };
}

let listening = 0;
cluster.on('listening', () => {
  if (++listening === size) process.send?.({ type: 'ready' });
});
for (let i = 0; i < size; i++) fork();

process.on('message', async (message) => {
  if (message?.type === 'reload') process.send?.({ type: 'reloaded', seq: message.seq, ...(await reload()) });
});
const stop = () => {
  stopping = true;
  for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill('SIGKILL');
  setTimeout(() => process.exit(0), 200);
};
process.on('SIGTERM', stop);
process.on('disconnect', stop);
