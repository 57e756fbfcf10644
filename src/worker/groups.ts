// Every process a supervisor forks (a worker or a parked standby) leads its own process group, which its own
// children (the worker's grandchildren) join unless they leave it. No group outlives its leader or its supervisor:
// - when a leader exits, whatever is left of its group is SIGKILLed;
// - a watcher process (awk, about 1 MiB) holds the list of live groups, fed through a pipe; when the pipe closes
//   because the supervisor exited or was SIGKILLed (the kernel closes it in every case), it SIGKILLs every group
//   still listed. Unlike the guard of each worker (./group-fork.ts), it needs nothing from the worker: a worker
//   stuck in a busy loop goes too.
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, isAbsolute, join } from 'node:path';
import type { Writable } from 'node:stream';
import type { Logger } from 'pino';

/** Signals a whole process group; false when no process of it is left (or it is not ours to signal). */
export function signalGroup(leader: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(-leader, signal);
    return true;
  } catch {
    return false;
  }
}

// `+ pgid` lists a group, `- pgid` forgets it; at end of input (the supervisor is gone), one `kill -9` for all.
const WATCHER_SCRIPT = `
$1 == "+" && $2 ~ /^[0-9]+$/ { groups[$2] = 1; next }
$1 == "-" { delete groups[$2]; next }
END { list = ""; for (g in groups) list = list " -" g; if (list != "") system("kill -9" list " 2>/dev/null") }
`;

/** A watcher that dies more often than this within the window is not started again. */
const MAX_WATCHER_DEATHS = 5;
const WATCHER_DEATH_WINDOW_MS = 60_000;

class ProcessGroups {
  private readonly leaders = new Set<number>();
  /** When the recent watchers died (performance.now()). */
  private deaths: number[] = [];
  private watcher: { child: ChildProcess; input: Writable } | undefined;
  /** Set once the watcher cannot run here (no awk): groups are still ended with their leaders. */
  private unavailable = false;

  /**
   * Starts the watcher, if it is not running: called before a fork, so the new group is listed at once. True when a
   * watcher runs (or is starting): the fork may then leave the guard out of node (./group-fork.ts).
   */
  prepare(logger: Logger): boolean {
    return (this.watcher ?? this.startWatcher(logger)) !== undefined;
  }

  /** Lists the group `child` leads until it exits; then SIGKILLs what is left of the group. */
  adopt(child: ChildProcess, logger: Logger): void {
    const pid = child.pid;
    if (pid === undefined) return;
    this.leaders.add(pid);
    this.tell(`+ ${pid}\n`, logger);
    child.once('exit', () => {
      signalGroup(pid, 'SIGKILL');
      this.leaders.delete(pid);
      this.tell(`- ${pid}\n`, logger);
    });
  }

  /** Pid of the watcher, while it runs (for tests). */
  get watcherPid(): number | undefined {
    return this.watcher?.child.pid;
  }

  private tell(line: string, logger: Logger): void {
    const watcher = this.watcher ?? this.startWatcher(logger);
    watcher?.input.write(line);
  }

  private startWatcher(logger: Logger): ProcessGroups['watcher'] {
    if (this.unavailable) return undefined;
    // Known now rather than from spawn's asynchronous ENOENT: the fork that follows is guarded by what is known.
    if (!onPath('awk')) return this.giveUp(logger, 'awk not found on PATH');
    let child: ChildProcess;
    try {
      // Its own session: a Ctrl-C or a group-wide signal meant for the supervisor must not end the watcher.
      child = spawn('awk', [WATCHER_SCRIPT], { stdio: ['pipe', 'ignore', 'ignore'], detached: true });
    } catch (error) {
      return this.giveUp(logger, error);
    }
    const input = child.stdin!;
    const watcher = { child, input };
    input.on('error', () => undefined); // a dead watcher is noticed by 'exit'
    child.once('error', (error) => this.giveUp(logger, error));
    child.once('exit', (code, signal) => {
      if (this.watcher !== watcher) return;
      this.watcher = undefined;
      if (this.unavailable) return;
      // Killed by someone: a new one takes over the list of live groups at once, so a SIGKILL of the supervisor
      // right after still ends every group. One that keeps dying is given up on (and said so).
      logger.warn({ event: 'group_watcher_exited', pid: child.pid, code, signal });
      const now = performance.now();
      this.deaths = this.deaths.filter((at) => now - at < WATCHER_DEATH_WINDOW_MS);
      this.deaths.push(now);
      if (this.deaths.length > MAX_WATCHER_DEATHS) {
        this.giveUp(logger, `the watcher died ${this.deaths.length} times within ${WATCHER_DEATH_WINDOW_MS / 1000} s`);
        return;
      }
      const replacement = this.startWatcher(logger);
      if (replacement)
        logger.warn({ event: 'group_watcher_restarted', pid: replacement.child.pid, groups: this.leaders.size });
    });
    // Neither the watcher nor its pipe keeps the supervisor alive; the pipe closes when the supervisor exits.
    child.unref();
    (input as Writable & { unref?: () => void }).unref?.();
    this.watcher = watcher;
    for (const leader of this.leaders) input.write(`+ ${leader}\n`);
    return watcher;
  }

  private giveUp(logger: Logger, error: unknown): undefined {
    if (!this.unavailable) {
      this.unavailable = true;
      this.watcher = undefined;
      logger.warn({ event: 'group_watcher_unavailable', error: String(error) });
    }
    return undefined;
  }
}

/** Whether `command` is an executable file in a directory of this process's PATH (where spawn looks for it). */
function onPath(command: string): boolean {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!isAbsolute(dir)) continue;
    try {
      accessSync(join(dir, command), constants.X_OK);
      return true;
    } catch {
      // not here
    }
  }
  return false;
}

/** One list per supervisor process, whatever the number of trees in it. */
export const processGroups = new ProcessGroups();
