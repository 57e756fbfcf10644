// Every fenced block of the docs (README.md, docs/**, bench/README.md) is either checked or skipped by name:
// JavaScript and TypeScript blocks are type-checked together, in one tsc pass, against the package's own types
// (as `import … from 'arbor-otp'` resolves in a user's project); shell blocks are parsed by bash; JSON and YAML
// blocks are parsed; systemd units are read as units. A block that is a piece of a larger program says so with
// `<!-- fragment -->` on the line before it and is skipped by name; transcripts of real sessions are fenced `text`
// or `console`. Any other block with no language, or one the test does not know, fails: nothing is skipped silently.
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { arborRunScope, repo, spawnArborRun, type LogLine } from './support/arbor-run.js';
import { blocksOf, docFiles, docSnippet, type DocBlock } from './support/doc-blocks.js';

const run = promisify(execFile);
const scope = arborRunScope('arbor-doc-blocks-');
const dir = mkdtempSync(join(tmpdir(), 'arbor-doc-blocks-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const blocks = docFiles().flatMap(blocksOf);
const where = (b: DocBlock) => `${b.file}:${b.line}`;
const CODE = new Set(['js', 'ts', 'sh', 'json', 'yaml', 'ini']);
const TRANSCRIPT = new Set(['text', 'console']);

it('every block has a language the test knows: code, or a transcript', () => {
  const unknown = blocks
    .filter((b) => !b.fragment && !CODE.has(b.lang) && !TRANSCRIPT.has(b.lang))
    .map((b) => `${where(b)} \`\`\`${b.lang}`);
  expect(
    unknown,
    'fence each block with js, ts, sh, json, yaml, ini (checked) or text, console (a transcript)',
  ).toEqual([]);
  const fragments = blocks.filter((b) => b.fragment);
  const checked = blocks.filter((b) => CODE.has(b.lang) && !b.fragment);
  const transcripts = blocks.filter((b) => TRANSCRIPT.has(b.lang) && !b.fragment);
  console.log(
    `doc blocks: ${blocks.length} in ${docFiles().length} files — ${checked.length} checked, ${fragments.length} fragments skipped (${fragments.map(where).join(', ')}), ${transcripts.length} transcripts`,
  );
  expect(checked.length + fragments.length + transcripts.length).toBe(blocks.length);
  expect(checked.length).toBeGreaterThan(fragments.length);
});

it('JavaScript and TypeScript blocks type-check against the package, in one tsc pass', async () => {
  const app = join(dir, 'ts');
  mkdirSync(join(app, 'node_modules'), { recursive: true });
  symlinkSync(repo, join(app, 'node_modules', 'arbor-otp'));
  writeFileSync(join(app, 'package.json'), '{ "type": "module" }\n');
  const files: Record<string, DocBlock> = {};
  blocks
    .filter((b) => (b.lang === 'js' || b.lang === 'ts') && !b.fragment)
    .forEach((b, i) => {
      // Each block in a directory of its own, with what its relative imports name (a spec module, a worker).
      const blockDir = join(app, `b${i}`);
      mkdirSync(blockDir);
      const name = `${b.lang === 'ts' ? 'main.ts' : 'main.js'}`;
      writeFileSync(join(blockDir, name), b.code);
      for (const [, rel] of b.code.matchAll(/(?:from |import\()'(\.\/[\w.-]+)'/g))
        writeFileSync(join(blockDir, rel!), STUB);
      files[`b${i}/${name}`] = b;
    });
  writeFileSync(
    join(app, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        target: 'ES2022',
        module: 'NodeNext',
        moduleResolution: 'NodeNext',
        lib: ['ES2022'],
        types: ['node'],
        strict: true,
        noImplicitAny: false,
        allowJs: true,
        checkJs: true,
        noEmit: true,
        skipLibCheck: true,
        typeRoots: [join(repo, 'node_modules/@types')],
      },
      include: ['b*/*'],
    }),
  );
  const tsc = join(repo, 'node_modules/typescript/bin/tsc');
  const result = await run(process.execPath, [tsc, '-p', app], { cwd: app }).then(
    () => '',
    (error: { stdout: string }) => error.stdout,
  );
  // Name each error by the doc block it is in.
  const errors = result
    .split('\n')
    .filter((l) => / error TS/.test(l))
    .map((l) => {
      const [file, rest] = l.split('(', 2);
      const b = files[file!.replace(/\\/g, '/')];
      return b ? `${where(b)} (+${rest!.split(',')[0]}): ${l.split(': ').slice(1).join(': ')}` : l;
    });
  expect(errors).toEqual([]);
  expect(Object.keys(files).length).toBeGreaterThan(10);
}, 120_000);

it('shell blocks parse (bash -n)', async () => {
  const bad: string[] = [];
  for (const b of blocks.filter((x) => x.lang === 'sh' && !x.fragment)) {
    await run('bash', ['-n', '-c', b.code]).catch((error: { stderr: string }) =>
      bad.push(`${where(b)}: ${error.stderr.trim()}`),
    );
  }
  expect(bad).toEqual([]);
});

it('JSON and YAML blocks parse; systemd units have sections and key=value lines', () => {
  const bad: string[] = [];
  for (const b of blocks.filter((x) => !x.fragment)) {
    try {
      if (b.lang === 'json') JSON.parse(b.code);
      if (b.lang === 'yaml') parseYaml(b.code);
      if (b.lang === 'ini') {
        for (const line of b.code.split('\n')) {
          if (line.trim() === '' || line.startsWith('#') || /^\[[A-Za-z]+\]$/.test(line) || /^[A-Za-z]+=/.test(line))
            continue;
          throw new Error(`not a unit line: ${line}`);
        }
      }
    } catch (error) {
      bad.push(`${where(b)}: ${(error as Error).message}`);
    }
  }
  expect(bad).toEqual([]);
});

it("getting started runs as written: a crash is restarted after the backoff, and each worker's output is logged as its own", async () => {
  const app = join(scope.tempDir(), 'hello-arbor');
  mkdirSync(join(app, 'node_modules'), { recursive: true });
  symlinkSync(repo, join(app, 'node_modules', 'arbor-otp'));
  writeFileSync(join(app, 'package.json'), '{ "type": "module" }\n');
  const tree = docSnippet('docs/guides/getting-started.md', '// tree.js');
  expect(tree).toContain('port: 3000');
  writeFileSync(join(app, 'tree.js'), tree.replace('port: 3000', 'port: 0')); // any free port
  writeFileSync(join(app, 'app.js'), docSnippet('docs/guides/getting-started.md', '// app.js'));
  const arbor = spawnArborRun(join(app, 'tree.js'), scope.tempDir());
  scope.runs.push(arbor);
  const bound = await arbor.line((l) => l.event === 'listener_bound', 'the listener bound');
  await arbor.line((l) => l.event === 'supervisor_started' && l.supervisor === 'root', 'the root started');
  const url = `http://${bound.address as string}`;
  expect(await (await fetch(`${url}/`)).text()).toMatch(/^hello from \d+\n$/);

  await expect(fetch(`${url}/crash`)).rejects.toThrow(); // the worker died with the request
  const exited = await arbor.line((l) => l.event === 'child_exited', 'the crash');
  expect(exited.reason).toMatchObject({ error: 'asked to crash' });
  const delayed = await arbor.line((l) => l.event === 'child_restart_delayed', 'the backoff');
  expect(delayed.delay).toBeGreaterThanOrEqual(200);
  await arbor.line(
    (l) => l.event === 'child_started' && l.child === exited.child && l.pid !== exited.pid,
    'the replacement',
  );
  expect((await fetch(`${url}/`)).status).toBe(200);
  // Step 6: each line a worker prints is a record of the tree's log that names the worker.
  const isPrinted = (l: LogLine) => l.event === 'output' && l.line === 'GET /';
  await arbor.line((l) => isPrinted(l) && arbor.lines.filter(isPrinted).length >= 2, "both requests' output lines");
  const printed = arbor.lines.filter(isPrinted);
  for (const line of printed) expect(line.path).toMatch(/^root\/web\/web-[ab]$/);
}, 60_000);

/** What a block's relative imports get: a spec module and worker helpers, typed as the real ones would be. */
const STUB = `import { supervisor, worker } from 'arbor-otp';
export default supervisor({ id: 'root', children: [worker({ id: 'w', module: './w.js' })] });
`;
