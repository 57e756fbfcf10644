// Starts one configuration (a launcher script under bench/configs) in its own process group and talks to it
// over IPC. Every group started is reaped: by stop(), by reapAll() in run.js's finally, and on process exit.
// arbor forks each worker in a process group of its own (detached), so the worker pids the launchers report are
// reaped one by one as well; they would also exit by themselves once their supervisor is gone.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { now, sleep } from './clock.js';

const READY_TIMEOUT_MS = 20_000;
const STOP_GRACE_MS = 3000;
const groups = new Set();
/** Worker pids the launchers reported and whose exit they have not reported (yet). */
const workerPids = new Set();

function killGroup(pgid, signal = 'SIGKILL') {
  try {
    process.kill(-pgid, signal);
    return true;
  } catch {
    return false; // ESRCH: nothing left in the group
  }
}

function groupAlive(pgid) {
  return killGroup(pgid, 0);
}

/** The pid is alive and still one of the bench's worker entry points (not a reused pid). */
function isBenchWorker(pid) {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('/bench/servers/');
  } catch {
    return false;
  }
}

function killWorkers(pids) {
  for (const pid of pids) {
    if (isBenchWorker(pid)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone meanwhile
      }
    } else workerPids.delete(pid);
  }
}

/** SIGKILLs every process group and worker still alive. Synchronous, so it also runs from process.on('exit'). */
export function reapAll() {
  for (const pgid of groups) killGroup(pgid);
  groups.clear();
  killWorkers([...workerPids]);
}

/** Process groups and worker pids started by this bench that are still alive (should be none at the end). */
export function leftovers() {
  return [...[...groups].filter(groupAlive), ...[...workerPids].filter(isBenchWorker)];
}

process.on('exit', reapAll);

export class Launched {
  constructor(child, name) {
    this.child = child;
    this.name = name;
    this.pgid = child.pid;
    this.port = undefined;
    /** Live worker pids, as the launcher reports them. */
    this.pids = new Set();
    this.events = [];
    this.waiters = new Set();
    /** pids the bench SIGKILLed; any other worker exit before stop() is unplanned. */
    this.killed = new Set();
    /** Worker pids this launcher reported and whose exit it has not reported. */
    this.workers = new Set();
    this.stopRequestedAt = Infinity;
    this.exited = new Promise((resolve) => child.once('exit', resolve));
    child.on('message', (m) => this.onMessage(m));
  }

  onMessage(m) {
    if (m?.type === 'spares') {
      for (const waiter of [...this.waiters]) waiter(m);
      return;
    }
    const exited = m?.type === 'event' && m.name === 'exit';
    for (const pid of [...(m?.pids ?? []), m?.pid]) {
      if (!Number.isInteger(pid)) continue;
      if (exited) {
        this.workers.delete(pid);
        workerPids.delete(pid);
      } else {
        this.workers.add(pid);
        workerPids.add(pid);
      }
    }
    if (m?.type === 'ready') {
      this.port = m.port;
      for (const pid of m.pids) this.pids.add(pid);
    } else if (m?.type === 'event') {
      if (m.name === 'exit') this.pids.delete(m.pid);
      if (m.name === 'ready') this.pids.add(m.pid);
    } else return;
    this.events.push(m);
    for (const waiter of [...this.waiters]) waiter(m);
  }

  /** Resolves with the first message (from now on) that matches, or undefined after timeoutMs. */
  waitFor(match, timeoutMs) {
    return new Promise((resolve) => {
      const done = (value) => {
        clearTimeout(timer);
        this.waiters.delete(waiter);
        resolve(value);
      };
      const waiter = (m) => match(m) && done(m);
      const timer = setTimeout(() => done(undefined), timeoutMs);
      this.waiters.add(waiter);
      this.exited.then(() => done(undefined));
    });
  }

  /** The events at or after time t that match. */
  eventsSince(t, match) {
    return this.events.filter((e) => e.type === 'event' && e.t >= t && match(e));
  }

  anyPid() {
    return this.pids.values().next().value;
  }

  /** A live worker pid, waiting (bounded) for a replacement to be ready if none is live right now. */
  async livePid(timeoutMs = 10_000) {
    const pid = this.anyPid();
    if (pid !== undefined) return pid;
    const ready = await this.waitFor((m) => m.name === 'ready' && this.pids.has(m.pid), timeoutMs);
    return ready?.pid;
  }

  /** Pids of the spares the arbor launcher has parked (undefined from other launchers, after 2 s). */
  async sparePids() {
    if (!this.child.connected) return undefined;
    const answer = this.waitFor((m) => m.type === 'spares', 2000);
    this.child.send({ type: 'spares' });
    return (await answer)?.pids;
  }

  /** SIGKILLs one worker on purpose (its exit is then not counted as unplanned). */
  kill(pid) {
    this.killed.add(pid);
    process.kill(pid, 'SIGKILL');
  }

  /** Worker exits the bench did not cause, before stop() was asked: { pid, t, detail }[]. */
  unplannedExits() {
    return this.events
      .filter((e) => e.type === 'event' && e.name === 'exit' && !this.killed.has(e.pid) && e.t < this.stopRequestedAt)
      .map(({ pid, t, detail }) => ({ pid, t, detail }));
  }

  /** Graceful stop, then SIGKILL the whole group, then wait (bounded) until nothing of it is left. */
  async stop() {
    this.stopRequestedAt = Math.min(this.stopRequestedAt, now());
    if (this.child.connected) this.child.send({ type: 'stop' });
    await Promise.race([this.exited, sleep(STOP_GRACE_MS)]);
    killGroup(this.pgid);
    killWorkers([...this.workers]);
    const alive = () => groupAlive(this.pgid) || [...this.workers].some(isBenchWorker);
    const deadline = now() + 2000;
    while (alive() && now() < deadline) await sleep(10);
    if (!groupAlive(this.pgid)) groups.delete(this.pgid);
    for (const pid of this.workers) if (!isBenchWorker(pid)) workerPids.delete(pid);
  }
}

/** Starts `bench/configs/<script>` with args; resolves once it serves and reported its port. */
export async function launch(script, args, { env = {}, name = script } = {}) {
  // An absolute path runs a launcher of another checkout (bench/standby/probe.js compares builds).
  const path = script.startsWith('/') ? script : fileURLToPath(new URL(`../configs/${script}`, import.meta.url));
  const child = spawn(process.execPath, [path, ...args.map(String)], {
    detached: true, // its own process group: one kill(-pgid) reaps the launcher and its workers
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    env: { ...process.env, ...env },
  });
  groups.add(child.pid);
  const launched = new Launched(child, name);
  const ready = await launched.waitFor((m) => m.type === 'ready', READY_TIMEOUT_MS);
  if (!ready) {
    await launched.stop();
    throw new Error(`${name}: did not report ready within ${READY_TIMEOUT_MS} ms`);
  }
  return launched;
}
