// What Linux says of a process in /proc/<pid>/stat: the kernel's own word on whether it runs, is dying or is gone.
// Read by the supervisor (a worker whose IPC channel closed: is it dying?) and by a hot standby spare (the death
// socket of the worker it watches reached its end: is that worker dead?). Node builtins only: the worker's runtime
// imports it too.
import { readFileSync } from 'node:fs';

/**
 * `exiting`: it has begun to exit (PF_EXITING) or is a zombie; `gone`: no such process any more (reaped);
 * `running`: anything else; `unknown`: not Linux, or /proc cannot be read.
 */
export type ProcessState = 'running' | 'exiting' | 'gone' | 'unknown';

const PF_EXITING = 0x4;

export function processState(pid: number): ProcessState {
  if (process.platform !== 'linux') return 'unknown';
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return code === 'ENOENT' || code === 'ESRCH' ? 'gone' : 'unknown';
  }
  // pid (comm) state ppid pgrp session tty_nr tpgid flags ...; comm may hold spaces and parentheses.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const dying = fields[0] === 'Z' || fields[0] === 'X' || (Number(fields[6]) & PF_EXITING) !== 0;
  return dying ? 'exiting' : 'running';
}

/**
 * The process has begun to exit or is a zombie. Its IPC channel closing says no more than that it closed the
 * channel; this says it is dying. False where /proc is not there.
 */
export function isExiting(pid: number): boolean {
  return processState(pid) === 'exiting';
}
