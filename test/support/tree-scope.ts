// Test support: the trees of one test file, each started with an event recorder and stopped (brutal) after each test.
import { afterEach } from 'vitest';
import { start, type Tree } from '../../src/index.js';
import { recorder, type Recorder } from './tree.js';

export interface StartedTree {
  tree: Tree;
  rec: Recorder;
}

export interface TreeScopeHooks {
  /** Called with each tree just before it is stopped. */
  stopping?: (started: StartedTree) => void;
  /** Called with each tree once it is stopped. */
  stopped?: (started: StartedTree) => void;
  /** Runs once every tree is stopped. */
  afterStop?: () => Promise<void>;
}

/**
 * `run(spec)` starts a tree that logs to a recorder of its own. After each test every tree started is stopped
 * (brutal, one after the other) with the hooks around each stop, and `afterStop` runs last.
 */
export function treeScope(hooks: TreeScopeHooks = {}): {
  run: (spec: Parameters<typeof start>[0]) => Promise<StartedTree>;
} {
  const running: StartedTree[] = [];
  afterEach(async () => {
    for (const started of running.splice(0)) {
      hooks.stopping?.(started);
      await started.tree.stop({ brutal: true }).catch(() => undefined);
      hooks.stopped?.(started);
    }
    await hooks.afterStop?.();
  });
  return {
    run: async (spec) => {
      const rec = recorder();
      const tree = await start(spec, { logger: rec.logger });
      running.push({ tree, rec });
      return { tree, rec };
    },
  };
}
