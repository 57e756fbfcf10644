// The house's one-way imports (docs/reference/source-layout.md), checked on the source: every room imports only
// the rooms below it, and no module imports itself back through others (no circle, type imports included).
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const src = resolve(import.meta.dirname, '../src');

/** The rooms each room may import from. `shared` is src/*.ts but the two entry points, which sit on top. */
const ALLOWED: Record<string, readonly string[]> = {
  shared: [],
  // A task host runs each task with the inline task's own code.
  runtime: ['shared', 'task'],
  listener: ['shared'],
  log: ['shared'],
  worker: ['shared'],
  task: ['shared'],
  thread: ['shared', 'worker'],
  host: ['shared', 'worker'],
  reload: ['shared'],
  supervisor: ['shared', 'host', 'listener', 'log', 'reload', 'task', 'thread', 'worker'],
  control: ['shared', 'supervisor', 'worker'],
  systemd: ['shared', 'supervisor'],
  admin: ['shared', 'control', 'supervisor', 'worker'],
  chaos: ['shared', 'control', 'supervisor'],
  'start.ts': ['shared', 'admin', 'supervisor', 'systemd'],
  cli: ['shared', 'start.ts', 'admin', 'chaos', 'control', 'log', 'reload', 'supervisor', 'worker'],
  'index.ts': ['shared', 'start.ts', 'admin', 'reload', 'supervisor', 'worker', 'listener', 'task', 'thread', 'host'],
};

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return /\.c?ts$/.test(entry.name) && !entry.name.endsWith('.d.ts') ? [path] : [];
  });
}

function roomOf(file: string): string {
  const path = relative(src, file);
  if (path.includes('/')) return path.split('/')[0]!;
  return path === 'index.ts' || path === 'start.ts' ? path : 'shared';
}

/** The project files a module imports (static, dynamic and re-exports), as absolute .ts paths. */
function importsOf(file: string): string[] {
  const { importedFiles } = ts.preProcessFile(readFileSync(file, 'utf8'), true, true);
  return importedFiles
    .map((imported) => imported.fileName)
    .filter((name) => name.startsWith('.'))
    .map((name) =>
      resolve(dirname(file), name)
        .replace(/\.js$/, '.ts')
        .replace(/\.cjs$/, '.cts'),
    );
}

const files = sourceFiles(src);
const graph = new Map(files.map((file) => [file, importsOf(file).filter((target) => files.includes(target))]));

describe('the source layout', () => {
  it('has every room in the table', () => {
    const rooms = new Set(files.map(roomOf));
    expect([...rooms].filter((room) => !(room in ALLOWED))).toEqual([]);
  });

  it('imports go one way: each room only from the rooms below it', () => {
    const upward: string[] = [];
    for (const [file, targets] of graph) {
      const from = roomOf(file);
      for (const target of targets) {
        const to = roomOf(target);
        if (to !== from && !ALLOWED[from]?.includes(to))
          upward.push(
            `${relative(src, file)} → ${relative(src, target)} (${from} may import ${ALLOWED[from]?.join(', ')})`,
          );
      }
    }
    expect(upward).toEqual([]);
  });

  it('has no circle: no module reaches itself through its imports', () => {
    // Tarjan's strongly connected components: a component of more than one module is a circle.
    const index = new Map<string, number>();
    const low = new Map<string, number>();
    const stack: string[] = [];
    const onStack = new Set<string>();
    const circles: string[][] = [];
    let next = 0;
    const visit = (file: string): void => {
      index.set(file, next);
      low.set(file, next++);
      stack.push(file);
      onStack.add(file);
      for (const target of graph.get(file) ?? []) {
        if (!index.has(target)) {
          visit(target);
          low.set(file, Math.min(low.get(file)!, low.get(target)!));
        } else if (onStack.has(target)) low.set(file, Math.min(low.get(file)!, index.get(target)!));
      }
      if (low.get(file) !== index.get(file)) return;
      const component: string[] = [];
      let member: string;
      do {
        member = stack.pop()!;
        onStack.delete(member);
        component.push(relative(src, member));
      } while (member !== file);
      if (component.length > 1 || (graph.get(file) ?? []).includes(file)) circles.push(component);
    };
    for (const file of files) if (!index.has(file)) visit(file);
    expect(circles).toEqual([]);
  });
});
