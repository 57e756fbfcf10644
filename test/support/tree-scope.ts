// Test support: the trees of one test file, each started with an event recorder and stopped (brutal) after each test.
import { afterEach } from 'vitest';
import { start, type Tree } from '../../src/index.js';
import { recorder, type Recorder } from './tree.js';

export interface StartedTree {
  tree: Tree;
  rec: Recorder;
}

/**
 * `run(spec)` starts a tree that logs to a recorder of its own. After each test every tree started is stopped
 * (brutal, one after the other), `stopped` is called with each once it is, and `afterStop` runs last.
 */
export function treeScope(hooks: { stopped?: (started: StartedTree) => void; afterStop?: () => Promise<void> } = {}): {
  run: (spec: Parameters<typeof start>[0]) => Promise<StartedTree>;
} {
  const running: StartedTree[] = [];
  afterEach(async () => {
    for (const started of running.splice(0)) {
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
