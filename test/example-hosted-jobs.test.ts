// examples/hosted-jobs as a user runs it: jobs run as tasks in a pool of two host processes; a job that blocks its
// host gets that host killed by its heartbeat, every job in it exits `{ host_down }` and is restarted, all jobs
// finish, and no host process is left once the service has exited.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { repo } from './support/arbor-run.js';
import { isRunning } from './support/process-tree.js';
import { eventually, reap } from './support/tree.js';

const pids = new Set<number>();
afterEach(() => reap(pids));

it('examples/hosted-jobs: a job that hangs its host is restarted with the host’s other jobs; all finish', async () => {
  const proc = spawn(process.execPath, [join(repo, 'examples/hosted-jobs/service.js'), '6'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  pids.add(proc.pid!);
  let out = '';
  let err = '';
  proc.stdout.on('data', (chunk: Buffer) => (out += chunk));
  proc.stderr.on('data', (chunk: Buffer) => (err += chunk));
  const code = await new Promise<number | null>((resolve) => proc.on('close', resolve));
  expect({ code, err }).toEqual({ code: 0, err: '' });
  expect(out).toContain('all 6 jobs done; stopping: normal');
  expect(out).toMatch(/exited {3}root\/jobs\/job-\d+ \{"host_down":"host 'workers' #\d+ \(pid \d+\) hung .*→ restart/);
  for (let job = 1; job <= 6; job++) expect(out).toMatch(new RegExp(`for job ${job} in host \\{"name":"workers"`));
  expect(out.match(/^done /gm)).toHaveLength(6);
  // Every host process the service used is gone with it.
  const hosts = [...out.matchAll(/pid (\d+)/g)].map((m) => Number(m[1]));
  for (const pid of hosts) pids.add(pid);
  expect(hosts.length).toBeGreaterThan(0);
  await eventually(() => hosts.every((pid) => !isRunning(pid)), 'every host process gone');
});
