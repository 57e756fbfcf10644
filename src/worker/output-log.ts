// The recent output of every worker of a tree, kept per child path across its incarnations (so what a dead
// incarnation printed before it died can still be read), numbered tree-wide so a reader can ask for what came after
// the last line it saw. Bounded twice: each child keeps at most `perChildBytes`, the whole log `totalBytes` (the
// children written to longest ago lose their lines first: dynamic children come and go without end).
import type { Logger } from 'pino';
import type { OutputLine, OutputSink } from './output.js';

/** A line as the tree keeps it: where it came from and its number in the tree's output. */
export type LoggedLine = OutputLine & {
  /** Its number in the log: each line has the next one. */
  seq: number;
  /** The child's path, e.g. `root/pool/web-1`. */
  path: string;
};

export interface OutputLogLimits {
  perChildBytes: number;
  totalBytes: number;
}

export const OUTPUT_LOG_LIMITS: OutputLogLimits = { perChildBytes: 64 * 1024, totalBytes: 8 * 1024 * 1024 };

/** What a line is counted as: its text (or record's source) plus the fields around it. */
const LINE_OVERHEAD_BYTES = 96;

export interface OutputPage {
  lines: LoggedLine[];
  /** Pass as `since` to read what comes next. */
  next: number;
  /** Lines after `since` in this scope may have been dropped from the log (it is bounded) before this read. */
  gap: boolean;
}

interface Ring {
  lines: Array<{ line: LoggedLine; bytes: number }>;
  bytes: number;
  /** The number of the newest line dropped from this ring (0: none). */
  droppedThrough: number;
}

/** `path` is `scope` or below it; no scope is the whole tree. */
export function inScope(path: string, scope: string | undefined): boolean {
  return scope === undefined || path === scope || path.startsWith(`${scope}/`);
}

export class OutputLog {
  /** In order of the last write: the first is the ring written to longest ago. */
  private readonly rings = new Map<string, Ring>();
  private bytes = 0;
  private seq = 0;
  /** The number of the newest line of a whole ring dropped for the total bound. */
  private evictedThrough = 0;
  private readonly listeners = new Set<(line: LoggedLine) => void>();

  constructor(private readonly limits: OutputLogLimits = OUTPUT_LOG_LIMITS) {}

  /** The number of the newest line. */
  get lastSeq(): number {
    return this.seq;
  }

  append(path: string, output: OutputLine, sourceBytes: number): LoggedLine {
    const line: LoggedLine = { seq: ++this.seq, path, ...output };
    const bytes = sourceBytes + path.length + LINE_OVERHEAD_BYTES;
    let ring = this.rings.get(path);
    if (ring) this.rings.delete(path); // re-inserted last: the most recently written
    ring ??= { lines: [], bytes: 0, droppedThrough: 0 };
    this.rings.set(path, ring);
    ring.lines.push({ line, bytes });
    ring.bytes += bytes;
    this.bytes += bytes;
    let drop = 0;
    while (ring.bytes > this.limits.perChildBytes && drop < ring.lines.length - 1) {
      ring.bytes -= ring.lines[drop]!.bytes;
      this.bytes -= ring.lines[drop]!.bytes;
      drop += 1;
    }
    if (drop > 0) ring.droppedThrough = ring.lines.splice(0, drop).at(-1)!.line.seq;
    for (const [oldest, other] of this.rings) {
      if (this.bytes <= this.limits.totalBytes || other === ring) break;
      this.rings.delete(oldest);
      this.bytes -= other.bytes;
      this.evictedThrough = Math.max(this.evictedThrough, other.lines.at(-1)?.line.seq ?? 0);
    }
    for (const listener of this.listeners) listener(line);
    return line;
  }

  /** The newest `count` lines in `scope`, oldest first, within `maxBytes`. */
  recent(scope: string | undefined, count: number, maxBytes = Infinity): OutputPage {
    const picked: Array<{ line: LoggedLine; bytes: number }> = [];
    if (count <= 0) return { lines: [], next: this.seq, gap: false };
    for (const [path, ring] of this.rings) if (inScope(path, scope)) picked.push(...ring.lines.slice(-count));
    picked.sort((a, b) => b.line.seq - a.line.seq);
    const lines: LoggedLine[] = [];
    let bytes = 0;
    for (const entry of picked) {
      if (lines.length === count || bytes + entry.bytes > maxBytes) break;
      lines.push(entry.line);
      bytes += entry.bytes;
    }
    return { lines: lines.reverse(), next: this.seq, gap: false };
  }

  /** The lines in `scope` numbered after `since`, oldest first: at most `count` of them and `maxBytes`. */
  after(scope: string | undefined, since: number, count: number, maxBytes = Infinity): OutputPage {
    const picked: Array<{ line: LoggedLine; bytes: number }> = [];
    let gap = this.evictedThrough > since;
    for (const [path, ring] of this.rings) {
      if (!inScope(path, scope)) continue;
      if (ring.droppedThrough > since) gap = true;
      picked.push(...ring.lines.slice(firstAfter(ring, since)));
    }
    picked.sort((a, b) => a.line.seq - b.line.seq);
    const lines: LoggedLine[] = [];
    let bytes = 0;
    for (const entry of picked) {
      if (lines.length === count || bytes + entry.bytes > maxBytes) break;
      lines.push(entry.line);
      bytes += entry.bytes;
    }
    const complete = lines.length === picked.length;
    return { lines, next: complete ? Math.max(since, this.seq) : (lines.at(-1)?.seq ?? since), gap };
  }

  /** Calls `listener` with every line appended from now on; returns the function that stops it. */
  subscribe(listener: (line: LoggedLine) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}

/** Index of the first line of `ring` numbered after `since` (lines are in order). */
function firstAfter(ring: Ring, since: number): number {
  let low = 0;
  let high = ring.lines.length;
  while (low < high) {
    const mid = (low + high) >>> 1;
    if (ring.lines[mid]!.line.seq <= since) low = mid + 1;
    else high = mid;
  }
  return low;
}

/**
 * Where a worker's lines go: one log record each (`event: 'output'`, with the child's path, pid and stream; a JSON
 * line as `record`, any other as `line`), and the tree's output log.
 */
export function outputSink(path: string, logger: Logger, log: OutputLog | undefined): OutputSink {
  return {
    line(output, bytes) {
      const { stream, pid, line, record, truncated } = output;
      const content = record !== undefined ? { record } : { line, ...(truncated !== undefined ? { truncated } : {}) };
      logger[stream === 'stderr' ? 'warn' : 'info']({ event: 'output', path, pid, stream, ...content });
      log?.append(path, output, bytes);
    },
    dropped({ pid, lines, bytes }) {
      logger.warn({ event: 'output_dropped', path, pid, lines, bytes, reason: 'over the rate of output lines' });
    },
  };
}
