// The job functions of examples/hosted-jobs, imported by each host process (a hosted task names a module, not a
// closure). `count` counts the primes below a bound, burning CPU in its host, not in the supervisor's process.
// A job given a `hangOnce` file that does not exist yet creates it and spins forever: a bug (on its first run only)
// that blocks its host's event loop, so the host misses its heartbeat and is killed, with every job in it.
import { existsSync, writeFileSync } from 'node:fs';

/** @param {import('arbor-otp').TaskContext} context */
export async function count({ args, send, signal, log }) {
  const [job, bound, hangOnce] = [args[0], Number(args[1]), args[2]];
  if (hangOnce && !existsSync(hangOnce)) {
    writeFileSync(hangOnce, job);
    for (;;); // the bug: a busy loop that never yields
  }
  let primes = 0;
  for (let n = 2; n < bound; n++) {
    if (isPrime(n)) primes++;
    // Yield now and then, so the host answers its heartbeat and the job sees a stop.
    if (n % 20_000 === 0) {
      await new Promise((resolve) => setImmediate(resolve));
      if (signal.aborted) return;
    }
  }
  log.debug({ job, primes }, 'job done');
  send({ job, primes, pid: process.pid });
}

function isPrime(n) {
  for (let d = 2; d * d <= n; d++) if (n % d === 0) return false;
  return true;
}
