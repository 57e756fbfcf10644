// `arbor run --watch`: a change to the project's files reloads the tree (the spec read anew, then the rolling
// replacement of its workers), so requests keep being served through every edit. A change that breaks the code
// fails the reload and the old workers keep serving; the next change tries again.
import { relative } from 'node:path';
import type { Logger } from 'pino';
import type { Tree } from '../supervisor/tree.js';
import { ReloadError, type ReloadResult } from '../reload/index.js';
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
/** While another reload runs (`arbor reload`, SIGHUP), the one a change asks for is tried again this often. */
const BUSY_RETRY_MS = 500;

export function watchAndReload(options: WatchReloadOptions): { close(): void } {
  const { tree, logger, roots, say } = options;
  let running = false;
  let closed = false;
  let retry: NodeJS.Timeout | undefined;
  const waiting = new Set<string>();

  const show = (paths: string[]): string => {
    const names = paths.slice(0, SHOWN_PATHS).map((p) => relative(process.cwd(), p) || p);
    return paths.length > SHOWN_PATHS ? `${names.join(', ')} and ${paths.length - SHOWN_PATHS} more` : names.join(', ');
  };

  /** Paths already announced, waiting for another reload to end: not announced again at each try. */
  let announced = new Set<string>();
  const reload = async (paths: string[]): Promise<void> => {
    running = true;
    const fresh = paths.filter((p) => !announced.has(p));
    if (fresh.length > 0) {
      logger.info({ event: 'files_changed', paths: fresh.slice(0, 20), count: fresh.length });
      say(`${show(fresh)} changed: reloading`);
    }
    let busy = false;
    try {
      say(summary(await tree.reload()));
    } catch (error) {
      busy = error instanceof ReloadError && error.code === 'reload_in_progress';
      if (busy) for (const path of paths) waiting.add(path);
      // The reload logged its own failure (reload_failed / reload_refused) with the details.
      if (!busy) say(`reload failed, the running workers keep serving: ${(error as Error).message}`);
      else if (fresh.length > 0) say('another reload is running: this one follows it');
    } finally {
      running = false;
      announced = busy ? new Set(paths) : new Set();
    }
    // Changes made while it ran get a reload of their own: the code on disk may have moved past what it loaded.
    if (busy) {
      retry = setTimeout(() => {
        retry = undefined;
        reloadWaiting();
      }, BUSY_RETRY_MS);
    } else {
      reloadWaiting();
    }
  };
  const reloadWaiting = (): void => {
    if (waiting.size === 0 || closed || running) return;
    const next = [...waiting];
    waiting.clear();
    void reload(next);
  };

  const watcher = new FileWatcher({
    roots,
    debounceMs: options.debounceMs,
    onNote: (note) => say(`watch: ${note}`),
    onChange: (paths) => {
      if (closed) return;
      for (const path of paths) waiting.add(path);
      if (retry === undefined) reloadWaiting();
    },
  });
  logger.info({ event: 'watching', roots, directories: watcher.watching });
  say(
    `watching ${roots.map((r) => relative(process.cwd(), r) || '.').join(', ')} for changes (${watcher.watching} director${watcher.watching === 1 ? 'y' : 'ies'})`,
  );
  return {
    close() {
      closed = true;
      clearTimeout(retry);
      watcher.close();
    },
  };
}

function summary(result: ReloadResult): string {
  const changes = result.changes.length > 0 ? `; spec: ${result.changes.join('; ')}` : '';
  return `reloaded: ${result.replaced.length} worker(s) replaced in ${(result.took / 1000).toFixed(1)} s${changes}`;
}
