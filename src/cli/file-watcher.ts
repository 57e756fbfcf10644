// Watches a project's files for `arbor run --watch`: one non-recursive fs.watch per directory, walked from the
// roots, skipping what is not source (node_modules, dotfiles, build outputs, logs). Node 20's recursive fs.watch
// on Linux walks every file below the root, node_modules included, on the main thread (seconds, and tens of MB,
// on an ordinary project): not something a supervisor's process may do. Changes are reported in debounced batches.
import { watch, readdirSync, lstatSync, type FSWatcher } from 'node:fs';
import { basename, join } from 'node:path';

/** More directories than this is not a project's source: the rest is not watched (and a note says so). */
export const MAX_WATCHED_DIRECTORIES = 2000;
export const DEFAULT_DEBOUNCE_MS = 200;

const IGNORED_DIRECTORIES = new Set(['node_modules', 'dist', 'build', 'coverage']);

/** A name (one path segment) whose changes never reload: dependencies, dotfiles, build outputs, logs, editor leftovers. */
export function isIgnoredName(name: string): boolean {
  return (
    name.startsWith('.') ||
    IGNORED_DIRECTORIES.has(name) ||
    name.endsWith('~') ||
    /\.(log|swp|swx|tmp)$/.test(name) ||
    name === '4913'
  );
}

export interface FileWatcherOptions {
  /** Directories (watched with everything below them) or single files. */
  roots: readonly string[];
  /** Called once changes have settled for `debounceMs`, with the paths changed (added, changed, removed). */
  onChange: (paths: string[]) => void;
  /** Something a user should know (a directory that could not be watched, the limit reached). */
  onNote?: (note: string) => void;
  debounceMs?: number;
  maxDirectories?: number;
}

export class FileWatcher {
  private readonly watchers = new Map<string, FSWatcher>();
  private readonly changed = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  private limitNoted = false;

  constructor(private readonly options: FileWatcherOptions) {
    for (const root of options.roots) this.add(root);
  }

  /** Directories and files watched now. */
  get watching(): number {
    return this.watchers.size;
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
    for (const watcher of this.watchers.values()) watcher.close();
    this.watchers.clear();
  }

  /** Watches `path` (a file, or a directory and every directory below it that is not ignored). */
  private add(path: string): void {
    const pending = [path];
    while (pending.length > 0 && !this.closed) {
      const dir = pending.shift()!;
      if (this.watchers.has(dir)) continue;
      if (this.watchers.size >= (this.options.maxDirectories ?? MAX_WATCHED_DIRECTORIES)) {
        if (!this.limitNoted)
          this.options.onNote?.(`watching the first ${this.watchers.size} directories only; not ${dir} and the rest`);
        this.limitNoted = true;
        return;
      }
      let isDirectory: boolean;
      try {
        isDirectory = lstatSync(dir).isDirectory();
        const watcher = watch(dir, { persistent: false }, (_event, name) => this.event(dir, isDirectory, name));
        watcher.on('error', () => this.forget(dir));
        this.watchers.set(dir, watcher);
      } catch (error) {
        this.options.onNote?.(`cannot watch ${dir}: ${(error as Error).message}`);
        continue;
      }
      if (!isDirectory) continue;
      try {
        for (const entry of readdirSync(dir, { withFileTypes: true })) {
          if (entry.isDirectory() && !isIgnoredName(entry.name)) pending.push(join(dir, entry.name));
        }
      } catch {
        // Removed meanwhile: its watcher reports it, or errors.
      }
    }
  }

  private forget(path: string): void {
    this.watchers.get(path)?.close();
    this.watchers.delete(path);
  }

  private event(watched: string, isDirectory: boolean, name: string | Buffer | null): void {
    if (this.closed) return;
    const entry = name === null ? undefined : String(name);
    if (entry !== undefined && entry.split('/').some(isIgnoredName)) return;
    const path = isDirectory && entry !== undefined ? join(watched, entry) : watched;
    if (!isDirectory && isIgnoredName(basename(path))) return;
    let kind: 'file' | 'directory' | 'other' | 'gone';
    try {
      const stats = lstatSync(path);
      kind = stats.isFile() ? 'file' : stats.isDirectory() ? 'directory' : 'other';
    } catch {
      kind = 'gone';
    }
    // A socket or a fifo (a control socket beside the spec) is nobody's source.
    if (kind === 'other') return;
    if (kind === 'directory') {
      // What changes inside a directory already watched is reported by its own watcher; a new one (a checkout, a
      // copy) may arrive with its files already in it, so it counts as a change itself.
      if (this.watchers.has(path) || path === watched) return;
      this.add(path);
    }
    if (kind === 'gone' && this.watchers.has(path) && path !== watched) this.forget(path);
    this.changed.add(path);
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.flush(), this.options.debounceMs ?? DEFAULT_DEBOUNCE_MS);
  }

  private flush(): void {
    if (this.closed || this.changed.size === 0) return;
    const paths = [...this.changed];
    this.changed.clear();
    this.options.onChange(paths);
  }
}
