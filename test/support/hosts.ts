// Test support: tasks of fixtures/hosted-tasks.mjs in the task host pool 'pool', and the host processes this test
// process forked, read from /proc (Linux).
import { readFileSync, readdirSync } from 'node:fs';
import { task, type HostedTaskSpec } from '../../src/index.js';
import { fixture } from './tree.js';

export const HOSTED_TASKS = fixture('hosted-tasks.mjs');

/** A task of fixtures/hosted-tasks.mjs (its default export unless `extra` names another) in the pool 'pool'. */
export const hosted = (id: string, extra: Record<string, unknown> = {}): HostedTaskSpec =>
  task({ id, module: HOSTED_TASKS, host: 'pool', ...extra });

/** Host processes forked by this test process that are still running (zombies excluded). */
export function hostProcesses(): number[] {
  const found: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const state = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0];
      if (state === 'Z' || state === 'X') continue;
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8');
      const environ = readFileSync(`/proc/${entry}/environ`, 'utf8').split('\0');
      if (cmdline.includes('task-host.js') && environ.includes(`ARBOR_SUPERVISOR_PID=${process.pid}`))
        found.push(Number(entry));
    } catch {
      // Gone meanwhile, or not ours to read.
    }
  }
  return found;
}
