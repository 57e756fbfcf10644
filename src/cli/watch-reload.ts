// `arbor run --watch`: a change to the project's files reloads the tree (the spec read anew, then the rolling
// replacement of its workers), so requests keep being served through every edit. A change that breaks the code
// fails the reload and the old workers keep serving; the next change tries again.
import { relative } from 'node:path';
import type { Logger } from 'pino';
import type { Tree } from '../supervisor/tree.js';
import type { ReloadResult } from '../reload/index.js';
import { FileWatcher } from './file-watcher.js';

export interface WatchReloadOptions {
  tree: Pick<Tree, 'reload'>;
  logger: Logger;
  /** Directories or files to watch. */
  roots: readonly string[];
  /** One line for the person at the terminal (stderr). */
  say: (line: string) => void;
  debounceMs?: number;
}

/** Paths shown in a message: at most this many, then a count. */
const SHOWN_PATHS = 3;

export function watchAndReload(options: WatchReloadOptions): { close(): void } {
  const { tree, logger, roots, say } = options;
  let running = false;
  let closed = false;
  const waiting = new Set<string>();

  const show = (paths: string[]): string => {
    const names = paths.slice(0, SHOWN_PATHS).map((p) => relative(process.cwd(), p) || p);
    return paths.length > SHOWN_PATHS ? `${names.join(', ')} and ${paths.length - SHOWN_PATHS} more` : names.join(', ');
  };

  const reload = async (paths: string[]): Promise<void> => {
    running = true;
    logger.info({ event: 'files_changed', paths: paths.slice(0, 20), count: paths.length });
    say(`${show(paths)} changed: reloading`);
    try {
      say(summary(await tree.reload()));
    } catch (error) {
      // The reload logged its own failure (reload_failed / reload_refused) with the details.
      say(`reload failed, the running workers keep serving: ${(error as Error).message}`);
    } finally {
      running = false;
    }
    // Changes made while it ran get a reload of their own: the code on disk may have moved past what it loaded.
    if (waiting.size > 0 && !closed) {
      const next = [...waiting];
      waiting.clear();
      void reload(next);
    }
  };

  const watcher = new FileWatcher({
    roots,
    debounceMs: options.debounceMs,
    onNote: (note) => say(`watch: ${note}`),
    onChange: (paths) => {
      if (closed) return;
      if (running) for (const path of paths) waiting.add(path);
      else void reload(paths);
    },
  });
  logger.info({ event: 'watching', roots, directories: watcher.watching });
  say(`watching ${roots.map((r) => relative(process.cwd(), r) || '.').join(', ')} for changes (${watcher.watching} director${watcher.watching === 1 ? 'y' : 'ies'})`);
  return {
    close() {
      closed = true;
      watcher.close();
    },
  };
}

function summary(result: ReloadResult): string {
  const changes = result.changes.length > 0 ? `; spec: ${result.changes.join('; ')}` : '';
  return `reloaded: ${result.replaced.length} worker(s) replaced in ${(result.took / 1000).toFixed(1)} s${changes}`;
}
