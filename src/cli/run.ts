// `arbor run`: the tree in the foreground, from its spec module to its exit code — signals (SIGTERM/SIGINT stop,
// SIGHUP reloads), the control socket, and with --watch a reload on every change of the project's files.
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino, type Logger } from 'pino';
import type { Tree } from '../supervisor/tree.js';
import { start } from '../start.js';
import type { AdminOptions } from '../admin/server.js';
import { SpecError, assertValidSpec } from '../supervisor/validate.js';
import { StartFailure } from '../child.js';
import { ReloadError, type ReloadErrorCode } from '../reload/index.js';
import { describeReason, type ExitReason } from '../types.js';
import { ControlServer } from '../control/server.js';
import { defaultControlPath, recordRun, runsDirFallback } from '../control/runs.js';
import { stdoutLogger } from '../log/stdout.js';
import { EventLog } from '../control/event-log.js';
import { EXIT_FAILURE, EXIT_OK, EXIT_USAGE } from './exit-codes.js';
import { loadSpecModule } from './spec-module.js';
import { watchAndReload } from './watch-reload.js';
import { stoppingNotice } from './stop-notice.js';

const SIGNAL_NUMBERS: Record<'SIGINT' | 'SIGTERM', number> = { SIGINT: 2, SIGTERM: 15 };
/** Reload errors the reload has logged itself (reload_failed, reload_refused). */
const LOGGED_BY_RELOAD: readonly ReloadErrorCode[] = ['start_failed', 'change_failed', 'bad_spec', 'cannot_change'];

/** JSON lines on stdout; a stdout nobody reads drops lines rather than stalling the tree (../log/stdout.ts). */
const jsonLogger = (): Logger => stdoutLogger();

function createLogger(pretty: boolean): Logger {
  if (!pretty) return jsonLogger();
  // pino-pretty for events, `[path pid] line` for a worker's output (../log/pretty.ts), in pino's worker thread.
  const target = fileURLToPath(new URL('../log/pretty.js', import.meta.url));
  try {
    return pino(
      { base: undefined },
      pino.transport({ target, options: { destination: 1, colorize: process.stdout.isTTY === true } }),
    );
  } catch (error) {
    process.stderr.write(`arbor: --pretty is not available (${(error as Error).message}); logging JSON lines\n`);
    return jsonLogger();
  }
}

export interface RunOptions {
  /** The spec module (.js/.mjs or .ts/.mts), as given. */
  modulePath: string;
  control?: string;
  pretty?: boolean;
  admin?: AdminOptions;
  /** `--watch`: reload on a change under these (the spec's directory, and each `--watch-path`). */
  watch?: readonly string[];
}

/** `arbor run`: runs the tree in the foreground until it is stopped or gives up; resolves with the exit code. */
export async function run(options: RunOptions): Promise<number> {
  const { modulePath, control: explicitControl, admin } = options;
  let spec: unknown;
  try {
    spec = await loadSpecModule(modulePath);
    assertValidSpec(spec);
  } catch (error) {
    if (error instanceof SpecError) process.stderr.write(`arbor: ${error.message}\n`);
    else
      process.stderr.write(
        `arbor: cannot load ${modulePath}: ${error instanceof Error ? error.message : String(error)}\n`,
      );
    return EXIT_USAGE;
  }
  const validSpec = spec;
  const logger = createLogger(options.pretty ?? false);
  let tree: Tree | undefined;
  /** A stop was asked for (by a signal or the control socket); `stopping` once the tree is actually stopping. */
  let stopRequested = false;
  let stopping = false;
  let rootAutoShutdown = false;
  let forcedExitCode: number | undefined;
  /** Aborted by a stop asked for during the start: the start stops starting and stops what it started. */
  const startAbort = new AbortController();
  let settleExit!: (code: number) => void;
  const exitCode = new Promise<number>((resolve) => (settleExit = resolve));

  const stopGracefully = (cause: string): void => {
    if (stopping) return;
    stopRequested = true;
    watching?.close(); // no reload may start while the tree stops
    if (!tree) {
      // Still starting: nothing more starts, and what started is stopped (start() then rejects).
      logger.info({ event: 'stop_requested', cause, starting: true });
      startAbort.abort();
      return;
    }
    stopping = true;
    logger.info({ event: 'stop_requested', cause });
    // Settled by the forced stop's code instead, when a second signal cut this one short.
    void tree.stop().then(() => settleExit(forcedExitCode ?? EXIT_OK));
  };
  const onSignal = (signal: 'SIGINT' | 'SIGTERM'): void => {
    if (!stopRequested) {
      // Someone at a terminal pressed Ctrl-C: say what the wait is for, and how to cut it short.
      if (signal === 'SIGINT' && process.stderr.isTTY) process.stderr.write(stoppingNotice(tree?.spec ?? validSpec));
      return stopGracefully(signal);
    }
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
      // Logged already, as reload_failed or reload_refused, with the details.
      if (error instanceof ReloadError && LOGGED_BY_RELOAD.includes(error.code)) return;
      logger.warn({ event: 'reload_refused', cause: 'SIGHUP', error: (error as Error).message });
    });
  });

  let control: ControlServer | undefined;
  let forgetRun: (() => void) | undefined;
  let watching: { close(): void } | undefined;
  const closeControl = (): void => {
    watching?.close();
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
    control = await ControlServer.open(controlPath, {
      tree: () => tree,
      stop: () => stopGracefully('control'),
      events,
      info,
    });
    forgetRun = recordRun({ pid: process.pid, ...info });
  } catch (error) {
    closeControl();
    const where = controlPath ? ` ${controlPath}` : '';
    process.stderr.write(`arbor: cannot open the control socket${where}: ${(error as Error).message}\n`);
    return EXIT_FAILURE;
  }
  const fallback = runsDirFallback();
  if (fallback)
    logger.warn({ event: 'runs_dir_fallback', dir: fallback.dir, instead: fallback.instead, reason: fallback.why });
  logger.info({ event: 'control_listening', control: controlPath });

  try {
    // systemd (NOTIFY_SOCKET) is told READY=1 once the tree runs; the admin endpoint answers from before the start.
    // reload() reads the spec anew from its module: what changed in it is applied before the workers are replaced.
    const readSpec = () =>
      loadSpecModule(modulePath, { fresh: true }).catch((error: unknown) => {
        throw new Error(`${modulePath}: ${error instanceof Error ? error.message : String(error)}`);
      });
    tree = await start(validSpec, {
      logger,
      notify: true,
      readSpec,
      signal: startAbort.signal,
      ...(admin ? { admin } : {}),
    });
  } catch (error) {
    closeControl();
    if (stopRequested && error instanceof StartFailure) {
      logger.info({ event: 'stopped_during_start', supervisor: validSpec.id });
      return forcedExitCode ?? EXIT_OK;
    }
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
  else if (options.watch) {
    const say = (line: string) => process.stderr.write(`arbor: ${line}\n`);
    watching = watchAndReload({ tree, logger, roots: options.watch, say });
  }

  const code = await exitCode;
  closeControl();
  return code;
}
