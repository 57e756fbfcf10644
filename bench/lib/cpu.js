// CPU time of a process tree, from /proc (Linux): user + system time of a root process and every descendant,
// found through /proc/<pid>/task/<tid>/children. Used to compare configurations by CPU per request, which a
// noisy shared machine disturbs far less than requests per second.
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';

let ticksPerSecond;
function clockTicks() {
  if (ticksPerSecond === undefined) {
    try {
      ticksPerSecond = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      ticksPerSecond = 100;
    }
  }
  return ticksPerSecond;
}

function read(path) {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

/** The pid and every descendant alive now. */
export function treePids(root) {
  const seen = new Set();
  const stack = [root];
  while (stack.length) {
    const pid = stack.pop();
    if (seen.has(pid)) continue;
    seen.add(pid);
    let tasks = [];
    try {
      tasks = readdirSync(`/proc/${pid}/task`);
    } catch {
      continue;
    }
    for (const tid of tasks) {
      for (const child of (read(`/proc/${pid}/task/${tid}/children`) ?? '').split(' ')) if (child) stack.push(Number(child));
    }
  }
  return [...seen];
}

/** Seconds of user + system CPU each process has used so far: Map pid → seconds. */
export function cpuSeconds(pids) {
  const out = new Map();
  for (const pid of pids) {
    const stat = read(`/proc/${pid}/stat`);
    if (stat === undefined) continue;
    // `pid (comm) state ppid …`: utime and stime are fields 14 and 15; comm may hold spaces, so split after ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    out.set(pid, (Number(fields[11]) + Number(fields[12])) / clockTicks());
  }
  return out;
}

/** A snapshot of a process tree's CPU; `since(snapshot)` later gives the seconds used in between. */
export function cpuSnapshot(root) {
  const before = cpuSeconds(treePids(root));
  return {
    /** Seconds used by the tree since the snapshot (processes born meanwhile count from 0). */
    since() {
      const after = cpuSeconds(treePids(root));
      let total = 0;
      for (const [pid, s] of after) total += s - (before.get(pid) ?? 0);
      return { seconds: total, processes: after.size };
    },
  };
}

/** Resident and proportional set size of one process, in bytes (PSS shares pages among the processes using them). */
export function memoryOf(pid) {
  const kib = (text, key) => Number(new RegExp(`^${key}:\\s+(\\d+)\\s+kB`, 'm').exec(text ?? '')?.[1] ?? NaN) * 1024;
  return { rss: kib(read(`/proc/${pid}/status`), 'VmRSS'), pss: kib(read(`/proc/${pid}/smaps_rollup`), 'Pss') };
}
