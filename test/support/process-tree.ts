// Test support: the processes that belong to one supervisor, read from /proc (Linux). Scoped to that supervisor:
// its descendants by parent pid, the processes arbor marked as forked by it (ARBOR_SUPERVISOR_PID=<pid>, which a
// worker's own children inherit), the process groups those lead, and any pids a test names.
import { readFileSync, readdirSync } from 'node:fs';

export interface ProcStat {
  pid: number;
  state: string;
  ppid: number;
  pgrp: number;
  session: number;
}

export function procStat(pid: number): ProcStat | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // `pid (comm) state ppid pgrp session ...`: comm may hold spaces and parentheses, so parse after the last ')'.
    const [state, ppid, pgrp, session] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { pid, state: state!, ppid: Number(ppid), pgrp: Number(pgrp), session: Number(session) };
  } catch {
    return undefined;
  }
}

/** Alive and not a zombie (a zombie has exited; init reaps it, or not, in its own time). */
export function isRunning(pid: number): boolean {
  const stat = procStat(pid);
  return stat !== undefined && stat.state !== 'Z' && stat.state !== 'X';
}

function environOf(pid: number): string[] {
  try {
    return readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
  } catch {
    return [];
  }
}

export function commandOf(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim();
  } catch {
    return '';
  }
}

/** Every running (non-zombie) process of the supervisor's tree, the supervisor excluded; `known` pids included. */
export function treeMembers(supervisor: number, known: Iterable<number> = []): ProcStat[] {
  const marker = `ARBOR_SUPERVISOR_PID=${supervisor}`;
  const all = readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .map((entry) => procStat(Number(entry)))
    .filter((stat): stat is ProcStat => stat !== undefined && stat.state !== 'Z' && stat.state !== 'X');
  const members = new Set<number>([supervisor, ...known]);
  for (const stat of all) if (environOf(stat.pid).includes(marker)) members.add(stat.pid);
  // Descendants by parent, then whole groups led by a member, until nothing is added.
  for (let grew = true; grew;) {
    grew = false;
    for (const stat of all) {
      if (members.has(stat.pid)) continue;
      if (members.has(stat.ppid) || (stat.pgrp !== supervisor && members.has(stat.pgrp))) {
        members.add(stat.pid);
        grew = true;
      }
    }
  }
  return all.filter((stat) => stat.pid !== supervisor && members.has(stat.pid));
}

export function describeMembers(members: ProcStat[]): string {
  return members
    .map((m) => `${m.pid} (ppid ${m.ppid}, pgrp ${m.pgrp}, ${m.state}) ${commandOf(m.pid).slice(0, 120)}`)
    .join('\n');
}

/** Lines of `{ pid, grandchild }` the family fixtures append. */
export function familyPids(file: string): Array<{ pid: number; grandchild: number }> {
  try {
    return readFileSync(file, 'utf8')
      .trim()
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line));
  } catch {
    return [];
  }
}
