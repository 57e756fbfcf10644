// The `arbor run --pretty` destination (a pino transport, run in pino's worker thread): pino-pretty for the tree's
// events, and a worker's output as one line each, prefixed with who printed it: `[root/pool/web-1 4242] listening`.
import { Writable } from 'node:stream';
import { pino } from 'pino';
import pinoPretty from 'pino-pretty';

export interface PrettyOptions {
  /** File descriptor written to (default 1). */
  destination?: number;
  colorize?: boolean;
}

/** Fields of a worker's own pino record that the prefix or the line already shows. */
const SHOWN_ELSEWHERE = new Set(['level', 'time', 'msg', 'pid', 'hostname']);

/** An `output` record as a short one: the level and time of the record, `[path pid] line` as its message. */
export function outputMessage(record: Record<string, unknown>): string {
  const prefix = `[${String(record.path)} ${String(record.pid ?? '-')}]`;
  const inner = record.record as Record<string, unknown> | undefined;
  if (inner === undefined || inner === null || typeof inner !== 'object')
    return `${prefix} ${String(record.line ?? '')}`;
  const rest = Object.fromEntries(Object.entries(inner).filter(([key]) => !SHOWN_ELSEWHERE.has(key)));
  const extra = Object.keys(rest).length > 0 ? ` ${JSON.stringify(rest)}` : '';
  return typeof inner.msg === 'string' ? `${prefix} ${inner.msg}${extra}` : `${prefix} ${JSON.stringify(inner)}`;
}

export default function prettyTransport(options: PrettyOptions = {}): Writable {
  const prettify = pinoPretty.prettyFactory({ colorize: options.colorize ?? false });
  const out = pino.destination({ dest: options.destination ?? 1, sync: true });
  let partial = '';
  const render = (text: string): string => {
    let record: Record<string, unknown>;
    try {
      record = JSON.parse(text) as Record<string, unknown>;
    } catch {
      return `${text}\n`;
    }
    if (record.event !== 'output') return prettify(record);
    return prettify({ level: record.level, time: record.time, msg: outputMessage(record) });
  };
  return new Writable({
    write(chunk: Buffer | string, _encoding, done) {
      partial += chunk.toString();
      const lines = partial.split('\n');
      partial = lines.pop() ?? '';
      const text = lines
        .filter((line) => line.length > 0)
        .map(render)
        .join('');
      if (text.length > 0) out.write(text);
      done();
    },
    final(done) {
      if (partial.length > 0) out.write(render(partial));
      out.flushSync();
      done();
    },
  });
}
