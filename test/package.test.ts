// The package as a user gets it: `npm pack` from a clean copy of the project (prepack builds dist/), the tarball's
// contents, publint and attw on it, then an install into a fresh project that runs the README's own snippets
// (and the embedding guide's first one)
// with `npx arbor run`. Needs npm and the registry (or a warm npm cache) for the install's dependencies.
import { execFile, spawn } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { get } from 'node:http';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repo } from './support/arbor-run.js';
import { docSnippet } from './support/doc-blocks.js';
import { isAlive } from './support/tree.js';

const run = promisify(execFile);
const work = mkdtempSync(join(tmpdir(), 'arbor-pack-'));
const app = join(work, 'app');
const pids = new Set<number>();
let tarball = '';
let packed: string[] = [];
/** What `npm install <tarball>` printed on stderr (its warnings). */
let installWarnings = '';

/** npm as a user's shell runs it: none of the npm_* variables of the `npm test` that runs this file. */
const userEnv = Object.fromEntries(
  Object.entries(process.env).filter(([key]) => !key.toLowerCase().startsWith('npm_')),
);
const npm = (args: string[], cwd: string, timeout = 120_000) =>
  run('npm', args, { cwd, env: userEnv, timeout, maxBuffer: 16 * 1024 * 1024 });

/** What tsc makes of each source: `.ts` → `.js`, `.d.ts`, `.js.map`; `.cts` (CommonJS) → `.cjs`, `.d.cts`, `.cjs.map`. */
const compiledFiles = (dir: string): string[] =>
  readdirSync(dir, { recursive: true, encoding: 'utf8' }).flatMap((f) => {
    if (f.endsWith('.cts'))
      return [`dist/${f.slice(0, -4)}.cjs`, `dist/${f.slice(0, -4)}.d.cts`, `dist/${f.slice(0, -4)}.cjs.map`];
    if (f.endsWith('.ts'))
      return [`dist/${f.slice(0, -3)}.js`, `dist/${f.slice(0, -3)}.d.ts`, `dist/${f.slice(0, -3)}.js.map`];
    return [];
  });

beforeAll(async () => {
  // A clean clone: the project without node_modules, dist or git metadata (node_modules linked, for tsc).
  const clone = join(work, 'clone');
  cpSync(repo, clone, {
    recursive: true,
    filter: (src) => !['node_modules', 'dist', '.git', 'coverage'].includes(relative(repo, src).split('/')[0]!),
  });
  symlinkSync(join(repo, 'node_modules'), join(clone, 'node_modules'), 'dir');
  const { stdout } = await npm(['pack', '--json', '--pack-destination', work], clone);
  const [result] = JSON.parse(stdout.slice(stdout.indexOf('['))) as Array<{
    filename: string;
    files: Array<{ path: string }>;
  }>;
  tarball = join(work, result!.filename);
  packed = result!.files.map((f) => f.path).sort();
}, 180_000);

afterAll(() => {
  for (const pid of pids) if (isAlive(pid)) process.kill(pid, 'SIGKILL');
  rmSync(work, { recursive: true, force: true });
});

describe('npm pack', () => {
  it('holds the compiled code, its types and maps, README, LICENSE and CHANGELOG, and nothing else', () => {
    const dist = packed.filter((f) => f.startsWith('dist/'));
    expect(packed.filter((f) => !f.startsWith('dist/'))).toEqual([
      'CHANGELOG.md',
      'LICENSE',
      'README.md',
      'package.json',
    ]);
    expect(dist).toEqual(compiledFiles(join(repo, 'src')).sort());
  });

  it('has no prepare script (npm warns about it on install), runs on linux only, and needs the Node the README names', async () => {
    const { stdout } = await run('tar', ['-xOf', tarball, 'package/package.json']);
    const manifest = JSON.parse(stdout) as {
      scripts?: Record<string, string>;
      os?: string[];
      engines?: { node?: string };
    };
    expect(manifest.scripts?.prepare).toBeUndefined();
    expect(manifest.scripts?.install ?? manifest.scripts?.postinstall ?? manifest.scripts?.preinstall).toBeUndefined();
    expect(manifest.os).toEqual(['linux']);
    const minimum = /^>=(\d+\.\d+)$/.exec(manifest.engines?.node ?? '')?.[1];
    expect(minimum).toBeDefined();
    expect(readFileSync(join(repo, 'README.md'), 'utf8')).toContain(`Node.js ${minimum} or newer`);
  });

  it('passes publint and attw (ESM exports and types resolve for node16 and bundlers)', async () => {
    const publint = await run(join(repo, 'node_modules/.bin/publint'), ['run', tarball, '--strict']);
    expect(publint.stdout).toContain('All good!');
    // esm-only: arbor is ESM, so CommonJS require() and node10 (no `exports` support) are out of scope.
    const attw = await run(join(repo, 'node_modules/.bin/attw'), [
      tarball,
      '--profile',
      'esm-only',
      '--format',
      'ascii',
    ]);
    expect(attw.stdout).toMatch(/"arbor-otp\/worker"\s+node16 \(from ESM\): 🟢/);
  });
});

describe('installed from the tarball into a fresh project', () => {
  beforeAll(async () => {
    mkdirSync(app);
    writeFileSync(
      join(app, 'package.json'),
      `${JSON.stringify({ name: 'app', private: true, type: 'module' }, null, 2)}\n`,
    );
    installWarnings = (await npm(['install', '--no-audit', '--no-fund', '--prefer-offline', tarball], app, 180_000))
      .stderr;
    // The README's snippets and the embedding guide's, as written; only the port becomes ephemeral.
    writeFileSync(join(app, 'spec.js'), docSnippet('README.md', '// spec.js').replace('port: 8080', 'port: 0'));
    writeFileSync(join(app, 'server.js'), docSnippet('README.md', '// server.js'));
    writeFileSync(join(app, 'embed.js'), docSnippet('docs/guides/embedding.md', "import { start } from 'arbor-otp'"));
  }, 240_000);

  it('installs without a warning about its own scripts', () => {
    expect(installWarnings).not.toMatch(/arbor-otp@[^\n]*(prepare|install)/);
  });

  it('npx arbor run spec.js serves HTTP; SIGTERM stops it in order, exit 0, nothing left running', async () => {
    const proc = spawn('npx', ['--no-install', 'arbor', 'run', 'spec.js'], {
      cwd: app,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...userEnv, TMPDIR: work, XDG_RUNTIME_DIR: '' },
    });
    pids.add(proc.pid!);
    let stderr = '';
    proc.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const lines: Array<Record<string, unknown>> = [];
    const exited = new Promise<number | null>((resolve) => proc.on('close', (code) => resolve(code)));
    const rootStarted = new Promise<Record<string, unknown>>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no supervisor_started for root in 60 s; stderr: ${stderr}`)),
        60_000,
      );
      createInterface({ input: proc.stdout! }).on('line', (text) => {
        const line = JSON.parse(text) as Record<string, unknown>;
        lines.push(line);
        if (typeof line.pid === 'number') pids.add(line.pid);
        if (line.event === 'supervisor_started' && line.supervisor === 'root') {
          clearTimeout(timer);
          resolve(line);
        }
      });
    });
    const root = await rootStarted;
    expect(lines.filter((l) => l.event === 'child_started' && l.type === 'worker').map((l) => l.child)).toEqual([
      'web-1',
      'web-2',
    ]);
    const address = lines.find((l) => l.event === 'listener_bound')!.address as string;
    expect(await httpGet(`http://${address}/`)).toBe('hello\n');

    // SIGTERM to arbor itself (npm runs it under `sh -c`, which would not pass a signal on to it).
    process.kill(root.pid as number, 'SIGTERM');
    expect(await exited).toBe(0);
    expect(lines.at(-1)).toMatchObject({ event: 'supervisor_stopped', supervisor: 'root', reason: 'normal' });
    expect([...pids].filter(isAlive)).toEqual([]);
  }, 90_000);

  it("the embedding guide's first snippet runs the same tree with start(), stop() and done", async () => {
    const { stdout } = await run(process.execPath, ['embed.js'], { cwd: app, timeout: 60_000 });
    const lines = stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    for (const line of lines) if (typeof line.pid === 'number') pids.add(line.pid);
    expect(lines.filter((l) => l.event === 'child_started').map((l) => l.child)).toEqual([
      'http',
      'web-1',
      'web-2',
      'pool',
    ]);
    expect(lines.at(-1)).toMatchObject({ event: 'supervisor_stopped', supervisor: 'root', reason: 'normal' });
    expect([...pids].filter(isAlive)).toEqual([]);
  }, 90_000);
});

function httpGet(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    get(url, (res) => {
      let body = '';
      res.on('data', (chunk: Buffer) => (body += chunk.toString()));
      res.on('end', () => resolve(body));
    }).on('error', reject);
  });
}
