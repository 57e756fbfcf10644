// What the numbers were measured on.
import os from 'node:os';

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
  };
}
