// What `arbor status --watch` reads of processes and sockets from /proc (Linux; elsewhere each figure is '-'):
// a worker's RSS and CPU time, and the kernel's accept queue of a listening socket. The decisions (CPU share
// between two samples, which line of /proc/net/tcp is the listener) are pure and apart from the reads.
import { readFileSync } from 'node:fs';

/** One reading of a process. */
export interface ProcSample {
  pid: number;
  /** Resident set size, bytes. */
  rss: number;
  /** user + system CPU time so far, in clock ticks. */
  cpuTicks: number;
  /** When it was read (ms, monotonic). */
  at: number;
}

/** Linux's USER_HZ: /proc reports CPU times in these ticks on every architecture node runs on. */
const TICKS_PER_SECOND = 100;
const PAGE_SIZE = 4096;

export function readProcSample(pid: number, at: number = performance.now()): ProcSample | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const statm = readFileSync(`/proc/${pid}/statm`, 'utf8');
    return parseProcSample(pid, stat, statm, at);
  } catch {
    return undefined; // gone, or no /proc
  }
}

/** Fields of /proc/<pid>/stat after the command (which may hold spaces and parentheses): utime is 14th, stime 15th. */
export function parseProcSample(pid: number, stat: string, statm: string, at: number): ProcSample | undefined {
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  const residentPages = Number(statm.split(' ')[1]);
  if (![utime, stime, residentPages].every(Number.isFinite)) return undefined;
  return { pid, rss: residentPages * PAGE_SIZE, cpuTicks: utime + stime, at };
}

/** CPU use between two samples of the same process, in % of one core; undefined without a usable pair. */
export function cpuPercent(previous: ProcSample | undefined, current: ProcSample | undefined): number | undefined {
  if (!previous || !current || previous.pid !== current.pid || current.at <= previous.at) return undefined;
  const cpuMs = ((current.cpuTicks - previous.cpuTicks) * 1000) / TICKS_PER_SECOND;
  return Math.max(0, (cpuMs / (current.at - previous.at)) * 100);
}

/** The kernel's view of a listening socket: connections that wait in its accept queue. */
export interface ListenQueue {
  queued: number;
}

/** The accept queue of the socket listening at `address` (host:port), from /proc/net/tcp and tcp6. */
export function readListenQueue(address: string): ListenQueue | undefined {
  const port = Number(address.slice(address.lastIndexOf(':') + 1));
  if (!Number.isInteger(port) || port <= 0) return undefined;
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    try {
      const found = findListenQueue(readFileSync(table, 'utf8'), port);
      if (found) return found;
    } catch {
      // No such table here.
    }
  }
  return undefined;
}

/** In /proc/net/tcp a LISTEN socket (state 0A) shows the length of its accept queue as rx_queue. */
export function findListenQueue(table: string, port: number): ListenQueue | undefined {
  for (const line of table.split('\n').slice(1)) {
    const [, local, , state, queues] = line.trim().split(/\s+/);
    if (state !== '0A' || !local || !queues) continue;
    if (parseInt(local.slice(local.lastIndexOf(':') + 1), 16) !== port) continue;
    const rx = parseInt(queues.slice(queues.indexOf(':') + 1), 16);
    if (Number.isNaN(rx)) continue;
    return { queued: rx };
  }
  return undefined;
}
