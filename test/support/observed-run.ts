// Test support: the one `arbor run` of a service that a file of observer tests shares (beforeAll/afterAll), with
// its admin endpoint and chaos faults on; stopped gracefully at the end (it must exit 0), nothing of it left behind.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'vitest';
import { killArborRun, spawnArborRun, type ArborRun } from './arbor-run.js';

export interface ObservedRun {
  arbor: ArborRun;
  /** Its private directory: control socket, TMPDIR, anything the test writes. */
  dir: string;
  /** The admin endpoint's address (host:port). */
  admin: string;
  /** The service listener's address (host:port). */
  service: string;
}

/**
 * `arbor run <spec> --admin 127.0.0.1:0` with ARBOR_CHAOS=1, in a new temp dir named from `prefix`; resolves once
 * the root has started. If it does not get there, the run is killed and its dir removed before the error is thrown.
 */
export async function startObservedRun(spec: string, prefix: string): Promise<ObservedRun> {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const arbor = spawnArborRun(spec, dir, { ARBOR_CHAOS: '1' }, { args: ['--admin', '127.0.0.1:0'] });
  try {
    const admin = (await arbor.line((l) => l.event === 'admin_listening', 'admin_listening')).address as string;
    const service = (await arbor.line((l) => l.event === 'listener_bound', 'listener_bound')).address as string;
    await arbor.line((l) => l.event === 'supervisor_started' && l.supervisor === 'root', 'the root started');
    return { arbor, dir, admin, service };
  } catch (error) {
    await killArborRun(arbor);
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
}

/**
 * A graceful stop (SIGTERM) ends every child; then, whatever happened, nothing of the run is left: its process
 * group and every worker it started are killed, `cleanUp` runs, its dir is removed. The graceful stop must exit 0.
 */
export async function stopObservedRun(run: ObservedRun, cleanUp?: () => void): Promise<void> {
  const { arbor } = run;
  const stopped = arbor.proc.exitCode === null && arbor.proc.kill('SIGTERM') ? await arbor.exited : undefined;
  await killArborRun(arbor);
  cleanUp?.();
  rmSync(run.dir, { recursive: true, force: true });
  if (stopped) expect(stopped.code).toBe(0);
}

/** GET `path` from the run's admin endpoint: its body, after checking the status is 200. */
export async function adminGet(run: ObservedRun, path: string): Promise<string> {
  const response = await fetch(`http://${run.admin}${path}`, { signal: AbortSignal.timeout(20_000) });
  expect(response.status, path).toBe(200);
  return response.text();
}
