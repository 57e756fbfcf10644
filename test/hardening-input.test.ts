// A worker's messages are untrusted input. What it says about its end is bounded where it enters the supervisor
// (4 KiB messages and details, 16 KiB stacks, cut with a marker); a message over 1 MiB, or bytes without a line
// end, get the worker killed with { ipcOverflow }; garbage costs one log line per interval; last words only qualify
// the exit they announce; and a stdout nobody reads never stalls a restart.
// Needs the build: fixtures import arbor-otp/worker from dist/, and one test runs `arbor run`.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { ControlClient, type ProcStats } from '../src/control/client.js';
import { REPORT_LIMITS, boundDetail, truncate } from '../src/protocol.js';
import { start, supervisor, worker, type Tree, type TreeEvent, type WorkerOptions } from '../src/index.js';
import { MAX_MESSAGE_BYTES } from '../src/worker/inbox.js';
import { CLI, repo } from './support/arbor-run.js';
import { isRunning, treeMembers } from './support/process-tree.js';
import { eventually, fixture, recorder } from './support/tree.js';

const ARBOR = pathToFileURL(join(repo, 'dist/index.js')).href;
const MARKER = /…\[truncated \d+ chars\]$/;
/** The length a cut text had: what was kept plus the count in its marker. */
const keptPlusCut = (text: string): number => {
  const match = /…\[truncated (\d+) chars\]$/.exec(text)!;
  return match.index + Number(match[1]);
};

const trees: Tree[] = [];
const dirs: string[] = [];
const spawned: ChildProcess[] = [];

afterEach(async () => {
  for (const tree of trees.splice(0)) await tree.stop({ brutal: true }).catch(() => undefined);
  for (const proc of spawned.splice(0)) {
    const members = treeMembers(proc.pid!);
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
    for (const member of members) if (isRunning(member.pid)) process.kill(member.pid, 'SIGKILL');
  }
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'arbor-input-'));
  dirs.push(dir);
  return dir;
}

async function hostileTree(mode: string, options: Partial<WorkerOptions> = {}, env: Record<string, string> = {}) {
  const rec = recorder();
  const tree = await start(
    supervisor({
      id: 'root',
      intensity: 20,
      children: [
        worker({
          id: 'h',
          module: fixture('hostile.mjs'),
          restart: 'transient',
          ...options,
          env: { HOSTILE: mode, ...env },
        }),
      ],
    }),
    { logger: rec.logger },
  );
  trees.push(tree);
  return { tree, rec };
}

const exitOf = (rec: ReturnType<typeof recorder>) =>
  rec.waitFor((e) => e.event === 'child_exited' && e.child === 'h', 'the hostile worker exits') as Promise<
    Extract<TreeEvent, { event: 'child_exited' }>
  >;

describe('truncate and boundDetail (the cut at the entry)', () => {
  it('a text is kept when it fits, else cut to the limit, marker included, and marked with how much was cut', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 300 }), fc.integer({ min: 30, max: 200 }), (text, max) => {
        const cut = truncate(text, max);
        if (text.length <= max) return cut === text;
        const count = Number(/…\[truncated (\d+) chars\]$/.exec(cut)?.[1]);
        const kept = text.length - count;
        return (
          cut.length <= max && cut === `${text.slice(0, kept)}…[truncated ${count} chars]` && truncate(cut, max) === cut
        );
      }),
    );
  });

  it('a detail is kept when its JSON fits 4 KiB, else becomes its JSON cut and marked', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 3 }), (value) => {
        const bounded = boundDetail(value);
        const json = JSON.stringify(value);
        if (typeof value !== 'string' && json.length <= REPORT_LIMITS.detail) return bounded === value;
        if (typeof value === 'string') return bounded === truncate(value, REPORT_LIMITS.detail);
        return bounded === truncate(json, REPORT_LIMITS.detail);
      }),
    );
    expect(boundDetail('D'.repeat(2e7))).toMatch(MARKER);
    expect((boundDetail('D'.repeat(2e7)) as string).length).toBeLessThanOrEqual(REPORT_LIMITS.detail);
  });
});

describe('what a worker says about its end', () => {
  it('forged last words: a shutdown notice then SIGKILL is { signal: SIGKILL }, and a transient worker restarts', async () => {
    const { rec } = await hostileTree('forged-shutdown');
    const exit = await exitOf(rec);
    expect(exit.reason).toEqual({ signal: 'SIGKILL' });
    expect(exit.action).toBe('restart');
  });

  it('a stale shutdown notice: an unrelated clean exit 4 s later is normal, not { shutdown: detail }', async () => {
    const { rec } = await hostileTree('stale-shutdown');
    const exit = await exitOf(rec);
    expect(exit.reason).toBe('normal');
    expect(exit.action).toBe('keep_stopped');
  });

  it('shutdown() without a detail is reason shutdown (a normal exit: the transient worker stays stopped)', async () => {
    const { rec } = await hostileTree('no-detail');
    const exit = await exitOf(rec);
    expect(exit.reason).toBe('shutdown');
    expect(exit.action).toBe('keep_stopped');
  });

  it('a 500 KB error message and stack sent raw are cut at entry: 4 KiB and 16 KiB, marked', async () => {
    const { rec } = await hostileTree('raw-error', { restart: 'temporary' }, { FIXTURE_BYTES: '500000' });
    const { reason } = await exitOf(rec);
    const { error, stack } = reason as { error: string; stack: string };
    expect(error).toMatch(MARKER);
    expect(error.startsWith('M'.repeat(REPORT_LIMITS.message - 40))).toBe(true);
    expect(error.length).toBeLessThanOrEqual(REPORT_LIMITS.message);
    expect(stack).toMatch(/^S+…\[truncated \d+ chars\]$/);
    expect(stack.length).toBeLessThanOrEqual(REPORT_LIMITS.stack);
  });

  it('an uncaught Error with a 1 MB message: the reason is cut the same way (the runtime cuts before sending)', async () => {
    const { rec } = await hostileTree('huge-error', { restart: 'temporary' }, { FIXTURE_BYTES: '1000000' });
    const { reason } = await exitOf(rec);
    const { error, stack } = reason as { error: string; stack: string };
    expect(error).toMatch(MARKER);
    expect(error.length).toBeLessThanOrEqual(REPORT_LIMITS.message);
    expect(stack.length).toBeLessThanOrEqual(REPORT_LIMITS.stack);
    // Cut once, by the runtime: the count still says how long the message was.
    expect(keptPlusCut(error)).toBe(1_000_000);
  });

  it('20 raw 500 KB shutdown notices then shutdown(500 KB): one reason, its detail cut to 4 KiB', async () => {
    const { rec } = await hostileTree('huge-details', {}, { FIXTURE_BYTES: '500000', FIXTURE_COUNT: '20' });
    const exit = await exitOf(rec);
    const detail = (exit.reason as { shutdown: string }).shutdown;
    expect(detail).toMatch(MARKER);
    expect(detail.length).toBeLessThanOrEqual(REPORT_LIMITS.detail);
    expect(keptPlusCut(detail)).toBe(500_000);
    expect(exit.action).toBe('keep_stopped');
  });

  it('a 20 MB message gets its sender killed with { ipcOverflow } before it is buffered whole', async () => {
    const { rec } = await hostileTree(
      'huge-details',
      { restart: 'temporary' },
      { FIXTURE_BYTES: String(2e7), FIXTURE_COUNT: '3' },
    );
    const { reason } = await exitOf(rec);
    const pending = (reason as { ipcOverflow: number }).ipcOverflow;
    expect(pending).toBeGreaterThan(MAX_MESSAGE_BYTES);
    expect(pending).toBeLessThan(MAX_MESSAGE_BYTES + 1024 * 1024);
  });

  it('a worker whose maxMessageBytes is 4 MiB may send() 2 MiB: the line limit follows the spec', async () => {
    const { rec } = await hostileTree(
      'big-send',
      { maxMessageBytes: 4 * 1024 * 1024 },
      { FIXTURE_BYTES: String(2 * 1024 * 1024) },
    );
    const got = await rec.waitFor((e) => e.event === 'worker_message', 'the 2 MiB message');
    expect((got as { message: { payload: string } }).message.payload.length).toBe(2 * 1024 * 1024);
    expect(rec.of('child_exited')).toEqual([]);
  });

  it('bytes without a line end poured into the IPC descriptor: killed with { ipcOverflow }, the tree lives on', async () => {
    const { tree, rec } = await hostileTree('raw-flood', { restart: 'temporary' });
    const exit = await exitOf(rec);
    expect(exit.reason).toEqual({ ipcOverflow: expect.any(Number) });
    expect(exit.action).toBe('remove');
    expect(tree.status().state).toBe('running');
    expect(tree.whichChildren('root')).toEqual([]);
  });
});

describe('a worker flooding its channel with garbage', () => {
  it('costs one ipc_ignored line per interval, and its sibling is still restarted while it floods', async () => {
    const rec = recorder();
    const tree = await start(
      supervisor({
        id: 'root',
        intensity: 20,
        children: [
          worker({ id: 'flood', module: fixture('hostile.mjs'), env: { HOSTILE: 'flood', FIXTURE_MS: '3000' } }),
          worker({ id: 'victim', module: fixture('ready.mjs') }),
        ],
      }),
      { logger: rec.logger },
    );
    trees.push(tree);
    const began = Date.now();
    // The flood begins 200 ms after ready: the sibling is killed once it is under way.
    await rec.waitFor((e) => (e.event as string) === 'ipc_ignored', 'the flood begins', 20_000);
    const victim = tree.whichChildren('root')[1]!.pid!;
    process.kill(victim, 'SIGKILL');
    await rec.waitFor(
      (e) => e.event === 'child_started' && e.child === 'victim' && e.pid !== victim,
      'the victim restarts',
      20_000,
    );
    await tree.terminateChild('root', 'flood'); // flushes its count
    const ignored = rec.events.filter((e) => (e.event as string) === 'ipc_ignored') as unknown as Array<{
      messages: number;
    }>;
    const total = ignored.reduce((sum, line) => sum + line.messages, 0);
    expect(total).toBeGreaterThan(1000);
    // One line per 5 s interval however many messages: the first line, a summary per interval the flood (and the
    // draining of what it queued, slower on a loaded machine) lasted, and the flush.
    const intervals = Math.ceil((Date.now() - began) / 5000);
    expect(ignored.length).toBeLessThanOrEqual(2 + intervals);
    expect(ignored.length).toBeLessThan(total / 100);
  });
});

describe('a stdout nobody reads', () => {
  it('never stalls a restart: lines are dropped and counted, and one log_dropped line says how many', async () => {
    const dir = tempDir();
    const trace = join(dir, 'victim.jsonl');
    const loud = join(dir, 'loud.txt');
    writeFileSync(loud, '');
    const spec = join(dir, 'spec.mjs');
    writeFileSync(
      spec,
      `import { supervisor, worker } from '${ARBOR}';
export default supervisor({ id: 'root', intensity: 1000, period: 5000, children: [
  ...[1, 2, 3].map((n) => worker({ id: \`loud-\${n}\`, module: ${JSON.stringify(fixture('crash-loudly.mjs'))}, env: { FIXTURE_TRACE_FILE: ${JSON.stringify(loud)} } })),
  worker({ id: 'victim', module: ${JSON.stringify(fixture('ready.mjs'))}, env: { FIXTURE_TRACE_FILE: ${JSON.stringify(trace)} } }),
] });
`,
    );
    const control = join(dir, 'ctl.sock');
    const proc = spawn(process.execPath, [CLI, 'run', spec, '--control', control], {
      detached: true,
      stdio: ['ignore', 'pipe', 'ignore'],
      env: { ...process.env, TMPDIR: dir, XDG_RUNTIME_DIR: '' },
    });
    spawned.push(proc);
    proc.stdout!.pause(); // nobody reads: the pipe fills after a few hundred KiB
    const starts = (file: string) => readFileSync(file, 'utf8').split('\n').filter(Boolean);
    // Each crash logs a child_exited line of ~20 KiB (message and stack at their limits): 40 fill the pipe (a few
    // hundred KiB) and the 256 KiB the supervisor lets wait, so lines are dropped.
    await eventually(() => starts(loud).length >= 40, '40 crashes of the loud workers', 90_000);
    const readyPids = () =>
      starts(trace)
        .map((line) => JSON.parse(line))
        .filter((t) => t.event === 'ready')
        .map((t) => t.pid as number);
    const [victim] = readyPids();
    process.kill(victim!, 'SIGKILL');
    await eventually(() => readyPids().length >= 2, 'the victim is restarted while stdout is full', 20_000);
    const client = new ControlClient(control);
    try {
      const stats = (await client.request('proc')) as ProcStats;
      expect(stats.rss).toBeLessThan(300 * 1024 * 1024);
    } finally {
      client.close();
    }
    // Reading again: what was dropped is said in one line.
    let text = '';
    proc.stdout!.on('data', (chunk: Buffer) => (text += chunk.toString()));
    proc.stdout!.resume();
    await eventually(() => /"event":"log_dropped","lines":\d+/.test(text), 'a log_dropped line', 20_000);
  }, 120_000);
});
