// Bench settings: defaults sized for a ~5-minute run on 2 cores, each overridable by an environment variable.
import os from 'node:os';

const SPEC = {
  rounds: ['BENCH_ROUNDS', 5, 'throughput and calls rounds (configurations shuffled per round)'],
  duration: ['BENCH_DURATION', 5, 'seconds of load per throughput measurement'],
  warmup: ['BENCH_WARMUP', 1, 'seconds of warm-up load before each measurement (discarded)'],
  connections: ['BENCH_CONNECTIONS', 50, 'autocannon connections'],
  workers: ['BENCH_WORKERS', os.availableParallelism(), 'workers per configuration in the throughput table'],
  crashes: ['BENCH_CRASHES', 20, 'SIGKILLs per configuration in the crash→serving table'],
  floorSamples: ['BENCH_FLOOR_SAMPLES', 20, 'spawns of `node -e 0` (and fork+IPC) for the floor'],
  rate: ['BENCH_RATE', 1000, 'new connections per second in the refused table'],
  refusedDuration: ['BENCH_REFUSED_DURATION', 5, 'seconds of connection load per configuration, refused table'],
  killInterval: ['BENCH_KILL_INTERVAL', 500, 'ms at least between two SIGKILLs, refused table'],
  poolSize: ['BENCH_POOL_SIZE', 8, 'workers in the pool that the spares table kills all at once'],
  spareRounds: ['BENCH_SPARE_ROUNDS', 5, 'all-kills per configuration in the spares table'],
  callsDuration: ['BENCH_CALLS_DURATION', 3, 'seconds of calls per configuration, calls table'],
  callers: ['BENCH_CALLERS', 16, 'concurrent callers (each waits for its reply before the next call), calls table'],
  callWorkers: ['BENCH_CALL_WORKERS', 2, 'workers in the pool, calls table'],
};

export const SECTIONS = ['throughput', 'crash', 'refused', 'spares', 'calls'];

export function readOptions(env = process.env) {
  const opts = {};
  for (const [key, [name, fallback]] of Object.entries(SPEC)) {
    const raw = env[name];
    const value = raw === undefined || raw === '' ? fallback : Number(raw);
    const zeroOk = key === 'warmup';
    if (!Number.isFinite(value) || value < 0 || (!zeroOk && value === 0)) {
      throw new Error(`${name}=${raw}: expected a ${zeroOk ? 'non-negative' : 'positive'} number`);
    }
    opts[key] = ['rounds', 'connections', 'workers', 'crashes', 'floorSamples', 'poolSize', 'spareRounds', 'callers', 'callWorkers'].includes(key) ? Math.round(value) : value;
  }
  const only = (env.BENCH_ONLY ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  const unknown = only.filter((s) => !SECTIONS.includes(s));
  if (unknown.length) throw new Error(`BENCH_ONLY: unknown section(s) ${unknown.join(', ')} (known: ${SECTIONS.join(', ')})`);
  opts.sections = only.length ? only : SECTIONS;
  return opts;
}

export function describeOptions() {
  return Object.values(SPEC).map(([name, fallback, what]) => ({ name, fallback, what }));
}
