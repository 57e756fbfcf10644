// The tree the jobs service embeds: one pool of job workers. A worker that crashes mid-job is restarted by the
// pool; the service retries the job elsewhere.
import { fileURLToPath } from 'node:url';
import { supervisor, worker } from 'arbor-otp';

/** @typedef {{ id: number, size: number, attempt: number, crash?: 'exit' | 'throw' | 'sigkill' }} Job */
/** @typedef {{ id: number, sum: number, pid: number }} JobResult */
/** @typedef {{ id: number, percent: number }} Progress */
/** @typedef {{ call: Job, reply: JobResult, cast: never, send: Progress }} JobMessages */

const module = fileURLToPath(new URL('./worker.js', import.meta.url));

export function jobsSpec(workers = 2) {
  return supervisor({
    id: 'root',
    children: [
      supervisor({
        id: 'jobs',
        strategy: 'one_for_one',
        // Crashing jobs are expected here: restart as often as they come, but not in a tight loop forever.
        intensity: 50,
        period: 10_000,
        children: Array.from({ length: workers }, (_, i) =>
          /** @type {import('arbor-otp').WorkerSpec<JobMessages>} */ (worker({ id: `worker-${i + 1}`, module, shutdown: 2000 })),
        ),
      }),
    ],
  });
}
