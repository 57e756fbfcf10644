// Start-up marks of a worker process, written as one JSON line to $BENCH_TIMING_FILE when the worker serves.
// Times are epoch milliseconds with sub-ms precision (performance.timeOrigin + performance.now()), comparable
// across processes of the same machine. `origin` is when this node process itself started.
import { appendFileSync } from 'node:fs';

export const now = () => performance.timeOrigin + performance.now();

export function startMarks(entry) {
  const marks = { pid: process.pid, origin: performance.timeOrigin, entry };
  return {
    mark(name) {
      marks[name] = now();
    },
    flush() {
      const file = process.env.BENCH_TIMING_FILE;
      if (file) appendFileSync(file, `${JSON.stringify(marks)}\n`);
    },
  };
}
