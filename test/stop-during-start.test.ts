// A stop asked for while the tree is still starting stops starting: the workers started so far are stopped, the
// rest never start, and `arbor run` exits 0 within the shutdown budget instead of after the whole start.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createTree, supervisor, worker, StartFailure } from '../src/index.js';
import { arborRunScope, repo, spawnArborRun } from './support/arbor-run.js';
import { fixture, isAlive, recorder } from './support/tree.js';

const { runs, tempDir } = arborRunScope('arbor-stop-start-');
const ARBOR = join(repo, 'dist/index.js');
/** Each worker takes this long to become ready: 40 of them, one after another, take 40 × 400 ms = 16 s. */
const READY_DELAY_MS = 400;
const WORKERS = 40;

describe('a stop during the start', () => {
  it('arbor run: SIGTERM while worker 3 of 40 starts → exit 0 long before the start would end, nothing left running', async () => {
    const dir = tempDir();
    const spec = join(dir, 'spec.mjs');
    const workers = Array.from({ length: WORKERS }, (_, i) => ({
      id: `w${i + 1}`,
      module: fixture('ready.mjs'),
      env: { FIXTURE_READY_DELAY_MS: String(READY_DELAY_MS) },
    }));
    writeFileSync(
      spec,
      `import { supervisor, worker } from '${ARBOR}';
export default supervisor({ id: 'root', children: ${JSON.stringify(workers)}.map((w) => worker(w)) });
`,
    );
    const run = spawnArborRun(spec, dir);
    runs.push(run);
    await run.line((l) => l.event === 'child_started' && l.child === 'w2', 'two workers started', 60_000);
    const signalledAt = Date.now();
    process.kill(run.proc.pid!, 'SIGTERM');
    const { code } = await run.exited;
    const took = Date.now() - signalledAt;
    expect(code).toBe(0);
    const started = run.lines.filter((l) => l.event === 'child_started').map((l) => l.child as string);
    const pids = run.lines.filter((l) => l.event === 'child_started').map((l) => l.pid as number);
    // Stopped starting: far fewer than 40 started, and the exit did not wait for the rest of the start.
    expect(started.length).toBeLessThan(WORKERS / 2);
    expect(took).toBeLessThan((WORKERS - started.length) * READY_DELAY_MS);
    // What started (and the one starting at the signal) was stopped, in reverse start order; none is alive.
    const terminations = run.lines.filter((l) => l.event === 'child_terminated');
    const terminated = terminations.map((l) => l.child as string);
    const order = (id: string) => Number(id.slice(1));
    expect(terminated).toEqual([...terminated].sort((a, b) => order(b) - order(a)));
    for (const id of started) expect(terminated).toContain(id);
    expect(
      [...pids, ...terminations.map((l) => l.pid as number)].filter((pid) => pid !== undefined && isAlive(pid)),
    ).toEqual([]);
    expect(run.lines.some((l) => l.event === 'stopped_during_start')).toBe(true);
  }, 120_000);

  it('embedded: tree.stop() during tree.start() → start() rejects with a StartFailure and every started child is stopped', async () => {
    const rec = recorder();
    const tree = createTree(
      supervisor({
        id: 'root',
        children: Array.from({ length: 10 }, (_, i) =>
          worker({ id: `w${i + 1}`, module: fixture('ready.mjs'), env: { FIXTURE_READY_DELAY_MS: '300' } }),
        ),
      }),
      { logger: rec.logger },
    );
    const starting = tree.start();
    await rec.waitFor((e) => e.event === 'child_started' && e.child === 'w1', 'w1 started');
    const stopped = tree.stop();
    await expect(starting).rejects.toBeInstanceOf(StartFailure);
    await stopped;
    const started = rec.of('child_started');
    expect(started.length).toBeLessThan(10);
    expect(started.map((e) => e.pid).filter((pid): pid is number => pid !== undefined && isAlive(pid))).toEqual([]);
    expect(rec.of('supervisor_stopped').at(-1)).toMatchObject({ supervisor: 'root' });
  }, 60_000);
});
