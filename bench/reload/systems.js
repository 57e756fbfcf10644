// The four systems of the reload bench, each started on 127.0.0.1:<port> with 2 workers of the deployed app and
// each able to reload it: arbor (`arbor reload`, shared or round_robin listener), PM2 cluster mode (`pm2 reload`,
// with wait_ready) and node cluster (a hand-written rolling restart). Every process started here carries the run's
// marker in its environment, so the end of the bench can prove that none is left behind.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

const here = (file) => fileURLToPath(new URL(file, import.meta.url));
const CLI = here('../../dist/cli/main.js');
const START_TIMEOUT_MS = 20_000;
/** How long every system lets an old worker finish before it is killed: arbor's shutdown, PM2's kill_timeout. */
export const DRAIN_BUDGET_MS = 3000;

async function within(promise, ms, what) {
  let timer;
  const deadline = new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: nothing within ${ms} ms`)), ms)));
  try {
    return await Promise.race([promise, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

function killGroup(pgid) {
  try {
    process.kill(-pgid, 'SIGKILL');
  } catch {
    // Nothing left in it.
  }
}

function run(command, args, env) {
  return new Promise((resolve) => {
    const proc = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], env });
    let out = '';
    proc.stdout.on('data', (chunk) => (out += chunk));
    proc.stderr.on('data', (chunk) => (out += chunk));
    proc.on('close', (code) => resolve({ code, out: out.trim() }));
  });
}

/** `arbor run arbor-spec.js`; a reload is `arbor reload` against its control socket, as an operator runs it. */
export function arbor(mode) {
  return async ({ port, app, env, dir, workers }) => {
    const control = join(dir, `arbor-${mode}.sock`);
    const childEnv = { ...process.env, ...env, PORT: String(port), WORKERS: String(workers), MODE: mode, APP: app, TMPDIR: dir, XDG_RUNTIME_DIR: '' };
    const proc = spawn(process.execPath, [CLI, 'run', here('./arbor-spec.js'), '--control', control], {
      detached: true,
      stdio: ['ignore', 'pipe', 'inherit'],
      env: { ...childEnv, ARBOR_DRAIN_BUDGET: String(DRAIN_BUDGET_MS) },
    });
    const started = new Promise((resolve) => {
      createInterface({ input: proc.stdout }).on('line', (line) => {
        if (line.includes('"event":"supervisor_started"') && line.includes('"supervisor":"root"')) resolve();
      });
    });
    await within(started, START_TIMEOUT_MS, 'arbor start');
    return {
      async reload() {
        const { code, out } = await run(process.execPath, [CLI, 'reload', '--control', control], childEnv);
        return code === 0 ? { ok: true } : { ok: false, error: `exit ${code}: ${out}` };
      },
      async stop() {
        proc.kill('SIGTERM');
        await within(once(proc, 'exit'), 15_000, 'arbor stop').catch(() => killGroup(proc.pid));
      },
    };
  };
}

/** node cluster: cluster-primary.js, told to reload over IPC. */
export async function cluster({ port, app, env, workers }) {
  const proc = spawn(process.execPath, [here('./cluster-primary.js')], {
    detached: true,
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    env: { ...process.env, ...env, PORT: String(port), WORKERS: String(workers), APP: app, KILL_AFTER_MS: String(DRAIN_BUDGET_MS) },
  });
  await within(new Promise((resolve) => proc.on('message', (m) => m?.type === 'ready' && resolve())), START_TIMEOUT_MS, 'cluster start');
  let seq = 0;
  return {
    reload() {
      const id = ++seq;
      return within(new Promise((resolve) => {
        const onMessage = (m) => {
          if (m?.type !== 'reloaded' || m.seq !== id) return;
          proc.off('message', onMessage);
          resolve(m.ok ? { ok: true } : { ok: false, error: m.error });
        };
        proc.on('message', onMessage);
        proc.send({ type: 'reload', seq: id });
      }), 60_000, 'cluster reload');
    },
    async stop() {
      proc.kill('SIGTERM');
      await within(once(proc, 'exit'), 10_000, 'cluster stop').catch(() => {});
      killGroup(proc.pid);
    },
  };
}

let pm2Module;
/** PM2 cluster mode through its API, its daemon in a private PM2_HOME; a reload is `pm2 reload`. */
export async function pm2({ port, app, env, dir, workers }) {
  // PM2 reads PM2_HOME when it is first loaded, and its daemon inherits this environment (the run's marker too).
  Object.assign(process.env, { PM2_HOME: join(dir, 'pm2'), PM2_SILENT: 'true', ...env });
  pm2Module ??= (await import('pm2')).default;
  const api = pm2Module;
  const call = (method, ...args) =>
    within(new Promise((resolve, reject) => api[method](...args, (error, result) => (error ? reject(error) : resolve(result)))), 60_000, `pm2 ${method}`);
  await call('connect');
  const name = `reload-app-${port}`;
  await call('start', {
    name,
    script: app,
    exec_mode: 'cluster',
    instances: workers,
    env: { ...env, PORT: String(port) },
    // PM2's own zero-downtime recipe: wait for process.send('ready') before the old process is stopped.
    wait_ready: true,
    listen_timeout: 10_000,
    kill_timeout: DRAIN_BUDGET_MS,
    autorestart: true,
    out_file: '/dev/null',
    error_file: '/dev/null',
  });
  const deadline = Date.now() + START_TIMEOUT_MS;
  const online = async () => (await call('list')).filter((p) => p.name === name && p.pm2_env?.status === 'online').length;
  while ((await online()) < workers) {
    if (Date.now() > deadline) throw new Error('pm2 start: workers not online');
    await sleep(50);
  }
  const daemonPid = Number(readFileSync(join(dir, 'pm2', 'pm2.pid'), 'utf8'));
  return {
    async reload() {
      try {
        await call('reload', name);
        return { ok: true };
      } catch (error) {
        return { ok: false, error: error.message };
      }
    },
    async stop() {
      await within(call('delete', name), 10_000, 'pm2 delete').catch(() => {});
      await within(call('killDaemon'), 10_000, 'pm2 killDaemon').catch(() => {});
      await new Promise((resolve) => api.disconnect(resolve));
      killGroup(daemonPid);
    },
  };
}
