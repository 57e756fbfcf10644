// Every process a bench starts carries a marker in its environment (KEY=value), so that whatever happens, the
// bench can find what it left behind and end it.
import { readFileSync, readdirSync } from 'node:fs';

/** pids of live processes whose environment carries `marker`. */
export function processesMarked(marker) {
  const found = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${entry}/environ`, 'utf8').split('\0').includes(marker)) found.push(Number(entry));
    } catch {
      // Gone meanwhile, or not ours to read.
    }
  }
  return found;
}

/** SIGKILLs every process carrying `marker`; returns their pids. */
function killNow(marker) {
  const left = processesMarked(marker);
  for (const pid of left) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
  return left;
}

/**
 * The systems a bench starts run in process groups of their own, so a Ctrl-C reaches only the bench: on SIGINT or
 * SIGTERM it ends everything it started, runs `cleanUp` (its temp files), then exits as killed by that signal.
 */
export function killMarkedOnSignals(marker, cleanUp = () => {}) {
  for (const [signal, number] of [['SIGINT', 2], ['SIGTERM', 15]]) {
    process.once(signal, () => {
      killNow(marker);
      cleanUp();
      process.exit(128 + number);
    });
  }
}

/** SIGKILLs every process still carrying `marker`, after a moment for the ones already exiting; returns their pids. */
export async function killMarked(marker) {
  await new Promise((resolve) => setTimeout(resolve, 500));
  return killNow(marker);
}
