// `arbor logs [path] [-f] [-n N] [--json]`: what the workers of a running tree printed, each line prefixed with the
// child's path and pid (`[root/pool/web-1 4242] listening`); a worker's stderr lines go to stderr. `-f` follows by
// asking for the lines after the last one seen, so the supervisor holds nothing for this client between requests.
import type { Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { ControlError, type ControlClient } from '../control/client.js';
import type { LoggedLine, OutputPage } from '../worker/output-log.js';

/** How often `-f` asks for new lines when the last answer had none waiting. */
const FOLLOW_POLL_MS = 250;

export interface LogsCommand {
  client: ControlClient;
  /** A child or a supervisor (its subtree); undefined for the whole tree. */
  path?: string;
  lines: number;
  follow: boolean;
  json: boolean;
  out: Writable;
  err: Writable;
}

/** The line as `arbor logs` prints it: `[path pid] text`, a JSON line as its JSON. */
export function formatLine(line: LoggedLine): string {
  const text =
    line.record !== undefined
      ? JSON.stringify(line.record)
      : `${line.line ?? ''}${line.truncated ? ` …[+${line.truncated} bytes]` : ''}`;
  return `[${line.path} ${line.pid ?? '-'}] ${text}\n`;
}

export async function logsCommand(command: LogsCommand): Promise<number> {
  const { client, path, out, err } = command;
  const scope = path !== undefined ? { path } : {};
  const show = (page: OutputPage): void => {
    if (page.gap)
      err.write('arbor: some lines were dropped before they could be read (the log keeps the most recent)\n');
    for (const line of page.lines) {
      if (command.json) out.write(`${JSON.stringify(line)}\n`);
      else (line.stream === 'stderr' ? err : out).write(formatLine(line));
    }
  };
  let page = (await client.request('logs', { ...scope, lines: command.lines })) as OutputPage;
  show(page);
  if (!command.follow) return 0;
  for (;;) {
    if (page.lines.length === 0) await sleep(FOLLOW_POLL_MS);
    try {
      page = (await client.request('logs', { ...scope, since: page.next })) as OutputPage;
    } catch (error) {
      // The run ended: following is over.
      if (error instanceof ControlError && (error.code === 'connection' || error.code === 'no_arbor')) {
        err.write('arbor: the run ended\n');
        return 0;
      }
      throw error;
    }
    show(page);
  }
}
