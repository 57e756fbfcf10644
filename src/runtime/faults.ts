// Faults a worker inflicts on itself when `arbor chaos` asks, honoured only with ARBOR_CHAOS=1: each behaves as
// the real failure would (a throw, an exit, a busy loop, growing memory, a SIGTERM), so the supervisor sees it.
import type { ChaosFault } from '../protocol.js';
import { inArborThread } from './channel.js';

export function injectFault(fault: ChaosFault): void {
  if (process.env.ARBOR_CHAOS !== '1') {
    console.error(`arbor: chaos fault "${fault}" ignored (ARBOR_CHAOS is not 1)`);
    return;
  }
  switch (fault) {
    case 'throw':
      setImmediate(() => {
        throw new Error('arbor chaos: injected uncaught exception');
      });
      return;
    case 'exit':
      return process.exit(1);
    case 'hang':
      return spinForever();
    case 'memory':
      growMemoryForever();
      return;
    case 'sigterm-self':
      // In a thread, process.pid is the host's: a thread has no signal of its own to send itself.
      if (inArborThread)
        return console.error('arbor: chaos fault "sigterm-self" ignored in a thread (it would hit the host)');
      process.kill(process.pid, 'SIGTERM');
      return;
  }
}

function spinForever(): never {
  for (;;) {
    // Blocks the event loop: pings go unanswered, as in a real infinite loop.
  }
}

/** The memory fault grows this much per step: fast enough to trip `maxMemory` in seconds, slow enough to be seen. */
const MEMORY_STEP_BYTES = 16 * 1024 * 1024;
const MEMORY_STEP_MS = 50;
/** Module-level, so the memory stays held once growth stops at the cap. */
const hoard: Buffer[] = [];
let growing = false;

function growMemoryForever(): void {
  if (growing) return; // a second fault must not double the rate
  growing = true;
  // node:os only here, not at every worker's start.
  void import('node:os').then(({ totalmem }) => growUpTo(totalmem()));
}

function growUpTo(hostBytes: number): void {
  // Stops growing at half the host's memory: a worker without `maxMemory` must not take the machine down.
  const maxSteps = Math.floor(hostBytes / 2 / MEMORY_STEP_BYTES);
  const timer = setInterval(() => {
    if (hoard.length >= maxSteps) return clearInterval(timer);
    // Filled, not just allocated, so the pages are resident and show in RSS (what the supervisor checks).
    hoard.push(Buffer.alloc(MEMORY_STEP_BYTES, 1));
  }, MEMORY_STEP_MS);
}
