// What the numbers were measured on.
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { groupLaunch } from '../../dist/worker/group-fork.js';

export function machine() {
  const cpus = os.cpus();
  return {
    cpu: cpus[0]?.model ?? 'unknown',
    cores: cpus.length,
    availableParallelism: os.availableParallelism(),
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    kernel: os.release(),
    platform: `${os.platform()} ${os.arch()}`,
    loadavg: os.loadavg().map((x) => Math.round(x * 100) / 100),
    // node ≤ 22 reads this file of certificates (and its own bundled ones) at every start when the variable is set:
    // on the reference machine ~100 ms of CPU per node process, for every configuration alike.
    extraCaCerts: process.env.NODE_EXTRA_CA_CERTS !== undefined && process.env.NODE_EXTRA_CA_CERTS !== '',
    // With autogroup on, every session is a scheduling group: where arbor's workers are decides their CPU share.
    autogroup: autogroup(),
    workerSessions: groupLaunch().kind === 'group' ? "the supervisor's (setpgid through perl)" : 'their own (setsid)',
  };
}

function autogroup() {
  try {
    return readFileSync('/proc/sys/kernel/sched_autogroup_enabled', 'utf8').trim() === '1' ? 'on' : 'off';
  } catch {
    return 'unknown';
  }
}
