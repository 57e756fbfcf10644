import { availableParallelism } from 'node:os';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Integration tests fork real processes and bind real sockets: keep files in separate
    // forks so a crash in one cannot leak children into another, and give events time to arrive.
    pool: 'forks',
    // Two files at a time even on 2 cores (vitest's default there is one): a file spends most of its time waiting
    // for processes to start, crash and stop, not on the CPU. On 2 cores the suite took 631 s one file at a time and
    // 358 s two at a time, and passes two at a time beside two busy-looping processes. More cores, more files.
    maxWorkers: Math.max(2, availableParallelism() - 1),
    testTimeout: 60_000,
    hookTimeout: 60_000,
    teardownTimeout: 30_000,
  },
});
