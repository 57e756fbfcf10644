// `arbor run --watch` on a real project directory under HTTP load: an edit of the worker's code is served after a
// rolling reload with 0 failed requests, an edit of the spec grows the pool, an edit that breaks the code keeps the
// old workers serving and says why, the next good edit is served, and Ctrl-C leaves nothing running.
// Needs the build (the CLI runs from dist/).
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { arborCommand, arborRunScope, repo, spawnArborRun, type ArborRun } from './support/arbor-run.js';
import { clientLoop, failures, get, versionOf } from './support/http.js';
import { isAlive, fixture } from './support/tree.js';

const ARBOR = pathToFileURL(join(repo, 'dist/index.js')).href;
const { runs, tempDir } = arborRunScope('arbor-run-watch-');

function writeServer(app: string, version: string | 'throws'): void {
  writeFileSync(
    join(app, 'server.mjs'),
    version === 'throws'
      ? "throw new Error('a typo in the new code');\n"
      : `globalThis.FIXTURE_VERSION = ${JSON.stringify(version)};\nawait import(${JSON.stringify(pathToFileURL(fixture('drain-http.mjs')).href)});\n`,
  );
}

function writeSpec(app: string, pool: number): void {
  writeFileSync(
    join(app, 'spec.mjs'),
    `import { listener, supervisor, worker } from ${JSON.stringify(ARBOR)};
export default supervisor({
  strategy: 'rest_for_one',
  children: [
    listener({ id: 'http', port: 0 }),
    supervisor({ id: 'pool', intensity: 5, period: 60000, children: Array.from({ length: ${pool} }, (_, i) =>
      worker({ id: 'web-' + (i + 1), module: './server.mjs', listen: 'http' })) }),
  ],
});
`,
  );
}

/** The next reload after log line `from`: resolves with its last event (reload_finished, _failed or _refused). */
async function nextReload(arbor: ArborRun, from: number): Promise<string> {
  const end = await arbor.line(
    (l) =>
      arbor.lines.indexOf(l) >= from && ['reload_finished', 'reload_failed', 'reload_refused'].includes(l.event ?? ''),
    'the reload after an edit',
    60_000,
  );
  return end.event!;
}

const workerPids = (arbor: ArborRun): number[] =>
  arbor.lines
    .flatMap((l) => [l.event === 'child_started' ? l.pid : undefined, l.newPid as number | undefined])
    .filter((p): p is number => p !== undefined);

describe('arbor run --watch', () => {
  it('reloads on each edit with 0 failed requests; a broken edit keeps the old code serving; Ctrl-C ends it all', async () => {
    const dir = tempDir();
    const app = join(dir, 'app');
    mkdirSync(join(app, 'node_modules'), { recursive: true });
    writeServer(app, 'v1');
    writeSpec(app, 2);
    const arbor = spawnArborRun(join(app, 'spec.mjs'), dir, {}, { args: ['--watch'] });
    runs.push(arbor);
    const bound = await arbor.line((l) => l.event === 'listener_bound', 'listener bound');
    await arbor.line((l) => l.event === 'watching', 'watching');
    const port = Number(String(bound.address).split(':').pop());
    const loop = clientLoop(port, 6, '/slow?ms=50');

    // Ignored: dependencies and dotfiles change nothing.
    let from = arbor.lines.length;
    writeFileSync(join(app, 'node_modules', 'dep.js'), 'export {};\n');
    writeFileSync(join(app, '.env'), 'X=1\n');
    writeServer(app, 'v2');
    expect(await nextReload(arbor, from)).toBe('reload_finished');
    const changed = arbor.lines.slice(from).find((l) => l.event === 'files_changed')!;
    expect(changed.paths).toEqual([join(app, 'server.mjs')]);
    expect(versionOf(await get(port))).toBe('v2');

    // The spec itself: the pool grows to 3, and the two workers that ran are replaced.
    from = arbor.lines.length;
    writeSpec(app, 3);
    expect(await nextReload(arbor, from)).toBe('reload_finished');
    expect(
      arbor.lines
        .slice(from)
        .filter((l) => l.event === 'child_started' || l.event === 'child_replaced')
        .map((l) => `${l.event} ${l.child}`),
    ).toEqual(['child_started web-3', 'child_replaced web-1', 'child_replaced web-2']);

    // A broken edit: the reload fails at the first new worker, the old ones keep serving, stderr says why.
    from = arbor.lines.length;
    writeServer(app, 'throws');
    expect(await nextReload(arbor, from)).toBe('reload_failed');
    expect(versionOf(await get(port))).toBe('v2');
    expect(arbor.stderr()).toMatch(
      /arbor: reload failed, the running workers keep serving: start_failed: root\/pool\/web-1: /,
    );

    // Fixed: served again.
    from = arbor.lines.length;
    writeServer(app, 'v3');
    expect(await nextReload(arbor, from)).toBe('reload_finished');
    expect(versionOf(await get(port))).toBe('v3');
    expect(failures(await loop.stop())).toEqual([]);

    // Ctrl-C: a clean stop, and no worker left, replaced ones included.
    arbor.proc.kill('SIGINT');
    expect(await arbor.exited).toEqual({ code: 0, signal: null });
    const pids = workerPids(arbor);
    expect(pids.length).toBeGreaterThanOrEqual(8);
    expect(pids.filter(isAlive)).toEqual([]);
  });
});

describe('arbor run --watch beside arbor reload', () => {
  it('an edit during a reload run by hand is reloaded once that one is done', async () => {
    const dir = tempDir();
    const app = join(dir, 'app');
    mkdirSync(app);
    // Each new worker takes 1.5 s to be ready: the reload by hand is still running when the edit is seen.
    writeFileSync(
      join(app, 'spec.mjs'),
      `import { supervisor, worker } from ${JSON.stringify(ARBOR)};
export default supervisor({ children: [worker({ id: 'slow', module: ${JSON.stringify(fixture('ready.mjs'))}, env: { FIXTURE_READY_DELAY_MS: '1500' } })] });
`,
    );
    writeFileSync(join(app, 'notes.txt'), '1');
    const arbor = spawnArborRun(join(app, 'spec.mjs'), dir, {}, { args: ['--watch'] });
    runs.push(arbor);
    await arbor.line((l) => l.event === 'watching', 'watching');
    const byHand = arborCommand('reload', '--control', arbor.control);
    await arbor.line((l) => l.event === 'reload_started', 'the reload by hand started');
    writeFileSync(join(app, 'notes.txt'), '2');
    expect((await byHand).code).toBe(0);
    // Said once, then tried again every 500 ms until the reload by hand is done.
    const deadline = Date.now() + 60_000;
    while (!arbor.stderr().includes('reloaded:') && Date.now() < deadline)
      await new Promise((resolve) => setTimeout(resolve, 50));
    expect(arbor.stderr().split('\n').slice(1)).toEqual([
      `arbor: ${relative(process.cwd(), join(app, 'notes.txt'))} changed: reloading`,
      'arbor: another reload is running: this one follows it',
      expect.stringMatching(/^arbor: reloaded: 1 worker\(s\) replaced in [\d.]+ s$/),
      '',
    ]);
    expect(arbor.lines.filter((l) => l.event === 'reload_finished')).toHaveLength(2);
  });
});
