// Jobs in a pool of host processes: each job is a supervised task (transient: restarted until it ends normally)
// run by one of two host processes, never on the supervisor's event loop. Job 3 has a bug on its first run: it
// blocks its host, whose heartbeat then fails, so that host is killed — every job in it exits with `{ host_down }`
// and is restarted into a fresh host, while the jobs in the other host never notice.
//
//   node examples/hosted-jobs/service.js [jobs]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { start, supervisor, task } from 'arbor-otp';

const jobs = Number(process.argv[2] ?? 6);
const module = fileURLToPath(new URL('./jobs.js', import.meta.url));
const results = new Map();

const tree = await start(
  supervisor({
    hosts: { workers: { kind: 'process', size: 2, heartbeat: { interval: 200, timeout: 1000 } } },
    children: [
      supervisor({
        id: 'jobs',
        strategy: 'simple_one_for_one',
        intensity: 20,
        period: 10_000,
        template: task({ id: 'job', module, export: 'count', host: 'workers', restart: 'transient' }),
      }),
    ],
  }),
  {
    logger: false,
    on: {
      worker_message: (e) => {
        results.set(e.message.job, e.message);
        console.log(`done     ${e.path}: ${e.message.primes} primes (host pid ${e.message.pid})`);
      },
      child_exited: (e) => {
        if (e.reason !== 'normal') console.log(`exited   ${e.supervisor}/${e.child} ${JSON.stringify(e.reason)} → ${e.action}`);
      },
    },
  },
);

// Job 3's bug bites once: the file says it has (a task cannot tell its first run from a restart otherwise).
const scratch = mkdtempSync(join(tmpdir(), 'arbor-hosted-jobs-'));
try {
  for (let i = 1; i <= jobs; i++) {
    const args = [String(i), String(200_000 + i * 10_000), ...(i === 3 ? [join(scratch, 'hung-once')] : [])];
    const info = await startJob(args);
    const host = tree.whichChildren('root/jobs').find((c) => c.id === info.id)?.host;
    console.log(`started  root/jobs/${info.id} for job ${i} in host ${JSON.stringify(host)}`);
  }
  // Every job has ended normally (a transient task is then not restarted) once all have reported.
  while (results.size < jobs) await new Promise((resolve) => setTimeout(resolve, 50));
  console.log(`all ${jobs} jobs done; stopping: ${await tree.stop()}`);
} finally {
  rmSync(scratch, { recursive: true, force: true });
}

/** A job placed in a host that goes down while it starts fails to start (as in OTP, startChild says so): try again. */
async function startJob(args) {
  for (let attempt = 1; ; attempt++) {
    try {
      return await tree.startChild('root/jobs', args);
    } catch (error) {
      if (attempt === 3) throw error;
      console.log(`start of job ${args[0]} failed (${error.message}); again`);
    }
  }
}
