// An embedding service: starts a supervised pool inside itself, hands it jobs with tree.call, retries a job
// whose worker crashed mid-way (CallError `exited`) or was restarting (`not_running`), shows progress from the
// workers' send(), and stops the tree with the process (SIGINT/SIGTERM).
// Run: node examples/jobs/service.js [jobs] [workers]     (every 4th job crashes its worker on its first try)
import { CallError, createTree } from 'arbor-otp';
import { jobsSpec } from './spec.js';

const JOBS = Number(process.argv[2] ?? 12);
const WORKERS = Number(process.argv[3] ?? 2);
const MAX_ATTEMPTS = 5;
/** Jobs in flight at once: each worker runs a couple concurrently (its handler is async). */
const IN_FLIGHT = WORKERS * 2;
const CRASHES = ['exit', 'throw', 'sigkill'];

const tree = createTree(jobsSpec(WORKERS), { logger: false });
const log = (line) => process.stdout.write(`${line}\n`);
/** An exit reason for a log line: an uncaught error without its stack. */
const show = (reason) => JSON.stringify(typeof reason === 'object' && 'error' in reason ? { error: reason.error } : reason);

// Subscribed before start: every worker's start is seen.
tree.on('child_started', (e) => e.type === 'worker' && log(`started  ${e.supervisor}/${e.child} pid ${e.pid}`));
tree.on('child_exited', (e) => log(`exited   ${e.supervisor}/${e.child} pid ${e.pid} ${show(e.reason)} → ${e.action}`));
tree.on('worker_message', (e) => {
  const { id, percent } = e.message;
  if (percent === 50 || percent === 100) log(`progress job ${id}: ${percent}% on ${e.path} pid ${e.pid}`);
});

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, async () => {
    log(`${signal}: stopping the tree`);
    await tree.stop();
    process.exit(130);
  });
}

/** Runs one job on the pool, retrying what a crash or a restart got in the way of. */
async function runJob(id) {
  for (let attempt = 1; ; attempt++) {
    const job = { id, size: 10, attempt, ...(id % 4 === 0 && attempt === 1 ? { crash: CRASHES[(id / 4 - 1) % 3] } : {}) };
    try {
      return await tree.call('root/jobs', job, { timeout: 10_000, pick: 'least_busy' });
    } catch (error) {
      const retryable = error instanceof CallError && ['exited', 'not_running', 'timeout'].includes(error.code);
      if (!retryable || attempt === MAX_ATTEMPTS) throw error;
      log(`retry    job ${id}: attempt ${attempt} ${error.code}${error.reason ? ` ${show(error.reason)}` : ''}`);
      // not_running: the pool is restarting a worker; give it a moment.
      await new Promise((resolve) => setTimeout(resolve, 50 * attempt));
    }
  }
}

await tree.start();
const started = Date.now();
const results = new Array(JOBS);
let next = 0;
await Promise.all(Array.from({ length: IN_FLIGHT }, async () => {
  while (next < JOBS) {
    const i = next++;
    results[i] = await runJob(i + 1).then((value) => ({ status: 'fulfilled', value }), (reason) => ({ status: 'rejected', reason }));
  }
}));
const done = results.filter((r) => r.status === 'fulfilled');
const wrong = results.filter((r, i) => r.status === 'fulfilled' && (r.value.sum !== 55 || r.value.id !== i + 1));
log(`done     ${done.length}/${JOBS} jobs in ${Date.now() - started} ms, ${wrong.length} wrong results`);
for (const r of results) if (r.status === 'rejected') log(`failed   ${r.reason}`);
await tree.stop();
process.exit(done.length === JOBS && wrong.length === 0 ? 0 : 1);
