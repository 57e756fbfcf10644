// The README's "In your own project" works as written: its spec.js and server.js, copied out of the README into a
// directory of their own, run with `arbor run <dir>/spec.js` started from somewhere else (the worker's
// `module: './server.js'` is relative to the spec file), and serve `hello`.
// Needs the build (`npm test` builds first): the CLI runs from dist/, as installed.
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { ControlClient } from '../src/control/client.js';
import type { SupervisorStatus } from '../src/index.js';
import { repo, spawnArborRun, type ArborRun, killArborRun } from './support/arbor-run.js';
import { blocksOf } from './support/doc-blocks.js';

const dirs: string[] = [];
const runs: ArborRun[] = [];

afterEach(async () => {
  for (const run of runs.splice(0)) await killArborRun(run);
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** The code block of the README that starts with `// <name>`. */
function readmeBlock(name: string): string {
  const block = blocksOf('README.md').find((b) => b.lang === 'js' && b.code.startsWith(`// ${name}`));
  if (block === undefined) throw new Error(`no \`// ${name}\` block in the README`);
  return block.code;
}

it("the README's spec.js and server.js run as written, from another directory, and serve hello", async () => {
  const dir = mkdtempSync(join(tmpdir(), 'arbor-readme-'));
  dirs.push(dir);
  const app = join(dir, 'app');
  mkdirSync(join(app, 'node_modules'), { recursive: true });
  symlinkSync(repo, join(app, 'node_modules', 'arbor-otp')); // as `npm install arbor-otp` would provide it
  writeFileSync(join(app, 'package.json'), '{ "type": "module" }\n');
  const spec = readmeBlock('spec.js');
  expect(spec).toContain("module: './server.js'");
  expect(spec).toContain('port: 8080');
  // The one change: any free port instead of 8080, which another program may hold.
  writeFileSync(join(app, 'spec.js'), spec.replace('port: 8080', 'port: 0'));
  writeFileSync(join(app, 'server.js'), readmeBlock('server.js'));

  // Started from the repository root, not from the app's directory.
  const run = spawnArborRun(join(app, 'spec.js'), dir);
  runs.push(run);
  const bound = await run.line((l) => l.event === 'listener_bound', 'the listener bound');
  await run.line((l) => l.event === 'supervisor_started' && l.supervisor === 'root', 'the root started');
  const client = new ControlClient(run.control);
  try {
    const status = (await client.request('status', { path: 'root/pool' })) as SupervisorStatus;
    expect(status.children.map((c) => [c.id, c.status])).toEqual([
      ['web-1', 'running'],
      ['web-2', 'running'],
    ]);
  } finally {
    client.close();
  }
  const response = await fetch(`http://${bound.address as string}/`);
  expect(await response.text()).toBe('hello\n');
});
