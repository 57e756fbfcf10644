// Worker processes left without a parent: alive, reparented to init (ppid 1), and marked as workers by their
// environment (an arbor worker has ARBOR_WORKER=1). Linux only (/proc); elsewhere the scan finds nothing.
import { readFileSync, readdirSync } from 'node:fs';

/** A worker process left behind: its parent is init. */
export interface OrphanProcess {
  /** Its pid. */
  pid: number;
  /** The command line, shortened. */
  command: string;
}

/** `KEY=value` matches that exact variable; `KEY` matches the variable with any value. */
export const ARBOR_WORKER_MARKERS = ['ARBOR_WORKER=1'];

/** Worker processes whose parent is init, matching any of `markers`. */
export function findOrphans(markers: readonly string[] = ARBOR_WORKER_MARKERS): OrphanProcess[] {
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return [];
  }
  const orphans: OrphanProcess[] = [];
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    if (pid === process.pid || parentOf(pid) !== 1) continue;
    const environ = readProc(pid, 'environ')?.split('\0') ?? [];
    const marked = markers.some((marker) =>
      marker.includes('=') ? environ.includes(marker) : environ.some((v) => v.startsWith(`${marker}=`)),
    );
    if (!marked) continue;
    const command = (readProc(pid, 'cmdline') ?? '').split('\0').join(' ').trim();
    orphans.push({ pid, command: command.length > 160 ? `${command.slice(0, 160)}…` : command });
  }
  return orphans;
}

function parentOf(pid: number): number | undefined {
  const stat = readProc(pid, 'stat');
  if (stat === undefined) return undefined;
  // `pid (comm) state ppid ...`: comm may hold spaces and parentheses, so parse after the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[1]);
}

/** A /proc file of another process; undefined when it is gone or not ours to read. */
function readProc(pid: number, file: string): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/${file}`, 'utf8');
  } catch {
    return undefined;
  }
}
