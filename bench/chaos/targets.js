// The three systems of the chaos bench, each started on 127.0.0.1:<port> with N workers of app.js, and each seen by
// runChaos() through the same ChaosTarget interface: list the live workers, ask one for an uncaught exception.
// Every process started here carries BENCH_CHAOS_RUN=<id> in its environment, so the end of the bench can prove
// (and enforce) that none is left behind.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync, readdirSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { ArborTarget } from 'arbor-otp/chaos';

const here = (file) => fileURLToPath(new URL(file, import.meta.url));
const CLI = here('../../dist/cli/main.js');
const START_TIMEOUT_MS = 20_000;

/** RSS and open descriptors of any process of ours, from /proc: the supervising process's cost, for every system. */
export function procStatsOf(pid) {
  const kib = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
  return { pid, rss: Number(kib) * 1024, fds: readdirSync(`/proc/${pid}/fd`).length };
}

function killGroup(pgid) {
  try {
    process.kill(-pgid, 'SIGKILL');
  } catch {
    // Nothing left in it.
  }
}

/** Whether 127.0.0.1:port accepts a connection now. */
function accepts(port) {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

async function within(promise, ms, what) {
  const timer = sleep(ms).then(() => {
    throw new Error(`${what}: nothing within ${ms} ms`);
  });
  return Promise.race([promise, timer]);
}

/** `arbor run arbor-spec.js`, reached through its control socket. */
export async function startArbor({ port, workers, env, dir, standby = false, args = [] }) {
  const control = join(dir, 'arbor.sock');
  const proc = spawn(process.execPath, [CLI, 'run', here('./arbor-spec.js'), '--control', control, ...args], {
    detached: true,
    stdio: ['ignore', 'pipe', 'inherit'],
    env: {
      ...process.env, ...env, PORT: String(port), WORKERS: String(workers), TMPDIR: dir, XDG_RUNTIME_DIR: '',
      ARBOR_STANDBY: standby === true ? '1' : standby === false ? '0' : standby,
    },
  });
  const started = new Promise((resolve) => {
    createInterface({ input: proc.stdout }).on('line', (line) => {
      if (line.includes('"event":"supervisor_started"') && line.includes('"supervisor":"root"')) resolve();
    });
  });
  await within(started, START_TIMEOUT_MS, 'arbor start');
  const target = new ArborTarget(control, 'root/pool');
  return {
    name: standby === false ? 'arbor (shared listener)' : `arbor (shared listener, standby${standby === true ? '' : ` ${standby}`})`,
    target,
    supervisorPid: proc.pid,
    async stop() {
      target.close();
      proc.kill('SIGTERM');
      await within(once(proc, 'exit'), 10_000, 'arbor stop').catch(() => killGroup(proc.pid));
    },
  };
}

export const startArborStandby = (options) => startArbor({ ...options, standby: true });
/** arbor with no fault at all, under the same load: what no system can beat under chaos on this machine. */
export const startArborCeiling = async (options) => ({ ...(await startArbor(options)), name: 'arbor, no faults (the ceiling)' });
/** Hot spares, as many as BENCH_CHAOS_HOT_SPARES (default 2): a restart takes over a process already in serve(). */
export const startArborHot = (options) =>
  startArbor({ ...options, standby: `hot:${Number(process.env.BENCH_CHAOS_HOT_SPARES ?? 2)}` });

/** node cluster: cluster-primary.js, asked for its workers over IPC. */
export async function startCluster({ port, workers, env }) {
  const proc = spawn(process.execPath, [here('./cluster-primary.js')], {
    detached: true,
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    env: { ...process.env, ...env, PORT: String(port), WORKERS: String(workers) },
  });
  const answers = new Map();
  let seq = 0;
  proc.on('message', (message) => answers.get(message?.seq)?.(message));
  const ask = (question, what) => {
    const id = ++seq;
    return within(
      new Promise((resolve) => {
        answers.set(id, resolve);
        proc.send({ ...question, seq: id });
      }),
      10_000,
      what,
    ).finally(() => answers.delete(id));
  };
  let eventsCursor;
  await within(
    new Promise((resolve) => proc.on('message', (m) => m?.type === 'ready' && resolve())),
    START_TIMEOUT_MS,
    'cluster start',
  );
  const target = {
    name: 'node cluster (re-fork on exit)',
    async workers() {
      return (await ask({ type: 'workers' }, 'cluster workers')).workers;
    },
    // Each worker's exit and 'listening', timed by the primary; the first call only sets the starting point.
    async events() {
      const first = eventsCursor === undefined;
      const answer = await ask({ type: 'events', since: eventsCursor ?? 0 }, 'cluster events');
      eventsCursor = answer.next;
      return { events: first ? [] : answer.events, missed: 0 };
    },
    async injectIpc(worker, fault) {
      if (fault !== 'throw') throw new Error(`cluster: no ${fault} fault`);
      process.kill(worker.pid, 'SIGUSR2');
      return worker.pid;
    },
    supervisorProc: async () => procStatsOf(proc.pid),
    close() {},
  };
  return {
    name: target.name,
    target,
    supervisorPid: proc.pid,
    async stop() {
      proc.kill('SIGTERM');
      await within(once(proc, 'exit'), 10_000, 'cluster stop').catch(() => {});
      killGroup(proc.pid);
    },
  };
}

/** PM2 in cluster mode, through its API, with its own daemon in a temp PM2_HOME. */
export async function startPm2({ port, workers, env, dir }) {
  // PM2 reads PM2_HOME when it is first loaded, and its daemon inherits this environment (the run's marker too).
  Object.assign(process.env, { PM2_HOME: join(dir, 'pm2'), PM2_SILENT: 'true', ...env });
  const { default: pm2 } = await import('pm2');
  const call = (method, ...args) =>
    within(
      new Promise((resolve, reject) => pm2[method](...args, (error, result) => (error ? reject(error) : resolve(result)))),
      START_TIMEOUT_MS,
      `pm2 ${method}`,
    );
  await call('connect');
  await call('start', {
    name: 'chaos-app',
    script: here('./app.js'),
    exec_mode: 'cluster',
    instances: workers,
    env: { ...env, PORT: String(port) },
    // PM2 gives up on an app after 16 restarts less than min_uptime (1 s) apart: the bench kills every second.
    max_restarts: 100_000,
    out_file: '/dev/null',
    error_file: '/dev/null',
  });
  const daemonPid = Number(readFileSync(join(dir, 'pm2', 'pm2.pid'), 'utf8'));
  const list = () => call('list');
  const online = async () => {
    const apps = await list();
    return apps
      .filter((app) => app.pm2_env?.status === 'online' && app.pid > 0)
      .map((app) => ({ path: `pm2/${app.pm_id}`, pid: app.pid, restarts: app.pm2_env.restart_time }))
      .sort((a, b) => (a.path < b.path ? -1 : 1));
  };
  const deadline = Date.now() + START_TIMEOUT_MS;
  while ((await online()).length < workers) {
    if (Date.now() > deadline) throw new Error('pm2 start: workers not online');
    await sleep(50);
  }
  // PM2's `online` is the fork, not the app listening: wait until the port accepts.
  while (!(await accepts(port))) {
    if (Date.now() > deadline) throw new Error('pm2 start: nothing listens on the port');
    await sleep(20);
  }
  const target = {
    name: 'PM2 cluster mode',
    workers: online,
    async injectIpc(worker, fault) {
      if (fault !== 'throw') throw new Error(`pm2: no ${fault} fault`);
      process.kill(worker.pid, 'SIGUSR2');
      return worker.pid;
    },
    supervisorProc: async () => procStatsOf(daemonPid),
    close() {},
  };
  return {
    name: target.name,
    target,
    supervisorPid: daemonPid,
    async stop() {
      await within(call('delete', 'all'), 10_000, 'pm2 delete').catch(() => {});
      await within(call('killDaemon'), 10_000, 'pm2 killDaemon').catch(() => {});
      await new Promise((resolve) => pm2.disconnect(resolve));
      killGroup(daemonPid);
    },
  };
}
