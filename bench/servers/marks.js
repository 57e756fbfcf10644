// Start-up marks of a worker process, written as one JSON line to $BENCH_TIMING_FILE when the worker serves.
// Times are epoch milliseconds with sub-ms precision (performance.timeOrigin + performance.now()), comparable
// across processes of the same machine. `origin` is when this node process itself started. `cpu` holds the
// process's own CPU time (user + system, ms since it started) at each mark.
import { appendFileSync } from 'node:fs';

export const now = () => performance.timeOrigin + performance.now();

const cpuNow = () => {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
};

export function startMarks(entry) {
  const marks = { pid: process.pid, origin: performance.timeOrigin, entry, cpu: { entry: cpuNow() } };
  return {
    mark(name) {
      marks[name] = now();
      marks.cpu[name] = cpuNow();
    },
    flush() {
      const file = process.env.BENCH_TIMING_FILE;
      if (file) appendFileSync(file, `${JSON.stringify(marks)}\n`);
    },
  };
}
