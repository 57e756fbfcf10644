// Preloaded (`--require`, first of all) into a process an arbor supervisor forks (a worker, a parked standby, a task
// host) wherever its launcher cannot guard it (../worker/group-fork.ts: no perl, no group watcher, a CPU whose prctl
// number is not known, a fork from a worker thread), so that from its first instruction, whatever its module does
// later:
// - it never outlives its supervisor: when its parent changes (the supervisor died, even by SIGKILL: the process
//   was handed to init or a subreaper), it kills its whole process group, grandchildren included;
// - the kernel's OOM killer prefers it to the supervisor.
// CommonJS and node builtins only: it runs before any ESM loader. Its own code costs little; node setting up its
// CommonJS loader for a preload costs a start ~2.5 ms, which is why the launcher does this where it can.
import { readFileSync, writeFileSync } from 'node:fs';

/** How often the parent is checked; the end of the IPC channel triggers a check at once. */
const POLL_MS = 200;
/** The channel's end can be read a moment before the kernel hands the process to its new parent. */
const RECHECK_AFTER_DISCONNECT_MS = [10, 50];
/** Added to the inherited oom_score_adj (capped at 1000); raising it needs no privilege. The launcher adds as much. */
export const OOM_SCORE_ADJ_RAISE = 500;

/** Raises this process's OOM score above its supervisor's, so memory pressure kills a worker, not the tree. */
function raiseOomScore(): void {
  try {
    const inherited = Number(readFileSync('/proc/self/oom_score_adj', 'utf8'));
    if (Number.isInteger(inherited)) {
      writeFileSync('/proc/self/oom_score_adj', String(Math.min(1000, inherited + OOM_SCORE_ADJ_RAISE)));
    }
  } catch {
    // Not Linux, or /proc is not mounted: nothing to raise.
  }
}

/** SIGKILL to the group this process leads (every worker does), then to itself in case it leads none. */
function endGroup(): never {
  try {
    process.kill(-process.pid, 'SIGKILL');
  } catch {
    // Not a group leader: only this process.
  }
  process.kill(process.pid, 'SIGKILL');
  throw new Error('unreachable');
}

/** The worker's own node children (`fork()` passes `process.execArgv` on) must not load the guard: it is ours. */
function removeFromExecArgv(): void {
  const at = process.execArgv.findIndex((arg, i) => arg === '--require' && process.execArgv[i + 1] === __filename);
  if (at >= 0) process.execArgv.splice(at, 2);
}

function guard(): void {
  removeFromExecArgv();
  // Only a process forked with an IPC channel by a supervisor; the variable is set by arbor when it forks.
  const supervisor = Number(process.env.ARBOR_SUPERVISOR_PID);
  if (typeof process.send !== 'function' || !Number.isSafeInteger(supervisor)) return;
  raiseOomScore();
  // The parent, not the channel, says whether the supervisor is gone: a supervisor may close a worker's channel
  // and stay alive (then the worker is its to stop).
  const check = (): void => {
    if (process.ppid !== supervisor) endGroup();
  };
  check();
  // Adding a 'disconnect' listener refs the channel, which would keep an idle worker alive: node counts such
  // listeners, so taking one back leaves the channel's ref count exactly as the worker's own code makes it.
  const channel = process.channel as { unrefCounted?: () => void } | undefined;
  if (typeof channel?.unrefCounted === 'function') {
    process.on('disconnect', () => {
      check();
      for (const ms of RECHECK_AFTER_DISCONNECT_MS) setTimeout(check, ms).unref();
    });
    channel.unrefCounted();
  }
  setInterval(check, POLL_MS).unref();
}

guard();
