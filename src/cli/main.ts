#!/usr/bin/env node
// The `arbor` command (DESIGN.md §8): `arbor run` runs a tree in the foreground; the other commands talk to a
// running one over its control socket.
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import { pino, type Logger } from 'pino';
import type { ChildInfo, SupervisorStatus, Tree } from '../supervisor/tree.js';
import { start } from '../start.js';
import { parseAdminAddress, type AdminOptions } from '../admin/server.js';
import { SpecError, assertValidSpec } from '../supervisor/validate.js';
import { withModulesResolvedFrom } from '../supervisor/spec.js';
import { StartFailure } from '../child.js';
import { ReloadError, type ReloadResult } from '../reload/index.js';
import { describeReason, type ExitReason } from '../types.js';
import { ControlClient, ControlError, splitChildPath, type ControlOp } from '../control/client.js';
import { ControlServer } from '../control/server.js';
import { defaultControlPath, reachTree, recordRun } from '../control/runs.js';
import { ControlPathError } from '../control/socket-path.js';
import { flushStdoutLogs, stdoutLogger } from '../log/stdout.js';
import { EventLog } from '../control/event-log.js';
import { renderStatus } from './status-view.js';
import { watchStatus } from './watch.js';

const USAGE = `Usage:
  arbor run <spec-module> [--control <path>] [--pretty] [--admin <host:port>]
  arbor status [<supervisor-path>] [--control <path>] [--json | --watch]
  arbor restart <supervisor-path>/<child-id> [--control <path>]
  arbor stop-child <supervisor-path>/<child-id> [--control <path>]
  arbor start-child <supervisor-path> [args...] [--control <path>]
  arbor delete-child <supervisor-path>/<child-id> [--control <path>]
  arbor reload [<path>] [--max-surge <n>] [--control <path>]
  arbor chaos [--url <url>] [--duration <time>] [--rate <n>] [--mix <faults>] [--seed <n>] ... (arbor chaos --help)
  arbor --help | --version

run           start the tree exported (default export) by a .js/.mjs or .ts/.mts module; logs JSON lines to stdout.
              SIGTERM/SIGINT stop it gracefully (exit 0); a second signal kills every child (exit 128+signal).
              SIGHUP reloads the whole tree (as \`arbor reload\`).
              Exit 1 when the root gives up or fails to start, 2 for a bad spec or a module that does not load.
status        print the live tree of a running \`arbor run\` (the one at --control, else the latest; stderr says which).
              --watch: redraw it every second (RSS and CPU of each worker, listener queues, recent events)
              until Ctrl-C; when stdout is not a terminal, print one plain frame after another.
restart       terminate a child (if running) and start it again.
stop-child    terminate a child; it stays stopped (a dynamic child is removed).
start-child   start a simple_one_for_one child (a worker, or a whole subtree) with extra args (put '--' before args that start with '-').
delete-child  remove the spec of a stopped child.
reload        replace every worker under <path> (a supervisor or a worker; default the whole tree) by a new
              process with the code now on disk, each beside the old one, which drains once the new one serves.
              Exit 1 if a new worker fails to start: the reload stops there and the old workers keep serving.
chaos         kill workers of a running tree under HTTP load, then report what clients saw and what leaked.

Options:
  --control <path>  the control socket. run: default arbor-<pid>.sock in a private directory ($XDG_RUNTIME_DIR/arbor,
                    else <temp dir>/arbor-<uid>). Other commands: default the run of this user that is alive (several:
                    status takes the latest, commands that change a tree ask for --control).
  --pretty          run: human-readable logs through pino-pretty, when it is installed
  --admin <addr>    run: serve /healthz, /readyz, /metrics and /tree on host:port (off by default)
  --json            status: print the raw status JSON
  --watch           status: a live view, redrawn every second
  --max-surge <n>   reload: workers of one supervisor replaced at a time (default 1)
`;

/** Set by `arbor run`, which may leave handles behind (a loader thread, a logger transport) when it is done. */
let exitExplicitly = false;

/** Thrown for a command line that cannot be understood: printed with the usage hint, exit 2. */
class UsageError extends Error {}

/** How long an exit waits for log lines to reach a stdout that is read slowly, or not at all. */
const LOG_FLUSH_MS = 2000;
const EXIT_OK = 0;
const EXIT_FAILURE = 1;
const EXIT_USAGE = 2;
const SIGNAL_NUMBERS: Record<'SIGINT' | 'SIGTERM', number> = { SIGINT: 2, SIGTERM: 15 };

/** Commands that act on one child, named `<supervisor-path>/<child-id>`, and the word their success prints. */
const CHILD_COMMANDS: Record<string, { op: ControlOp; done: string }> = {
  restart: { op: 'restart', done: 'restarted' },
  'stop-child': { op: 'stop-child', done: 'stopped' },
  'delete-child': { op: 'delete-child', done: 'deleted' },
};

async function main(argv: string[]): Promise<number> {
  // `chaos` has options of its own, parsed (and its usage printed) by its module.
  if (argv[0] === 'chaos') {
    exitExplicitly = true; // a request still in flight at the deadline must not hold the exit
    const { chaosCommand } = await import('../chaos/cli.js'); // loaded only for this command
    return chaosCommand(argv.slice(1));
  }
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      control: { type: 'string' },
      pretty: { type: 'boolean' },
      admin: { type: 'string' },
      json: { type: 'boolean' },
      watch: { type: 'boolean' },
      'max-surge': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
      version: { type: 'boolean', short: 'v' },
    },
  });
  if (values.help) return print(USAGE);
  if (values.version) return print(`${readVersion()}\n`);
  const [command, ...operands] = positionals;
  if (values.pretty && command !== 'run') throw new UsageError('--pretty applies to `arbor run` only');
  if (values.admin !== undefined && command !== 'run') throw new UsageError('--admin applies to `arbor run` only');
  if (values.json && command !== 'status') throw new UsageError('--json applies to `arbor status` only');
  if (values.watch && command !== 'status') throw new UsageError('--watch applies to `arbor status` only');
  if (values.watch && values.json) throw new UsageError('--watch and --json do not go together');
  if (values['max-surge'] !== undefined && command !== 'reload') throw new UsageError('--max-surge applies to `arbor reload` only');

  if (command === 'run') {
    if (operands.length !== 1) throw new UsageError('`arbor run` takes one spec module');
    let admin: AdminOptions | undefined;
    try {
      admin = values.admin !== undefined ? parseAdminAddress(values.admin) : undefined;
    } catch (error) {
      throw new UsageError((error as Error).message);
    }
    return run(operands[0]!, values.control, values.pretty ?? false, admin);
  }
  if (command === 'status') {
    if (operands.length > 1) throw new UsageError('`arbor status` takes at most one supervisor path');
    if (values.watch) {
      exitExplicitly = true;
      const path = operands[0];
      const tty = process.stdout.isTTY === true;
      return withClient(values.control, 'read', (client) => watchStatus({ client, out: process.stdout, tty, ...(path ? { path } : {}) }));
    }
    return withClient(values.control, 'read', async (client) => {
      const status = (await client.request('status', operands[0] ? { path: operands[0] } : {})) as SupervisorStatus;
      return print(values.json ? `${JSON.stringify(status, null, 2)}\n` : renderStatus(status));
    });
  }
  if (command === 'start-child') {
    const [supervisor, ...args] = operands;
    if (!supervisor) throw new UsageError('`arbor start-child` needs a supervisor path, e.g. root/jobs');
    return withClient(values.control, 'change', async (client) => {
      const child = (await client.request('start-child', { path: supervisor, args })) as ChildInfo;
      return print(`started ${supervisor}/${child.id}${child.pid !== undefined ? ` (pid ${child.pid})` : ''}\n`);
    });
  }
  if (command === 'reload') {
    if (operands.length > 1) throw new UsageError('`arbor reload` takes at most one path');
    const maxSurge = values['max-surge'] === undefined ? undefined : Number(values['max-surge']);
    if (maxSurge !== undefined && !(Number.isSafeInteger(maxSurge) && maxSurge >= 1)) {
      throw new UsageError('--max-surge takes an integer >= 1');
    }
    return withClient(values.control, 'change', async (client) => {
      const params = { ...(operands[0] ? { path: operands[0] } : {}), ...(maxSurge !== undefined ? { maxSurge } : {}) };
      return print(renderReload((await client.request('reload', params)) as ReloadResult));
    }, RELOAD_TIMEOUT_MS);
  }
  const childCommand = command !== undefined ? CHILD_COMMANDS[command] : undefined;
  if (childCommand) {
    const path = operands[0];
    if (operands.length !== 1 || !path || !splitChildPath(path)) {
      throw new UsageError(`\`arbor ${command}\` takes one <supervisor-path>/<child-id>, e.g. root/worker-1`);
    }
    return withClient(values.control, 'change', async (client) => {
      const result = await client.request(childCommand.op, { path });
      const pid = (result as Partial<ChildInfo>).pid;
      return print(`${childCommand.done} ${path}${pid !== undefined ? ` (pid ${pid})` : ''}\n`);
    });
  }
  throw new UsageError(command === undefined ? 'no command given' : `unknown command '${command}'`);
}

function print(text: string): number {
  process.stdout.write(text);
  return EXIT_OK;
}

function readVersion(): string {
  const manifest = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return manifest.version;
}

/** A reload answers once every old worker has drained: each may take its whole shutdown timeout. */
const RELOAD_TIMEOUT_MS = 30 * 60_000;

function renderReload(result: ReloadResult): string {
  const lines = [`reloaded ${result.path}: ${result.replaced.length} worker(s) replaced in ${(result.took / 1000).toFixed(1)} s`];
  for (const r of result.replaced) {
    lines.push(`  ${r.supervisor}/${r.child}  pid ${r.oldPid ?? '-'} → ${r.newPid ?? '-'}  ready in ${r.took} ms`);
  }
  for (const skipped of result.skipped) lines.push(`  skipped ${skipped}`);
  return `${lines.join('\n')}\n`;
}

/**
 * Runs one client command against the tree at `--control`, or else the latest run of this user, saying on stderr
 * which one was reached. A command that changes a tree is refused while several runs are alive and none was named.
 * A refusal or an unreachable arbor prints `code: message` and exits 1.
 */
async function withClient(
  controlPath: string | undefined,
  kind: 'read' | 'change',
  command: (client: ControlClient) => Promise<number>,
  timeoutMs?: number,
): Promise<number> {
  let client: ControlClient | undefined;
  try {
    const { control, notes } = reachTree(controlPath, kind);
    for (const note of notes) process.stderr.write(note.startsWith(' ') ? `${note}\n` : `arbor: ${note}\n`);
    client = new ControlClient(control, timeoutMs);
    return await command(client);
  } catch (error) {
    if (!(error instanceof ControlError) && !(error instanceof ControlPathError)) throw error;
    const code = error instanceof ControlError ? error.code : 'bad_control_path';
    process.stderr.write(`${code}: ${error.message}\n`);
    return EXIT_FAILURE;
  } finally {
    client?.close();
  }
}

// ---- arbor run ----

/** Imports the spec module and returns its default export, called if it is a function. */
async function loadSpec(modulePath: string): Promise<unknown> {
  const file = resolve(modulePath);
  if (!existsSync(file)) throw new Error(`no such file: ${file}`);
  const url = pathToFileURL(file).href;
  let exported: unknown;
  if (/\.[cm]?ts$/.test(file)) {
    // Loaded only when needed: plain JavaScript specs start without the TypeScript loader.
    const { tsImport } = await import('tsx/esm/api');
    exported = ((await tsImport(url, import.meta.url)) as { default?: unknown }).default;
    // A .ts file outside an ESM package is compiled as CommonJS: its `export default` is one level down.
    if (exported !== null && typeof exported === 'object' && '__esModule' in exported && 'default' in exported) {
      exported = exported.default;
    }
  } else {
    exported = ((await import(url)) as { default?: unknown }).default;
  }
  if (exported === undefined) throw new Error('the module has no default export (export default supervisor({ ... }))');
  const spec = typeof exported === 'function' ? await (exported as () => unknown)() : exported;
  // Relative worker modules are relative to the spec file, as its own imports are.
  return withModulesResolvedFrom(spec, dirname(file));
}

/** JSON lines on stdout; a stdout nobody reads drops lines rather than stalling the tree (../log/stdout.ts). */
const jsonLogger = (): Logger => stdoutLogger();

function createLogger(pretty: boolean): Logger {
  if (!pretty) return jsonLogger();
  try {
    // Looked up from the user's project first, then from arbor's own dependencies.
    const target = createRequire(join(process.cwd(), 'noop.js')).resolve('pino-pretty');
    return pino({ base: undefined }, pino.transport({ target, options: { destination: 1 } }));
  } catch {
    try {
      return pino({ base: undefined }, pino.transport({ target: createRequire(import.meta.url).resolve('pino-pretty'), options: { destination: 1 } }));
    } catch {
      process.stderr.write('arbor: --pretty needs pino-pretty (npm install pino-pretty); logging JSON lines\n');
      return jsonLogger();
    }
  }
}

async function run(modulePath: string, explicitControl: string | undefined, pretty: boolean, admin: AdminOptions | undefined): Promise<number> {
  exitExplicitly = true;
  let spec: unknown;
  try {
    spec = await loadSpec(modulePath);
    assertValidSpec(spec);
  } catch (error) {
    if (error instanceof SpecError) process.stderr.write(`arbor: ${error.message}\n`);
    else process.stderr.write(`arbor: cannot load ${modulePath}: ${error instanceof Error ? error.message : String(error)}\n`);
    return EXIT_USAGE;
  }
  const validSpec = spec;
  const logger = createLogger(pretty);
  let tree: Tree | undefined;
  /** A stop was asked for (by a signal or the control socket); `stopping` once the tree is actually stopping. */
  let stopRequested = false;
  let stopping = false;
  let rootAutoShutdown = false;
  let forcedExitCode: number | undefined;
  let settleExit!: (code: number) => void;
  const exitCode = new Promise<number>((resolve) => (settleExit = resolve));

  const stopGracefully = (cause: string): void => {
    if (stopping) return;
    stopRequested = true;
    if (!tree) {
      // Still starting: stopped as soon as start() resolves.
      logger.info({ event: 'stop_requested', cause, starting: true });
      return;
    }
    stopping = true;
    logger.info({ event: 'stop_requested', cause });
    // Settled by the forced stop's code instead, when a second signal cut this one short.
    void tree.stop().then(() => settleExit(forcedExitCode ?? EXIT_OK));
  };
  const onSignal = (signal: 'SIGINT' | 'SIGTERM'): void => {
    if (!stopRequested) return stopGracefully(signal);
    // A second signal: kill every child now, whatever their shutdown values.
    logger.warn({ event: 'stop_forced', cause: signal });
    const code = 128 + SIGNAL_NUMBERS[signal];
    forcedExitCode ??= code;
    // Still starting: there is no tree to kill yet; the workers forked so far exit when our IPC channels close.
    if (!tree) return exitNow(code);
    void tree.stop({ brutal: true }).then(() => settleExit(forcedExitCode ?? code));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  // SIGHUP reloads, as for most daemons; a failed reload is logged (reload_failed) and changes nothing else.
  process.on('SIGHUP', () => {
    if (!tree || stopRequested) return;
    logger.info({ event: 'reload_requested', cause: 'SIGHUP' });
    tree.reload().catch((error: unknown) => {
      if (error instanceof ReloadError && error.code === 'start_failed') return; // logged as reload_failed
      logger.warn({ event: 'reload_refused', cause: 'SIGHUP', error: (error as Error).message });
    });
  });

  let control: ControlServer | undefined;
  let forgetRun: (() => void) | undefined;
  const closeControl = (): void => {
    control?.close();
    forgetRun?.();
  };
  const events = new EventLog();
  const exitNow = (code: number): void => {
    closeControl();
    // Forced: nothing more may start, so no wait for log lines still being written.
    process.exit(code);
  };
  const specFile = resolve(modulePath);
  const startedAt = Date.now();
  let controlPath = explicitControl ?? '';
  try {
    controlPath = resolve(explicitControl ?? defaultControlPath());
    const info = { spec: specFile, control: controlPath, startedAt };
    control = await ControlServer.open(controlPath, { tree: () => tree, stop: () => stopGracefully('control'), events, info });
    forgetRun = recordRun({ pid: process.pid, ...info });
  } catch (error) {
    closeControl();
    const where = controlPath ? ` ${controlPath}` : '';
    process.stderr.write(`arbor: cannot open the control socket${where}: ${(error as Error).message}\n`);
    return EXIT_FAILURE;
  }
  logger.info({ event: 'control_listening', control: controlPath });

  try {
    // systemd (NOTIFY_SOCKET) is told READY=1 once the tree runs; the admin endpoint answers from before the start.
    tree = await start(validSpec, { logger, notify: true, ...(admin ? { admin } : {}) });
  } catch (error) {
    closeControl();
    if (error instanceof SpecError) {
      process.stderr.write(`arbor: ${error.message}\n`);
      return EXIT_USAGE;
    }
    const reason = error instanceof StartFailure ? error.reason : { startFailed: (error as Error).message };
    logger.error({ event: 'tree_start_failed', supervisor: validSpec.id, reason });
    process.stderr.write(`arbor: the tree failed to start: ${describeReason(reason)}\n`);
    return EXIT_FAILURE;
  }
  events.follow(tree);
  tree.on('auto_shutdown', (event) => {
    if (event.supervisor === validSpec.id) rootAutoShutdown = true;
  });
  void tree.done.then((reason: ExitReason) => {
    if (stopping) return;
    // The root stopped by itself: it gave up (max intensity), or shut itself down through autoShutdown.
    const code = rootAutoShutdown ? EXIT_OK : EXIT_FAILURE;
    logger[code === EXIT_OK ? 'info' : 'error']({ event: 'tree_exited', reason, exitCode: code });
    settleExit(code);
  });
  if (stopRequested) stopGracefully('signal during start');

  const code = await exitCode;
  closeControl();
  return code;
}

main(process.argv.slice(2)).then(
  async (code) => {
    process.exitCode = code;
    // The last lines before an exit are written, unless stdout has stopped moving.
    await flushStdoutLogs(LOG_FLUSH_MS);
    if (exitExplicitly) process.exit(code);
  },
  (error: unknown) => {
    if (error instanceof UsageError || (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(`arbor: ${(error as Error).message}\n\n${USAGE}`);
      process.exit(EXIT_USAGE);
    }
    process.stderr.write(`arbor: ${(error as Error).stack ?? String(error)}\n`);
    process.exit(EXIT_FAILURE);
  },
);
