// The watcher of `arbor run --watch` on a real directory: what it reports, what it ignores, debounced batches,
// directories created after it started, and its bound on directories.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FileWatcher, isIgnoredName } from '../src/cli/file-watcher.js';

const cleanUps: Array<() => void> = [];
afterEach(() => {
  for (const cleanUp of cleanUps.splice(0).reverse()) cleanUp();
});

function project(): string {
  const dir = mkdtempSync(join(tmpdir(), 'arbor-file-watcher-'));
  cleanUps.push(() => rmSync(dir, { recursive: true, force: true }));
  for (const sub of ['src/lib', 'node_modules/dep', '.git', 'dist']) mkdirSync(join(dir, sub), { recursive: true });
  return dir;
}

/** A watcher whose batches are collected; `next()` resolves with the next batch (sorted), or rejects after 10 s. */
function watchBatches(roots: string[], options: { maxDirectories?: number } = {}) {
  const batches: string[][] = [];
  const notes: string[] = [];
  let waiter: ((batch: string[]) => void) | undefined;
  const watcher = new FileWatcher({
    roots,
    debounceMs: 150,
    ...options,
    onNote: (note) => notes.push(note),
    onChange: (paths) => {
      const batch = [...paths].sort();
      if (waiter) waiter(batch);
      else batches.push(batch);
    },
  });
  cleanUps.push(() => watcher.close());
  const next = (): Promise<string[]> => {
    const ready = batches.shift();
    if (ready) return Promise.resolve(ready);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no batch within 10 s')), 10_000);
      waiter = (batch) => {
        clearTimeout(timer);
        waiter = undefined;
        resolve(batch);
      };
    });
  };
  return { watcher, next, notes, batches };
}

describe('the watcher of arbor run --watch', () => {
  it('ignores dependencies, dotfiles, build outputs, logs and editor leftovers; keeps source', () => {
    for (const name of [
      'node_modules',
      '.git',
      '.env',
      'dist',
      'build',
      'coverage',
      'out.log',
      'server.js~',
      '.server.js.swp',
      'a.swp',
      '4913',
    ]) {
      expect(isIgnoredName(name), name).toBe(true);
    }
    for (const name of ['server.js', 'spec.ts', 'lib', 'config.json', 'distance.js', 'builder.ts'])
      expect(isIgnoredName(name), name).toBe(false);
  });

  it('reports a burst of edits as one batch; nothing for ignored paths or a socket; a new directory and what is written in it', async () => {
    const dir = project();
    const { watcher, next } = watchBatches([dir]);
    expect(watcher.watching).toBe(3); // dir, src, src/lib: not node_modules, .git, dist

    writeFileSync(join(dir, 'node_modules/dep/index.js'), '1');
    writeFileSync(join(dir, '.git/HEAD'), '1');
    writeFileSync(join(dir, 'dist/app.js'), '1');
    writeFileSync(join(dir, 'arbor.log'), '1');
    const socket: Server = createServer();
    await new Promise<void>((resolve) => socket.listen(join(dir, 'ctl.sock'), resolve));
    cleanUps.push(() => socket.close());
    writeFileSync(join(dir, 'spec.js'), '1');
    writeFileSync(join(dir, 'src/lib/a.js'), '1');
    writeFileSync(join(dir, 'src/lib/a.js'), '2');
    expect(await next()).toEqual([join(dir, 'spec.js'), join(dir, 'src/lib/a.js')]);

    mkdirSync(join(dir, 'src/routes'));
    expect(await next()).toEqual([join(dir, 'src/routes')]);
    expect(watcher.watching).toBe(4);
    writeFileSync(join(dir, 'src/routes/users.js'), '1');
    expect(await next()).toEqual([join(dir, 'src/routes/users.js')]);
  });

  it('watches a single file given as a root; a root that does not exist is a note, not a crash', async () => {
    const dir = project();
    const shared = mkdtempSync(join(tmpdir(), 'arbor-file-watcher-shared-'));
    cleanUps.push(() => rmSync(shared, { recursive: true, force: true }));
    writeFileSync(join(shared, 'config.json'), '{}');
    const { next, notes } = watchBatches([dir, join(shared, 'config.json'), join(shared, 'missing')]);
    expect(notes).toEqual([expect.stringMatching(new RegExp(`^cannot watch ${join(shared, 'missing')}: ENOENT`))]);
    writeFileSync(join(shared, 'config.json'), '{"a":1}');
    expect(await next()).toEqual([join(shared, 'config.json')]);
  });

  it('watches at most maxDirectories directories, and says where it stopped', () => {
    const dir = project();
    const { watcher, notes } = watchBatches([dir], { maxDirectories: 2 });
    expect(watcher.watching).toBe(2);
    expect(notes).toEqual([`watching the first 2 directories only; not ${join(dir, 'src/lib')} and the rest`]);
  });
});
