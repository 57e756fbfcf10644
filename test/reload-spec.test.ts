// `arbor reload` reads the spec anew, against a real `arbor run` under HTTP load: children added and removed in
// OTP's order (seen in the events), a pool grown and shrunk, a worker's env changed with 0 failed requests; a spec
// that does not load, does not validate or moves the listener is refused (exit 1, the tree untouched); --dry-run
// changes nothing. Needs the build (the CLI runs from dist/).
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ControlClient } from '../src/control/client.js';
import { parseRequest } from '../src/control/requests.js';
import type { SupervisorStatus } from '../src/index.js';
import { arborCommand, arborRunScope, repo, spawnArborRun, type ArborRun, type LogLine } from './support/arbor-run.js';
import { clientLoop, failures, get, versionOf } from './support/http.js';
import { fixture } from './support/tree.js';

const ARBOR = pathToFileURL(join(repo, 'dist/index.js')).href;
const { runs, tempDir } = arborRunScope('arbor-reload-spec-');

interface Shape {
  port?: number;
  pool: number;
  version: string;
  /** Idle workers of the root, after the pool. */
  extras: string[];
}

function writeSpec(file: string, shape: Shape): void {
  writeFileSync(
    file,
    `import { listener, supervisor, worker } from ${JSON.stringify(ARBOR)};
export default supervisor({
  strategy: 'rest_for_one',
  children: [
    listener({ id: 'http', port: ${shape.port ?? 0} }),
    supervisor({ id: 'pool', intensity: 5, period: 60000, children: Array.from({ length: ${shape.pool} }, (_, i) =>
      worker({ id: 'web-' + (i + 1), module: ${JSON.stringify(fixture('drain-http.mjs'))}, listen: 'http', env: { FIXTURE_VERSION: ${JSON.stringify(shape.version)} } })) }),
    ...${JSON.stringify(shape.extras)}.map((id) => worker({ id, module: ${JSON.stringify(fixture('ready.mjs'))} })),
  ],
});
`,
  );
}

async function status(arbor: ArborRun): Promise<SupervisorStatus> {
  const client = new ControlClient(arbor.control);
  try {
    return (await client.request('status', {})) as SupervisorStatus;
  } finally {
    client.close();
  }
}

/** The tree as `id pid` lines, depth first: equal before and after means nothing was started or stopped. */
function shapeOf(s: SupervisorStatus): string[] {
  return s.children.flatMap((c) => [
    `${s.path}/${c.id} ${c.pid ?? '-'}`,
    ...(c.supervisor ? shapeOf(c.supervisor) : []),
  ]);
}

const reload = (arbor: ArborRun, ...args: string[]) => arborCommand('reload', ...args, '--control', arbor.control);

/** The events logged since line `from`, as `event supervisor/child`. */
const eventsSince = (arbor: ArborRun, from: number, names: string[]): string[] =>
  arbor.lines
    .slice(from)
    .filter((l: LogLine) => names.includes(l.event ?? ''))
    .map((l) => `${l.event} ${l.supervisor}/${l.child}`);

describe('arbor reload reads the spec', () => {
  it('adds and removes children in OTP order, grows and shrinks the pool, changes env with 0 failed requests', async () => {
    const dir = tempDir();
    const spec = join(dir, 'spec.mjs');
    writeSpec(spec, { pool: 2, version: 'v1', extras: ['old-a', 'old-b'] });
    const arbor = spawnArborRun(spec, dir);
    runs.push(arbor);
    const bound = await arbor.line((l) => l.event === 'listener_bound', 'listener bound');
    await arbor.line((l) => l.event === 'supervisor_started' && l.supervisor === 'root', 'root started');
    const port = Number(String(bound.address).split(':').pop());
    const before = shapeOf(await status(arbor));

    writeSpec(spec, { pool: 3, version: 'v2', extras: ['new-1', 'new-2'] });
    const dry = await reload(arbor, '--dry-run');
    expect(dry).toMatchObject({ code: 0, stderr: '' });
    expect(dry.stdout).toBe(
      [
        'dry run of a reload of root: nothing changed',
        'the spec changes:',
        '  update root/pool/web-1: env',
        '  update root/pool/web-2: env',
        '  stop root/old-b',
        '  stop root/old-a',
        '  start root/pool/web-3 (worker)',
        '  start root/new-1 (worker)',
        '  start root/new-2 (worker)',
        '  update root/pool: children (the spec it restarts with)',
        "then 2 worker(s) replaced by new processes, one supervisor's batch at a time:",
        '  root/pool/web-1',
        '  root/pool/web-2',
        '',
      ].join('\n'),
    );
    expect(shapeOf(await status(arbor))).toEqual(before);

    const loop = clientLoop(port, 6, '/slow?ms=50');
    const from = arbor.lines.length;
    const done = await reload(arbor);
    expect(done.stderr).toBe('');
    expect(done.code).toBe(0);
    expect(done.stdout).toMatch(/^applied the spec: 8 change\(s\)\n[^]*reloaded root: 2 worker\(s\) replaced in/);
    // OTP's order: the removed stopped in reverse start order, then the new started after their older siblings;
    // then only the workers that were running before are replaced (web-3 runs the new spec already).
    expect(eventsSince(arbor, from, ['child_terminated', 'child_started', 'child_replaced'])).toEqual([
      'child_terminated root/old-b',
      'child_terminated root/old-a',
      'child_started root/pool/web-3',
      'child_started root/new-1',
      'child_started root/new-2',
      'child_replaced root/pool/web-1',
      'child_replaced root/pool/web-2',
    ]);
    const after = await status(arbor);
    expect(after.children.map((c) => c.id)).toEqual(['http', 'pool', 'new-1', 'new-2']);
    expect(after.children[1]!.supervisor!.children.map((c) => `${c.id} ${c.status}`)).toEqual([
      'web-1 running',
      'web-2 running',
      'web-3 running',
    ]);
    expect(versionOf(await get(port))).toBe('v2');
    expect(failures(await loop.stop())).toEqual([]);

    // The pool shrunk to one: web-3 then web-2 stopped, as OTP stops children (reverse start order).
    writeSpec(spec, { pool: 1, version: 'v2', extras: ['new-1', 'new-2'] });
    const from2 = arbor.lines.length;
    expect((await reload(arbor)).code).toBe(0);
    expect(eventsSince(arbor, from2, ['child_terminated'])).toEqual([
      'child_terminated root/pool/web-3',
      'child_terminated root/pool/web-2',
    ]);
    expect((await status(arbor)).children[1]!.supervisor!.children.map((c) => c.id)).toEqual(['web-1']);
  });

  it('refuses a spec that does not load, does not validate or moves the listener: exit 1, the tree untouched', async () => {
    const dir = tempDir();
    const spec = join(dir, 'spec.mjs');
    writeSpec(spec, { pool: 2, version: 'v1', extras: [] });
    const arbor = spawnArborRun(spec, dir);
    runs.push(arbor);
    const bound = await arbor.line((l) => l.event === 'listener_bound', 'listener bound');
    await arbor.line((l) => l.event === 'supervisor_started' && l.supervisor === 'root', 'root started');
    const port = Number(String(bound.address).split(':').pop());
    const before = shapeOf(await status(arbor));

    writeFileSync(spec, 'export default supervisor({ children: [\n');
    const broken = await reload(arbor);
    expect(broken.code).toBe(1);
    expect(broken.stderr).toMatch(
      new RegExp(`^bad_spec: the spec did not load: ${spec.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: .+\n$`),
    );

    writeSpec(spec, { pool: 2, version: 'v1', extras: [] });
    writeFileSync(spec, (await import('node:fs')).readFileSync(spec, 'utf8').replace("'web-' + (i + 1)", "'web-1'"));
    const invalid = await reload(arbor);
    expect(invalid.code).toBe(1);
    expect(invalid.stderr).toMatch(
      /^bad_spec: invalid supervision spec:\n {2}root\.children\[1\]\.children\[1\]\.id: duplicate id 'web-1'/,
    );

    writeSpec(spec, { pool: 3, version: 'v2', extras: ['new-1'], port: port + 1 });
    const moved = await reload(arbor);
    expect(moved.code).toBe(1);
    expect(moved.stderr).toBe(
      `cannot_change: root.children[0].port: the port of listener 'root/http' cannot change while it runs (port 0 → ${port + 1}): its socket is bound; stop the tree and start it again\n`,
    );
    // Nothing was started, stopped or replaced; the old workers serve the old version.
    expect(shapeOf(await status(arbor))).toEqual(before);
    expect(versionOf(await get(port))).toBe('v1');
    expect(arbor.lines.filter((l) => l.event === 'reload_refused').map((l) => l.code)).toEqual([
      'bad_spec',
      'bad_spec',
      'cannot_change',
    ]);
  });
});

describe('a TypeScript spec', () => {
  it('is compiled anew at each reload, with the modules it imports', async () => {
    const dir = tempDir();
    const write = (pool: number) => {
      writeFileSync(join(dir, 'pool.ts'), `export const size: number = ${pool};\n`);
      writeFileSync(
        join(dir, 'spec.ts'),
        `import { supervisor, worker } from ${JSON.stringify(ARBOR)};
import { size } from './pool.ts';
const ids: string[] = Array.from({ length: size }, (_, i) => 'w' + (i + 1));
export default supervisor({ children: ids.map((id) => worker({ id, module: ${JSON.stringify(fixture('ready.mjs'))} })) });
`,
      );
    };
    write(1);
    const arbor = spawnArborRun(join(dir, 'spec.ts'), dir);
    runs.push(arbor);
    await arbor.line((l) => l.event === 'supervisor_started' && l.supervisor === 'root', 'root started');
    write(2);
    const done = await reload(arbor);
    expect(done).toMatchObject({ code: 0, stderr: '' });
    expect(done.stdout).toMatch(
      /^applied the spec: 1 change\(s\)\n {2}start root\/w2 \(worker\)\nreloaded root: 1 worker\(s\) replaced/,
    );
    expect((await status(arbor)).children.map((c) => `${c.id} ${c.status}`)).toEqual(['w1 running', 'w2 running']);
  });
});

describe('tree.reload(path, { spec }) in an embedded tree', () => {
  it("applies a new spec object: a worker added, a pool's intensity set in place; without one, code only", async () => {
    const { start, supervisor: sup, task, worker: w } = await import('../src/index.js');
    const ran: string[] = [];
    const untilStopped = (signal: AbortSignal) => new Promise((resolve) => signal.addEventListener('abort', resolve));
    // Two versions of a task's code (a reload of a spec module makes new functions; the source tells them apart).
    const syncV1 = async ({ signal }: { signal: AbortSignal }) => {
      ran.push('sync v1');
      await untilStopped(signal);
    };
    const syncV2 = async ({ signal }: { signal: AbortSignal }) => {
      ran.push('sync v2');
      await untilStopped(signal);
    };
    const spec = (size: number, intensity: number, sync = syncV1) =>
      sup({
        children: [
          sup({
            id: 'pool',
            intensity,
            children: Array.from({ length: size }, (_, i) => w({ id: `w${i + 1}`, module: fixture('ready.mjs') })),
          }),
          task({ id: 'sync', run: sync }),
        ],
      });
    const tree = await start(spec(2, 1), { logger: false });
    try {
      const before = tree.whichChildren('root/pool').map((c) => c.pid);
      const dry = await tree.reload('root', { spec: spec(3, 4), dryRun: true });
      expect(dry.changes).toEqual([
        'set root/pool: intensity 1 → 4',
        'start root/pool/w3 (worker)',
        'update root/pool: children, intensity (the spec it restarts with)',
      ]);
      expect(tree.whichChildren('root/pool').map((c) => c.pid)).toEqual(before);

      const done = await tree.reload('root', { spec: spec(3, 4) });
      expect(done.changes).toEqual(dry.changes);
      expect(done.replaced.map((r) => r.child)).toEqual(['w1', 'w2']);
      expect(tree.whichChildren('root/pool').map((c) => `${c.id} ${c.status}`)).toEqual([
        'w1 running',
        'w2 running',
        'w3 running',
      ]);
      expect(tree.status('root/pool').intensity.limit).toBe(4);

      // No spec and no spec module: the code is reloaded, nothing else changes.
      const codeOnly = await tree.reload();
      expect(codeOnly.changes).toEqual([]);
      expect(codeOnly.replaced.map((r) => r.child)).toEqual(['w1', 'w2', 'w3']);

      // A task's new function: the task is restarted to run it.
      const renewed = await tree.reload('root', { spec: spec(3, 4, syncV2) });
      expect(renewed.changes).toEqual(['update root/sync: run', 'restart root/sync (a task: its new function)']);
      expect(ran).toEqual(['sync v1', 'sync v2']);
    } finally {
      await tree.stop();
    }
  });

  it("new flags are the running supervisor's own: the spec it started with is unchanged, and the stop waits the new drainDelay", async () => {
    const { start, supervisor: sup, task } = await import('../src/index.js');
    const idle = async ({ signal }: { signal: AbortSignal }) =>
      new Promise((resolve) => signal.addEventListener('abort', resolve));
    const spec = (intensity: number, drainDelay: number) =>
      sup({
        drainDelay,
        children: [sup({ id: 'pool', intensity, children: [task({ id: 't', run: idle })] })],
      });
    const first = spec(1, 0);
    const pristine = JSON.stringify(first);
    const tree = await start(first, { logger: false });
    const delays: number[] = [];
    tree.on('drain_delay', (event) => delays.push(event.ms));
    const done = await tree.reload('root', { spec: spec(7, 30) });
    expect(done.changes).toEqual([
      'set root: drainDelay 0 → 30',
      'set root/pool: intensity 1 → 7',
      'update root/pool: intensity (the spec it restarts with)',
    ]);
    expect(tree.status('root/pool').intensity.limit).toBe(7);
    expect(JSON.stringify(first)).toBe(pristine);
    await tree.stop();
    expect(delays).toEqual([30]);
  });
});

describe('the control request', () => {
  it('takes dryRun: true or false on a reload only', () => {
    expect(parseRequest({ id: 1, op: 'reload', dryRun: true })).toMatchObject({ op: 'reload', dryRun: true });
    expect(() => parseRequest({ id: 1, op: 'reload', dryRun: 'yes' })).toThrow("'dryRun' must be true or false");
    expect(() => parseRequest({ id: 1, op: 'status', dryRun: true })).toThrow("'status' takes no 'dryRun'");
  });
});
