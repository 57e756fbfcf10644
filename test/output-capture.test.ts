// How a worker's output becomes lines (src/worker/output.ts), against a reference model (fast-check): however the
// bytes are cut into chunks, the same lines come out, each cut at the line limit; JSON objects are embedded; over
// the burst, lines are dropped and counted exactly; the stderr tail keeps the last lines within its bounds.
import type { ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { PassThrough } from 'node:stream';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  captureOutput,
  OUTPUT_LIMITS,
  type DroppedOutput,
  type OutputLimits,
  type OutputLine,
} from '../src/worker/output.js';

/** A process's two output pipes, fed by the test (the capture only reads `stdout`, `stderr`, `pid` and 'exit'). */
function pipes(): { child: ChildProcess; stdout: PassThrough; stderr: PassThrough } {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  const child = Object.assign(new EventEmitter(), { stdout, stderr, pid: 4242 }) as unknown as ChildProcess;
  return { child, stdout, stderr };
}

/** The reference: the text split at newlines, a last line without one included, each cut at `max` bytes. */
function model(text: string, max: number): Array<Pick<OutputLine, 'line' | 'record' | 'truncated'>> {
  const pieces = text.split('\n');
  if (pieces.at(-1) === '') pieces.pop();
  return pieces.map((piece) => {
    const bytes = Buffer.from(piece);
    if (bytes.length > max)
      return { line: bytes.subarray(0, max).toString('utf8').replace(/\r$/, ''), truncated: bytes.length - max };
    const line = piece.endsWith('\r') ? piece.slice(0, -1) : piece;
    if (line.startsWith('{') && line.endsWith('}')) {
      try {
        const value: unknown = JSON.parse(line);
        if (value !== null && typeof value === 'object' && !Array.isArray(value))
          return { record: value as Record<string, unknown> };
      } catch {
        // text
      }
    }
    return { line };
  });
}

const textArb = fc
  .array(
    fc.oneof(
      fc.constantFrom('\n', '\r\n', '{"a":1}', '{"msg":"x","n":[1,2]}', '{not json}', '[1]', 'é', '日本', 'plain text'),
      fc.string({ maxLength: 12 }),
    ),
    { maxLength: 40 },
  )
  .map((parts) => parts.join(''));

/** Cuts `bytes` at the given fractions. */
function chunks(bytes: Buffer, cuts: number[]): Buffer[] {
  const at = [...new Set(cuts.map((c) => Math.floor(c * bytes.length)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let from = 0;
  for (const cut of [...at, bytes.length]) {
    if (cut > from) out.push(bytes.subarray(from, cut));
    from = Math.max(from, cut);
  }
  return out;
}

async function capture(text: string, cuts: number[], limits: Partial<OutputLimits>) {
  const { child, stdout, stderr } = pipes();
  const output = captureOutput(child, { ...OUTPUT_LIMITS, ...limits });
  const lines: OutputLine[] = [];
  const dropped: DroppedOutput[] = [];
  output.attach({ line: (line) => lines.push(line), dropped: (summary) => dropped.push(summary) });
  const bytes = Buffer.from(text);
  for (const chunk of chunks(bytes, cuts)) stderr.write(chunk);
  stderr.end();
  stdout.end();
  await output.done();
  return { lines, dropped, tail: output.stderrTail() };
}

describe('output capture', () => {
  it('gives the same lines however the bytes are chunked: cut at the limit, JSON objects embedded, \\r\\n as \\n', async () => {
    await fc.assert(
      fc.asyncProperty(
        textArb,
        fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 8 }),
        fc.integer({ min: 4, max: 64 }),
        async (text, cuts, max) => {
          const { lines, dropped } = await capture(text, cuts, { maxLineBytes: max, burst: 10_000 });
          expect(dropped).toEqual([]);
          const got = lines.map(({ line, record, truncated }) => ({
            ...(line !== undefined ? { line } : {}),
            ...(record !== undefined ? { record } : {}),
            ...(truncated !== undefined ? { truncated } : {}),
          }));
          expect(got).toEqual(model(text, max));
          expect(lines.every((l) => l.stream === 'stderr' && l.pid === 4242)).toBe(true);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('over the burst, drops lines and counts exactly how many and how many bytes; keeps the stderr tail bounded', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.string({ maxLength: 30 }).map((s) => s.replace(/[\n\r]/g, '.')),
          { maxLength: 60 },
        ),
        fc.integer({ min: 1, max: 20 }),
        async (sent, burst) => {
          const text = sent.map((line) => `${line}\n`).join('');
          // Practically no refill during the run: the burst is all there is.
          const { lines, dropped, tail } = await capture(text, [0.5], {
            burst,
            linesPerSecond: 0.001,
            tailLines: 5,
            tailBytes: 40,
          });
          expect(lines.map(({ line, record }) => (record !== undefined ? { record } : { line }))).toEqual(
            sent.slice(0, burst).map((l) => model(`${l}\n`, 1e9)[0]),
          );
          const lost = sent.slice(burst);
          const counted = dropped.reduce((sum, d) => ({ lines: sum.lines + d.lines, bytes: sum.bytes + d.bytes }), {
            lines: 0,
            bytes: 0,
          });
          expect(counted).toEqual({
            lines: lost.length,
            bytes: lost.reduce((sum, l) => sum + Buffer.byteLength(l) + 1, 0),
          });
          // The tail: the last stderr lines (dropped ones too: they may be the explanation), at most 5 and ~40 bytes.
          expect(tail.length).toBeLessThanOrEqual(5);
          if (tail.length > 1) expect(tail.reduce((n, l) => n + l.length, 0)).toBeLessThanOrEqual(40);
          if (sent.length > 0)
            expect(tail.at(-1)).toBe(sent.at(-1)!.length > 40 ? `${sent.at(-1)!.slice(0, 40)}…` : sent.at(-1));
        },
      ),
      { numRuns: 200 },
    );
  });
});
