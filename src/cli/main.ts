#!/usr/bin/env node
// The `arbor` command (DESIGN.md §8): `arbor run` runs a tree in the foreground; the other commands talk to a
// running one over its control socket.
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type { ChildInfo, SupervisorStatus } from '../supervisor/tree.js';
import { parseAdminAddress, type AdminOptions } from '../admin/server.js';
import type { ReloadResult } from '../reload/index.js';
import { ControlClient, ControlError, splitChildPath, type ControlOp, type RunInfo } from '../control/client.js';
import { reachTree } from '../control/runs.js';
import { ControlPathError } from '../control/socket-path.js';
import { flushStdoutLogs } from '../log/stdout.js';
import { EXIT_FAILURE, EXIT_OK, EXIT_USAGE } from './exit-codes.js';
import { renderReload } from './reload-view.js';
import { run } from './run.js';
import { renderStatus } from './status-view.js';
import { watchStatus } from './watch.js';
import { logsCommand } from './logs.js';
import { MAX_LOG_LINES } from '../control/logs.js';

const USAGE = `Usage:
  arbor run <spec-module> [--control <path>] [--pretty] [--admin <host:port> [--admin-errors] [--admin-child-metrics]] [--watch [--watch-path <path> ...]]
  arbor status [<supervisor-path>] [--control <path>] [--json | --watch]
  arbor restart <supervisor-path>/<child-id> [--control <path>]
  arbor stop-child <supervisor-path>/<child-id> [--control <path>]
  arbor start-child <supervisor-path> [args...] [--control <path>]
  arbor delete-child <supervisor-path>/<child-id> [--control <path>]
  arbor reload [<path>] [--max-surge <n>] [--dry-run] [--control <path>]
  arbor logs [<path>] [-f] [-n <lines>] [--json] [--control <path>]
  arbor chaos [--url <url>] [--duration <time>] [--rate <n>] [--mix <faults>] [--seed <n>] ... (arbor chaos --help)
  arbor --help | --version

run           start the tree exported (default export) by a .js/.mjs or .ts/.mts module; logs JSON lines to stdout.
              SIGTERM/SIGINT stop it gracefully (exit 0); a second signal kills every child (exit 128+signal).
              SIGHUP reloads the whole tree (as \`arbor reload\`).
              --watch: reload on every change of the files under the spec's directory (and each --watch-path);
              node_modules, dotfiles, dist/, build/, coverage/ and *.log are not watched.
              Exit 1 when the root gives up or fails to start, 2 for a bad spec or a module that does not load.
status        print the live tree of a running \`arbor run\` (the one at --control, else the latest; stderr says which).
              --watch: redraw it every second (RSS and CPU of each worker, listener queues, recent events)
              until Ctrl-C; when stdout is not a terminal, print one plain frame after another.
restart       terminate a child (if running) and start it again.
stop-child    terminate a child; it stays stopped (a dynamic child is removed).
start-child   start a simple_one_for_one child (a worker, or a whole subtree) with extra args (put '--' before args that start with '-').
delete-child  remove the spec of a stopped child.
reload        read the spec module anew and apply what changed under <path> (children added, removed, changed),
              then replace every worker under <path> (a supervisor or a worker; default the whole tree) by a new
              process with the code now on disk, each beside the old one, which drains once the new one serves.
              Exit 1 if the spec does not load, validate or apply in place (nothing changed), or if a new worker
              fails to start: the reload stops there and the old workers keep serving.
logs          print what the workers at or under <path> (a child or a supervisor; default all) printed lately,
              each line as [<child path> <pid>] <line>; a worker's stderr lines go to stderr. A dead incarnation's
              last lines are kept. -f: go on printing new lines until Ctrl-C or the run ends.
chaos         kill workers of a running tree under HTTP load, then report what clients saw and what leaked.

Options:
  --control <path>  the control socket. run: default arbor-<pid>.sock in a private directory ($XDG_RUNTIME_DIR/arbor,
                    else <temp dir>/arbor-<uid>). Other commands: default the run of this user that is alive (several:
                    status takes the latest, commands that change a tree ask for --control).
  --pretty          run: human-readable logs (pino-pretty); workers' lines as [<child path> <pid>] <line>
  --admin <addr>    run: serve /healthz, /readyz, /metrics and /tree on host:port (off by default)
  --admin-errors    run: /tree shows error text and stacks of exits (hidden by default)
  --admin-child-metrics  run: series of their own for each dynamic child (default: summed per template path)
  --json            status: print the raw status JSON (with \`run\`: which arbor run answered); logs: one JSON
                    object per line (path, pid, stream, seq, time, and line or record)
  -f, --follow      logs: print new lines as they come
  -n, --lines <n>   logs: how many recent lines to print first (default 50, at most ${MAX_LOG_LINES})
  --watch           status: a live view, redrawn every second
  --max-surge <n>   reload: workers of one supervisor replaced at a time (default 1)
  --dry-run         reload: print what the reload would do, change nothing
  --watch           run: reload on every change of the project's files (debounced 200 ms)
  --watch-path <p>  run --watch: watch this directory or file too (repeatable)
`;

/** Set by `arbor run`, which may leave handles behind (a loader thread, a logger transport) when it is done. */
let exitExplicitly = false;

/** Thrown for a command line that cannot be understood: printed with the usage hint, exit 2. */
class UsageError extends Error {}

/** How long an exit waits for log lines to reach a stdout that is read slowly, or not at all. */
const LOG_FLUSH_MS = 2000;

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
      'admin-errors': { type: 'boolean' },
      'admin-child-metrics': { type: 'boolean' },
      json: { type: 'boolean' },
      watch: { type: 'boolean' },
      'watch-path': { type: 'string', multiple: true },
      'max-surge': { type: 'string' },
      'dry-run': { type: 'boolean' },
      follow: { type: 'boolean', short: 'f' },
      lines: { type: 'string', short: 'n' },
      help: { type: 'boolean', short: 'h' },
      version: { type: 'boolean', short: 'v' },
    },
  });
  if (values.help) return print(USAGE);
  if (values.version) return print(`${readVersion()}\n`);
  const [command, ...operands] = positionals;
  if (values.pretty && command !== 'run') throw new UsageError('--pretty applies to `arbor run` only');
  if (values.admin !== undefined && command !== 'run') throw new UsageError('--admin applies to `arbor run` only');
  for (const flag of ['admin-errors', 'admin-child-metrics'] as const) {
    if (values[flag] && values.admin === undefined)
      throw new UsageError(`--${flag} applies to \`arbor run --admin\` only`);
  }
  if (values.json && command !== 'status' && command !== 'logs')
    throw new UsageError('--json applies to `arbor status` and `arbor logs` only');
  if ((values.follow || values.lines !== undefined) && command !== 'logs')
    throw new UsageError('--follow and --lines apply to `arbor logs` only');
  if (values.watch && command !== 'status' && command !== 'run')
    throw new UsageError('--watch applies to `arbor run` and `arbor status` only');
  if (values['watch-path'] && !(command === 'run' && values.watch))
    throw new UsageError('--watch-path applies to `arbor run --watch` only');
  if (values['dry-run'] && command !== 'reload') throw new UsageError('--dry-run applies to `arbor reload` only');
  if (values.watch && values.json) throw new UsageError('--watch and --json do not go together');
  if (values['max-surge'] !== undefined && command !== 'reload')
    throw new UsageError('--max-surge applies to `arbor reload` only');

  if (command === 'run') {
    if (operands.length !== 1) throw new UsageError('`arbor run` takes one spec module');
    let admin: AdminOptions | undefined;
    try {
      admin =
        values.admin !== undefined
          ? {
              ...parseAdminAddress(values.admin),
              exposeErrors: values['admin-errors'] ?? false,
              dynamicChildMetrics: values['admin-child-metrics'] ?? false,
            }
          : undefined;
    } catch (error) {
      throw new UsageError((error as Error).message);
    }
    // `arbor run` may leave handles behind (a loader thread, a logger transport) when it is done.
    exitExplicitly = true;
    const modulePath = operands[0]!;
    const watch = values.watch
      ? [dirname(resolve(modulePath)), ...(values['watch-path'] ?? []).map((p) => resolve(p))]
      : undefined;
    return run({
      modulePath,
      pretty: values.pretty ?? false,
      ...(values.control !== undefined ? { control: values.control } : {}),
      ...(admin ? { admin } : {}),
      ...(watch ? { watch } : {}),
    });
  }
  if (command === 'status') {
    if (operands.length > 1) throw new UsageError('`arbor status` takes at most one supervisor path');
    if (values.watch) {
      exitExplicitly = true;
      const path = operands[0];
      const tty = process.stdout.isTTY === true;
      return withClient(values.control, 'read', (client) =>
        watchStatus({ client, out: process.stdout, tty, ...(path ? { path } : {}) }),
      );
    }
    return withClient(values.control, 'read', async (client) => {
      const status = (await client.request('status', operands[0] ? { path: operands[0] } : {})) as SupervisorStatus;
      if (!values.json) return print(renderStatus(status));
      // Which run answered (pid, spec, control socket, start time), beside the status itself.
      const run = (await client.request('info')) as RunInfo;
      return print(`${JSON.stringify({ ...status, run }, null, 2)}\n`);
    });
  }
  if (command === 'logs') {
    if (operands.length > 1) throw new UsageError('`arbor logs` takes at most one path');
    const lines = values.lines === undefined ? 50 : Number(values.lines);
    if (!(Number.isSafeInteger(lines) && lines >= 0 && lines <= MAX_LOG_LINES))
      throw new UsageError(`--lines takes an integer from 0 to ${MAX_LOG_LINES}`);
    if (values.follow) exitExplicitly = true; // Ctrl-C ends it
    const path = operands[0];
    return withClient(values.control, 'read', (client) =>
      logsCommand({
        client,
        lines,
        follow: values.follow ?? false,
        json: values.json ?? false,
        out: process.stdout,
        err: process.stderr,
        ...(path ? { path } : {}),
      }),
    );
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
    return withClient(
      values.control,
      'change',
      async (client) => {
        const params = {
          ...(operands[0] ? { path: operands[0] } : {}),
          ...(maxSurge !== undefined ? { maxSurge } : {}),
          ...(values['dry-run'] ? { dryRun: true } : {}),
        };
        return print(renderReload((await client.request('reload', params)) as ReloadResult));
      },
      RELOAD_TIMEOUT_MS,
    );
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
  const manifest = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
    version: string;
  };
  return manifest.version;
}

/** A reload answers once every old worker has drained: each may take its whole shutdown timeout. */
const RELOAD_TIMEOUT_MS = 30 * 60_000;

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
