// `arbor reload` and SIGHUP against a real `arbor run`: new code is served, a bad deploy exits 1 with the reason
// and leaves the old workers serving. Needs the build (the CLI runs from dist/).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { ControlClient } from '../src/control/client.js';
import { parseRequest } from '../src/control/requests.js';
import type { SupervisorStatus } from '../src/index.js';
import { arborCommand, repo, spawnArborRun, type ArborRun, killArborRun } from './support/arbor-run.js';
import { clientLoop, failures, get, pidOf, versionOf } from './support/http.js';
import { fixture } from './support/tree.js';

const ARBOR = pathToFileURL(join(repo, 'dist/index.js')).href;
const started: Array<{ arbor: ArborRun; dir: string }> = [];

afterEach(async () => {
  for (const { arbor, dir } of started.splice(0)) {
    await killArborRun(arbor);
    rmSync(dir, { recursive: true, force: true });
  }
});

function deploy(dir: string, code: string | 'throws'): void {
  writeFileSync(
    join(dir, 'server.mjs'),
    code === 'throws'
      ? "throw new Error('bad deploy');\n"
      : `globalThis.FIXTURE_VERSION = ${JSON.stringify(code)};\nawait import(${JSON.stringify(pathToFileURL(fixture('drain-http.mjs')).href)});\n`,
  );
}

async function runService(mode: 'shared' | 'round_robin'): Promise<{ arbor: ArborRun; dir: string; port: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'arbor-reload-cli-'));
  deploy(dir, 'v1');
  const spec = join(dir, 'spec.mjs');
  writeFileSync(
    spec,
    `import { listener, supervisor, worker } from ${JSON.stringify(ARBOR)};
export default supervisor({
  strategy: 'rest_for_one',
  children: [
    listener({ id: 'http', port: 0, mode: ${JSON.stringify(mode)} }),
    supervisor({ id: 'pool', intensity: 1, period: 60000, children: ['web-1', 'web-2'].map((id) =>
      worker({ id, module: ${JSON.stringify(join(dir, 'server.mjs'))}, listen: 'http' })) }),
  ],
});
`,
  );
  const arbor = spawnArborRun(spec, dir);
  started.push({ arbor, dir });
  const bound = await arbor.line((l) => l.event === 'listener_bound', 'listener bound');
  await arbor.line((l) => l.event === 'supervisor_started' && l.supervisor === 'root', 'root started');
  return { arbor, dir, port: Number(String(bound.address).split(':').pop()) };
}

async function workerPids(arbor: ArborRun): Promise<number[]> {
  const client = new ControlClient(arbor.control);
  try {
    const status = (await client.request('status', { path: 'root/pool' })) as SupervisorStatus;
    return status.children.map((c) => c.pid!);
  } finally {
    client.close();
  }
}

describe('arbor reload', () => {
  it('replaces both workers under load (0 failed); a bad deploy exits 1 with the reason and the old workers keep serving', async () => {
    const { arbor, dir, port } = await runService('round_robin');
    const before = await workerPids(arbor);
    const loop = clientLoop(port, 6, '/slow?ms=50');
    deploy(dir, 'v2');
    const ok = await arborCommand('reload', '--control', arbor.control);
    expect(ok).toMatchObject({ code: 0, stderr: '' });
    expect(ok.stdout).toMatch(
      /^reloaded root: 2 worker\(s\) replaced in [\d.]+ s\n {2}root\/pool\/web-1 {2}pid \d+ → \d+ {2}ready in \d+ ms\n {2}root\/pool\/web-2 {2}pid \d+ → \d+/,
    );
    const middle = await workerPids(arbor);
    for (const pid of before) expect(middle).not.toContain(pid);
    expect(versionOf(await get(port))).toBe('v2');

    deploy(dir, 'throws');
    const bad = await arborCommand('reload', 'root/pool', '--control', arbor.control);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toBe('start_failed: root/pool/web-1: exited with code 1\n');
    expect(failures(await loop.stop())).toEqual([]);
    expect(await workerPids(arbor)).toEqual(middle);
    expect(versionOf(await get(port))).toBe('v2');
    expect(arbor.lines.filter((l) => l.event === 'reload_failed')).toMatchObject([
      { path: 'root/pool', child: 'root/pool/web-1' },
    ]);
    expect(arbor.proc.exitCode).toBeNull();
  });

  it('SIGHUP to arbor run reloads the whole tree', async () => {
    const { arbor, dir, port } = await runService('shared');
    const before = await workerPids(arbor);
    deploy(dir, 'v2');
    process.kill(arbor.proc.pid!, 'SIGHUP');
    const finished = await arbor.line((l) => l.event === 'reload_finished', 'reload_finished');
    expect(finished).toMatchObject({ path: 'root', replaced: 2 });
    expect(arbor.lines.find((l) => l.event === 'reload_requested')).toMatchObject({ cause: 'SIGHUP' });
    const after = await workerPids(arbor);
    for (const pid of before) expect(after).not.toContain(pid);
    expect(versionOf(await get(port))).toBe('v2');
    expect(after).toContain(pidOf(await get(port)));
  });

  it('the control request: maxSurge only for reload, an integer from 1 to 64', () => {
    expect(parseRequest({ id: 1, op: 'reload', path: 'root/pool', maxSurge: 2 })).toMatchObject({
      op: 'reload',
      path: 'root/pool',
      maxSurge: 2,
    });
    expect(parseRequest({ id: 1, op: 'reload' })).toMatchObject({ op: 'reload', path: undefined, maxSurge: undefined });
    for (const maxSurge of [0, 65, 1.5, '2']) {
      expect(() => parseRequest({ id: 1, op: 'reload', maxSurge })).toThrow(/maxSurge/);
    }
    expect(() => parseRequest({ id: 1, op: 'status', maxSurge: 2 })).toThrow("'status' takes no 'maxSurge'");
  });

  it('usage errors exit 2: two paths, a bad --max-surge', async () => {
    expect((await arborCommand('reload', 'a', 'b')).code).toBe(2);
    expect((await arborCommand('reload', '--max-surge', '0')).code).toBe(2);
    expect((await arborCommand('status', '--max-surge', '2')).code).toBe(2);
  });
});
