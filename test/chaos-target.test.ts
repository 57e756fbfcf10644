// `arbor chaos` finds what to load and says what it did: the URL comes from the tree's listener, a target that
// does not answer fails the run at once, and faults a worker would ignore (no ARBOR_CHAOS=1) are skipped with
// the reason in the text report, never counted as injected.
// Needs the build (`npm test` builds first): the CLI runs from dist/, as installed.
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { arborRunScope, CLI, repo, spawnArborRun, type ArborRun } from './support/arbor-run.js';

const HTTP_EXAMPLE = join(repo, 'examples/http-service/spec.js');
const NO_LISTENER_EXAMPLE = join(repo, 'examples/workers/spec.js');

const { runs, tempDir } = arborRunScope('arbor-chaos-target-');

/** `arbor run` with its default control socket (found by `arbor chaos` without --control). */
async function runDefault(spec: string, dir: string, env: Record<string, string> = {}): Promise<ArborRun> {
  const run = spawnArborRun(spec, dir, env, { control: null });
  runs.push(run);
  await run.line((l) => l.event === 'supervisor_started' && l.supervisor === 'root', 'the root started');
  return run;
}

function chaos(
  dir: string,
  ...args: string[]
): Promise<{ code: number | null; stdout: string; stderr: string; ms: number }> {
  const begun = performance.now();
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, 'chaos', ...args], {
      env: { ...process.env, TMPDIR: dir, XDG_RUNTIME_DIR: '', ARBOR_CONTROL: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('close', (code) => resolve({ code, stdout, stderr, ms: performance.now() - begun }));
  });
}

it("no --url: the tree's listener is loaded; faults a worker without ARBOR_CHAOS=1 would ignore are skipped, with why", async () => {
  const dir = tempDir();
  const run = await runDefault(HTTP_EXAMPLE, dir, { PORT: '0', WORKERS: '2', ARBOR_CHAOS: '0' });
  const bound = run.lines.find((l) => l.event === 'listener_bound')!;
  const result = await chaos(dir, '--duration', '2s', '--rate', '4', '--mix', 'throw,exit', '--seed', '3');
  expect(result.code).toBe(0);
  expect(result.stderr).toContain(`arbor chaos: reached pid ${run.proc.pid}, spec ${HTTP_EXAMPLE}, socket `);
  expect(result.stdout).toContain(`against http://${bound.address as string}/`);
  expect(result.stdout).toMatch(/faults {6}injected 0 of (\d+) \(skipped \1\), workers hit 0: none/);
  expect(result.stdout).toMatch(
    / {2}skipped {3}\d+× 'root\/pool\/web-\d' runs without ARBOR_CHAOS=1, so it ignores in-worker faults/,
  );
  // Nothing was restarted: the faults really were not sent.
  expect(run.lines.filter((l) => l.event === 'child_exited')).toEqual([]);
});

it('a tree without a listener needs --url; a URL where nothing answers fails the run at once', async () => {
  const dir = tempDir();
  await runDefault(NO_LISTENER_EXAMPLE, dir);
  const noUrl = await chaos(dir, '--duration', '2s');
  expect(noUrl.code).toBe(1);
  expect(noUrl.stderr).toMatch(/no_url: arbor \(all workers\) at .* has no listener to load; pass --url/);

  // A port that was free a moment ago: connections are refused.
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as { port: number };
  await new Promise((resolve) => probe.close(resolve));
  const refused = await chaos(dir, '--duration', '30s', '--url', `http://127.0.0.1:${port}/`);
  expect(refused.code).toBe(1);
  expect(refused.stderr).toContain(`unreachable: nothing answers at http://127.0.0.1:${port}/ (ECONNREFUSED)`);
  expect(refused.ms).toBeLessThan(15_000); // not the 30 s the run would have taken
});
