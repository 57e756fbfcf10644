// `arbor chaos`: the command line of runChaos(). Parses its own options, shows progress on stderr, prints the
// report (text or --json) on stdout.
import { parseArgs } from 'node:util';
import { ControlError } from '../control/client.js';
import { reachTree } from '../control/runs.js';
import { ChaosUsageError, FAULT_KINDS, parseDuration, parseMix } from './plan.js';
import { renderReport } from './report.js';
import { ChaosError, runChaos } from './run.js';

export const CHAOS_USAGE = `Usage:
  arbor chaos [--url <url>] [--duration <time>] [--rate <n>] [--mix <faults>] [--seed <n>] [--target <supervisor-path>]
              [--concurrency <n>] [--timeout <time>] [--control <path>] [--json] [--report <file.html>]
              [--fail-on-refused]

Drives HTTP load at --url (every request on a new connection) while injecting faults into the workers of a running
\`arbor run\`, chosen at random (seeded), then reports what the clients saw, the restarts, and what leaked.
IPC faults (throw, exit, hang, memory) need workers started with ARBOR_CHAOS=1: without it they are skipped (and
the report says so), not counted as injected. A pid is signalled only after checking it is a child of the
supervisor that holds the control socket.

Options:
  --url <url>             the service to load (default: the tree's listener, when it has one)
  --duration <time>       how long: 30s, 2m or ms (default 30s); the last quarter (at most 4 s) has no faults
  --rate <n>              faults per second (default 1)
  --mix <faults>          comma list with optional weights (default all):
                          ${FAULT_KINDS.join(', ')} — e.g. sigkill:3,throw,hang
  --seed <n>              seeds the fault schedule (default random; printed, to replay a run)
  --target <path>         only the workers at or below this supervisor (default: every worker)
  --concurrency <n>       requests in flight at once (default 16)
  --timeout <time>        per-request timeout (default 10s)
  --control <path>        the control socket of the \`arbor run\` (default: the only run alive; several: refused)
  --json                  print the report as JSON
  --report <file.html>    also write the report as one self-contained HTML page: requests, failures and latency
                          per 100 ms, faults and restarts on one time axis (opens without network access)
  --fail-on-refused       exit 1 when any connection was refused

Exit: 0 when the run completed (the report says what happened), 1 for --fail-on-refused with refused
connections or an unreachable arbor, 2 for a bad command line.
`;

const EXIT_OK = 0;
const EXIT_FAILURE = 1;
const EXIT_USAGE = 2;
/** Progress: redrawn in place on a terminal; otherwise (CI logs) one line now and then. */
const TTY_PROGRESS_MS = 250;
const LOG_PROGRESS_MS = 5000;

export async function chaosCommand(argv: string[]): Promise<number> {
  try {
    return await chaos(argv);
  } catch (error) {
    if (error instanceof ChaosUsageError || (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(`arbor chaos: ${(error as Error).message}\n\n${CHAOS_USAGE}`);
      return EXIT_USAGE;
    }
    if (error instanceof ControlError || error instanceof ChaosError) {
      process.stderr.write(`${error.code}: ${error.message}\n`);
      return EXIT_FAILURE;
    }
    throw error;
  }
}

async function chaos(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      url: { type: 'string' },
      duration: { type: 'string' },
      rate: { type: 'string' },
      mix: { type: 'string' },
      seed: { type: 'string' },
      target: { type: 'string' },
      concurrency: { type: 'string' },
      timeout: { type: 'string' },
      control: { type: 'string' },
      json: { type: 'boolean' },
      report: { type: 'string' },
      'fail-on-refused': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(CHAOS_USAGE);
    return EXIT_OK;
  }
  if (positionals.length > 0) throw new ChaosUsageError(`unexpected argument '${positionals[0]}'`);
  const url = values.url;
  if (url !== undefined && (!URL.canParse(url) || new URL(url).protocol !== 'http:')) {
    throw new ChaosUsageError(`--url: '${url}' is not an http:// URL`);
  }
  const tty = process.stderr.isTTY === true;
  const options = {
    ...(url !== undefined ? { url } : {}),
    durationMs: parseDuration(values.duration ?? '30s'),
    rate: numberOption('rate', values.rate, 1),
    mix: parseMix(values.mix ?? 'all'),
    ...(values.seed !== undefined ? { seed: integerOption('seed', values.seed, 0, 2 ** 32 - 1) } : {}),
    ...(values.target !== undefined ? { supervisor: values.target } : {}),
    concurrency: integerOption('concurrency', values.concurrency ?? '16', 1, 10_000),
    timeoutMs: values.timeout === undefined ? 10_000 : parseDuration(values.timeout),
    progressIntervalMs: tty ? TTY_PROGRESS_MS : LOG_PROGRESS_MS,
    onProgress: (line: string) => process.stderr.write(tty ? `\r${line}\x1b[K` : `${line}\n`),
    ...(values.report !== undefined ? { report: values.report } : {}),
  };
  // The command line is good: now find the tree, and say which one was reached.
  const { control, notes } = reachTree(values.control, 'change');
  for (const note of notes) process.stderr.write(note.startsWith(' ') ? `${note}\n` : `arbor chaos: ${note}\n`);
  const report = await runChaos({ ...options, control });
  if (tty) process.stderr.write('\n');
  if (values.report !== undefined) process.stderr.write(`arbor chaos: HTML report written to ${values.report}\n`);
  process.stdout.write(values.json ? `${JSON.stringify(report, null, 2)}\n` : renderReport(report));
  return values['fail-on-refused'] && report.requests.errors.refused > 0 ? EXIT_FAILURE : EXIT_OK;
}

function numberOption(name: string, text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (text.trim() === '' || !Number.isFinite(value)) throw new ChaosUsageError(`--${name}: '${text}' is not a number`);
  return value;
}

function integerOption(name: string, text: string, min: number, max: number): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new ChaosUsageError(`--${name} must be an integer from ${min} to ${max}`);
  }
  return value;
}
