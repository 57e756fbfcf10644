// The default log destination of a supervisor: JSON lines on stdout that can never stall supervision.
// Node's own stdout cannot promise that: its writes to a pipe are synchronous on Linux, so a pipe nobody reads
// would block the supervisor's one thread, and with it every restart.
// Lines are written here off the main thread (node's thread pool, one write at a time); beyond a bound they are
// dropped and counted, and one `log_dropped` line says how many once stdout moves again. Workers' output lines
// (`event: 'output'`) may take only part of that bound, so a worker that floods its output never crowds out the
// tree's own events.
import { write } from 'node:fs';
import { pino, type DestinationStream, type Logger } from 'pino';

/** Bytes of log lines waiting for a slow stdout reader before new lines are dropped. */
export const MAX_PENDING_LOG_BYTES = 256 * 1024;
/** The part of the bound that workers' output lines may take. */
export const OUTPUT_SHARE = 0.5;
/** How an output record starts after pino's level, time and the child logger's bindings (supervisor, child). */
const OUTPUT_MARK = ',"event":"output",';
/** How long to wait before writing again when the descriptor is non-blocking and full. */
const RETRY_MS = 20;

export class BoundedLogWriter implements DestinationStream {
  private queue: string[] = [];
  /** Bytes queued or being written. */
  private pending = 0;
  private writing = false;
  private dropped = 0;
  private broken = false;
  private readonly idle = new Set<() => void>();

  constructor(
    private readonly fd: number = 1,
    private readonly maxPending: number = MAX_PENDING_LOG_BYTES,
  ) {}

  write(line: string): void {
    if (this.broken) return;
    const bytes = Buffer.byteLength(line);
    const bound = line.includes(OUTPUT_MARK) ? this.maxPending * OUTPUT_SHARE : this.maxPending;
    if (this.pending + bytes > bound) {
      this.dropped += 1;
      return;
    }
    this.queue.push(line);
    this.pending += bytes;
    if (!this.writing) this.writeNext();
  }

  /** Resolves once every line is written, or after `timeoutMs` (a stdout nobody reads) — before an exit. */
  flushed(timeoutMs: number): Promise<void> {
    if (!this.writing) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.idle.delete(done);
        resolve();
      };
      const timer = setTimeout(done, timeoutMs);
      this.idle.add(done);
    });
  }

  private writeNext(): void {
    if (this.dropped > 0) {
      const note = {
        level: 40,
        time: Date.now(),
        event: 'log_dropped',
        lines: this.dropped,
        reason: 'stdout was not read',
      };
      const line = `${JSON.stringify(note)}\n`;
      this.queue.unshift(line);
      this.pending += Buffer.byteLength(line);
      this.dropped = 0;
    }
    if (this.queue.length === 0) {
      this.writing = false;
      for (const done of [...this.idle]) done();
      return;
    }
    const data = Buffer.from(this.queue.join(''));
    this.queue = [];
    this.writing = true;
    this.writeOut(data);
  }

  private writeOut(data: Buffer): void {
    write(this.fd, data, 0, data.length, null, (error, written) => {
      if (error) {
        if ((error as NodeJS.ErrnoException).code === 'EAGAIN')
          return void setTimeout(() => this.writeOut(data), RETRY_MS).unref();
        // The reader went away (EPIPE) or there is no stdout: lines have nowhere to go, which is no reason to crash.
        this.broken = true;
        this.queue = [];
        this.pending = 0;
        this.writing = false;
        for (const done of [...this.idle]) done();
        return;
      }
      this.pending -= written;
      if (written < data.length) return this.writeOut(data.subarray(written));
      this.writeNext();
    });
  }
}

const writers = new Set<BoundedLogWriter>();

/** The logger a tree uses when none is given: JSON lines on stdout, without pino's pid/hostname base fields (events
 * carry the pid of the process they are about, which would clash). */
export function stdoutLogger(): Logger {
  const writer = new BoundedLogWriter();
  writers.add(writer);
  return pino({ base: undefined }, writer);
}

/** Waits, at most `timeoutMs`, until every stdout logger has written its lines: call before `process.exit`. */
export async function flushStdoutLogs(timeoutMs: number): Promise<void> {
  await Promise.all([...writers].map((writer) => writer.flushed(timeoutMs)));
}
