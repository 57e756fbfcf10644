// A worker's stdout and stderr, read by its supervisor line by line so that nothing the worker prints reaches the
// supervisor's own stdout raw (where it would break the JSON log), and every line says who printed it.
// The worker is untrusted: a line is cut at `maxLineBytes`, lines beyond a rate are counted and dropped (one
// summary says how many), and the pipes are always read, so a flood costs the worker its lines, never a stall of the
// supervisor or of the worker's own writes. The capture outlives the worker by at most `exitGraceMs`: a grandchild
// that left the worker's process group may hold the pipes open, and it is not waited for.
import type { ChildProcess } from 'node:child_process';
import type { Readable } from 'node:stream';

/** Which of a worker's streams a line came from. */
export type OutputStream = 'stdout' | 'stderr';

/** One line a worker wrote, as the supervisor read it. */
export interface OutputLine {
  /** `stdout` or `stderr`. */
  stream: OutputStream;
  /** The pid of the incarnation that wrote it. */
  pid: number | undefined;
  /** When the supervisor read the line (ms since the epoch). */
  time: number;
  /** The line, without its newline; absent when the line was one JSON object (`record`). */
  line?: string;
  /** A line that was one JSON object (a pino record, say), kept as that object. */
  record?: Record<string, unknown>;
  /** Bytes cut from the end of a line longer than the limit. */
  truncated?: number;
}

/** Lines dropped for their rate since the last summary. */
export interface DroppedOutput {
  pid: number | undefined;
  lines: number;
  bytes: number;
}

/** Where the lines of one process go once it has a place in the tree. */
export interface OutputSink {
  /** `bytes`: the size of the line as it was read (what keeping it costs). */
  line(line: OutputLine, bytes: number): void;
  dropped(summary: DroppedOutput): void;
}

export interface OutputLimits {
  /** Longer lines are cut here (the rest of the line is counted in `truncated`). */
  maxLineBytes: number;
  /** Sustained lines per second of one process (both streams); beyond it lines are dropped and counted. */
  linesPerSecond: number;
  /** Lines a process may print at once above the sustained rate. */
  burst: number;
  /** Lines held while no sink is attached (a standby spare before its takeover): the newest are kept. */
  heldLines: number;
  /** The last stderr lines kept to explain a failed start: at most this many lines... */
  tailLines: number;
  /** ...and this many bytes. */
  tailBytes: number;
  /** After the process exits, how long its pipes may stay open (held by a grandchild) before they are closed. */
  exitGraceMs: number;
}

export const OUTPUT_LIMITS: OutputLimits = {
  maxLineBytes: 16 * 1024,
  linesPerSecond: 1000,
  burst: 1000,
  heldLines: 200,
  tailLines: 20,
  tailBytes: 4096,
  exitGraceMs: 200,
};

/** How soon after lines were dropped the summary is emitted, if no accepted line comes first. */
const DROP_SUMMARY_MS = 1000;

/** The stdio option that pipes a forked process's output to its supervisor (stdin closed, IPC channel last). */
export const CAPTURED_STDIO: ['ignore', 'pipe', 'pipe', 'ipc'] = ['ignore', 'pipe', 'pipe', 'ipc'];

const captures = new WeakMap<ChildProcess, OutputCapture>();

/** Starts reading the output of a process forked with CAPTURED_STDIO. */
export function captureOutput(child: ChildProcess, limits: OutputLimits = OUTPUT_LIMITS): OutputCapture {
  const capture = new OutputCapture(child, limits);
  captures.set(child, capture);
  return capture;
}

/** The capture of a process forked elsewhere (a standby spare taking over), if it has one. */
export function outputOf(child: ChildProcess): OutputCapture | undefined {
  return captures.get(child);
}

interface Splitter {
  parts: Buffer[];
  bytes: number;
  /** Bytes of the current line beyond the limit, not kept. */
  cut: number;
}

export class OutputCapture {
  private sink: OutputSink | undefined;
  private held: Array<{ line: OutputLine; bytes: number }> = [];
  private readonly tail: string[] = [];
  private tailBytes = 0;
  private tokens: number;
  private refilledAt = performance.now();
  private droppedLines = 0;
  private droppedBytes = 0;
  private summaryTimer: NodeJS.Timeout | undefined;
  private readonly streams: Readable[] = [];
  private open = 0;
  private readonly ended = new Set<() => void>();

  constructor(
    private readonly child: ChildProcess,
    private readonly limits: OutputLimits,
  ) {
    this.tokens = limits.burst;
    for (const [stream, name] of [
      [child.stdout, 'stdout'],
      [child.stderr, 'stderr'],
    ] as const) {
      if (stream) this.read(stream, name);
    }
    child.once('exit', () => {
      // Whatever is still open after the grace belongs to a process that outlived the worker: stop reading it.
      const timer = setTimeout(() => this.close(), limits.exitGraceMs);
      timer.unref();
    });
  }

  /** Sends every line from now on (and those held so far) to `sink`. */
  attach(sink: OutputSink): void {
    this.sink = sink;
    const held = this.held;
    this.held = [];
    for (const { line, bytes } of held) sink.line(line, bytes);
  }

  /** A spare's pipes must not keep the supervisor alive; a worker's may (its process does anyway). */
  setRef(ref: boolean): void {
    for (const stream of this.streams) {
      const socket = stream as Readable & { ref?: () => void; unref?: () => void };
      if (ref) socket.ref?.();
      else socket.unref?.();
    }
  }

  /** The last lines this process wrote to stderr (bounded), oldest first. */
  stderrTail(): string[] {
    return [...this.tail];
  }

  /** Resolves once both pipes are closed and every line has been passed on. */
  done(): Promise<void> {
    if (this.open === 0) return Promise.resolve();
    return new Promise((resolve) => this.ended.add(resolve));
  }

  /** Stops reading (the pipes of a process that is gone). */
  close(): void {
    for (const stream of this.streams) if (!stream.destroyed) stream.destroy();
  }

  private read(stream: Readable, name: OutputStream): void {
    this.streams.push(stream);
    this.open += 1;
    const splitter: Splitter = { parts: [], bytes: 0, cut: 0 };
    stream.on('data', (chunk: Buffer) => this.receive(chunk, splitter, name));
    stream.on('error', () => stream.destroy());
    stream.once('close', () => {
      if (splitter.bytes > 0 || splitter.cut > 0) this.complete(splitter, name); // a last line without a newline
      this.open -= 1;
      if (this.open > 0) return;
      this.summarize();
      for (const resolve of this.ended) resolve();
      this.ended.clear();
    });
  }

  private receive(chunk: Buffer, splitter: Splitter, name: OutputStream): void {
    let start = 0;
    let newline: number;
    while ((newline = chunk.indexOf(0x0a, start)) >= 0) {
      this.keep(splitter, chunk.subarray(start, newline));
      this.complete(splitter, name);
      start = newline + 1;
    }
    if (start < chunk.length) this.keep(splitter, chunk.subarray(start));
  }

  private keep(splitter: Splitter, piece: Buffer): void {
    const room = this.limits.maxLineBytes - splitter.bytes;
    if (piece.length <= room) {
      if (piece.length > 0) splitter.parts.push(piece);
      splitter.bytes += piece.length;
      return;
    }
    // A copy of the part kept: a subarray would keep the whole chunk alive.
    if (room > 0) splitter.parts.push(Buffer.from(piece.subarray(0, room)));
    splitter.bytes += Math.max(0, room);
    splitter.cut += piece.length - Math.max(0, room);
  }

  private complete(splitter: Splitter, name: OutputStream): void {
    const bytes = splitter.bytes + splitter.cut;
    let text = Buffer.concat(splitter.parts, splitter.bytes).toString('utf8');
    const cut = splitter.cut;
    splitter.parts = [];
    splitter.bytes = 0;
    splitter.cut = 0;
    if (text.endsWith('\r')) text = text.slice(0, -1);
    if (name === 'stderr') this.remember(text);
    if (!this.take()) {
      this.droppedLines += 1;
      this.droppedBytes += bytes + 1;
      this.summaryTimer ??= setTimeout(() => this.summarize(), DROP_SUMMARY_MS).unref();
      return;
    }
    this.summarize();
    const line: OutputLine = { stream: name, pid: this.child.pid, time: Date.now(), ...contentOf(text, cut) };
    const kept = bytes - cut;
    if (this.sink) this.sink.line(line, kept);
    else {
      this.held.push({ line, bytes: kept });
      if (this.held.length > this.limits.heldLines) this.held.shift();
    }
  }

  /** A token for one line, refilled at `linesPerSecond` up to `burst`. */
  private take(): boolean {
    const now = performance.now();
    this.tokens = Math.min(
      this.limits.burst,
      this.tokens + ((now - this.refilledAt) / 1000) * this.limits.linesPerSecond,
    );
    this.refilledAt = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }

  private summarize(): void {
    clearTimeout(this.summaryTimer);
    this.summaryTimer = undefined;
    if (this.droppedLines === 0) return;
    const summary = { pid: this.child.pid, lines: this.droppedLines, bytes: this.droppedBytes };
    this.droppedLines = 0;
    this.droppedBytes = 0;
    this.sink?.dropped(summary);
  }

  private remember(text: string): void {
    const line = text.length > this.limits.tailBytes ? `${text.slice(0, this.limits.tailBytes)}…` : text;
    this.tail.push(line);
    this.tailBytes += line.length;
    while (
      this.tail.length > this.limits.tailLines ||
      (this.tailBytes > this.limits.tailBytes && this.tail.length > 1)
    ) {
      this.tailBytes -= this.tail.shift()!.length;
    }
  }
}

/** A line that is one JSON object is embedded as that object; anything else stays text. */
function contentOf(text: string, cut: number): Pick<OutputLine, 'line' | 'record' | 'truncated'> {
  const truncated = cut > 0 ? { truncated: cut } : {};
  if (cut === 0 && text.startsWith('{') && text.endsWith('}')) {
    try {
      const value: unknown = JSON.parse(text);
      if (value !== null && typeof value === 'object' && !Array.isArray(value))
        return { record: value as Record<string, unknown> };
    } catch {
      // Not JSON after all: kept as text.
    }
  }
  return { line: text, ...truncated };
}
