// examples/jobs as a user runs it: an embedding service hands jobs to a pool with tree.call; workers crash
// mid-job (exit code, uncaught throw, SIGKILL), the service retries on `exited`, and every job ends right.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { repo } from './support/arbor-run.js';
import { reap } from './support/tree.js';

const pids = new Set<number>();
afterEach(() => reap(pids));

it('every job completes with the right result, the crashed ones after a retry', async () => {
  const proc = spawn(process.execPath, [join(repo, 'examples/jobs/service.js'), '12', '2'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  proc.stdout.on('data', (chunk: Buffer) => {
    out += chunk;
    for (const m of out.matchAll(/pid (\d+)/g)) pids.add(Number(m[1]));
  });
  proc.stderr.resume();
  const timer = setTimeout(() => proc.kill('SIGKILL'), 45_000);
  const code = await new Promise<number | null>((resolve) => proc.on('close', resolve));
  clearTimeout(timer);
  expect(out).toContain('done     12/12 jobs');
  expect(out).toContain('0 wrong results');
  expect(code).toBe(0);
  // Jobs 4, 8 and 12 crash their worker on their first try (exit 3, throw, SIGKILL), unless a crash before took
  // them down first; the jobs in flight on a crashed worker get `exited` with its reason, and are retried.
  const retried = [...out.matchAll(/retry {4}job (\d+): attempt \d exited (.*)/g)].map((m) => ({
    job: Number(m[1]),
    reason: m[2],
  }));
  expect(retried.map((r) => r.job)).toContain(4);
  const kinds = ['{"code":3}', '{"error":"job worker crashed mid-job"}', '{"signal":"SIGKILL"}'];
  for (const { reason } of retried) expect(kinds).toContain(reason);
  const crashes = out.match(/exited {3}root\/jobs\/worker-\d pid \d+ .* → restart/g)?.length ?? 0;
  expect(crashes).toBeGreaterThanOrEqual(1);
  expect(crashes).toBeLessThanOrEqual(3);
  // Progress reached the service from the workers' send(), with the sender's path and pid.
  expect(out).toMatch(/progress job 1: 100% on root\/jobs\/worker-\d pid \d+/);
});
