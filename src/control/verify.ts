// Before a client signals a pid it learnt from a control socket, it checks that the pid belongs to that tree: the
// process answering must be the one listening on the socket (its descriptors hold the socket's inode, per
// /proc/net/unix), and the pid must be its child. A planted socket that names someone else's pids gets nothing.
// Linux only: where /proc cannot tell, the answer is `undefined` (unknown), never a guess.
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';

/** Whether process `pid` holds the listening unix socket bound at `socketPath`. */
export function listensOn(pid: number, socketPath: string): boolean | undefined {
  let table: string;
  try {
    table = readFileSync('/proc/net/unix', 'utf8');
  } catch {
    return undefined;
  }
  // `Num RefCount Protocol Flags Type St Inode Path`: every socket bound to the path, listening or accepted.
  const inodes = new Set<string>();
  for (const line of table.split('\n')) {
    const fields = line.trim().split(/\s+/);
    if (fields.length >= 8 && fields.slice(7).join(' ') === socketPath) inodes.add(fields[6]!);
  }
  if (inodes.size === 0) return false;
  let fds: string[];
  try {
    fds = readdirSync(`/proc/${pid}/fd`);
  } catch {
    return false; // gone, or not ours to look at: not a tree we may signal
  }
  for (const fd of fds) {
    try {
      const inode = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`))?.[1];
      if (inode !== undefined && inodes.has(inode)) return true;
    } catch {
      // Closed meanwhile.
    }
  }
  return false;
}

/** The parent pid of `pid`, or undefined when it is gone (or /proc is not there). */
export function parentPid(pid: number): number | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // `pid (comm) state ppid ...`: comm may hold spaces and parentheses, so parse after the last ')'.
  const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  return Number.isSafeInteger(ppid) ? ppid : undefined;
}
