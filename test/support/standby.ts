// Test support: trees with standby workers (their spares reaped after each test), the identity files the standby
// fixture writes, and its hot worker on a shared listener.
import { mkdtempSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';
import { worker, type WorkerSpec } from '../../src/index.js';
import { fixture, reap } from './tree.js';
import { treeScope } from './tree-scope.js';

/** Writes what it knows of itself to `$IDENTITY_DIR/<pid>.json` once it is the worker; serves it with LISTEN=1. */
export const IDENTITY = fixture('standby-identity.mjs');

/** Worker 'w' of the identity fixture, hot standby, serving on the listener 'http'; its identity goes to `dir`. */
export const hotListeningWorker = (dir: string): WorkerSpec =>
  worker({ id: 'w', module: IDENTITY, listen: 'http', env: { IDENTITY_DIR: dir, LISTEN: '1' }, standby: 'hot' });

/**
 * treeScope for trees with standby workers: after each test every tree is stopped (brutal), then every worker it
 * started and every spare it had before the stop are reaped.
 */
export function standbyTreeScope(): ReturnType<typeof treeScope> {
  const spares: number[] = [];
  return treeScope({
    stopping: ({ tree }) => void spares.push(...tree.standby.sparePids()),
    stopped: ({ rec }) => reap([...rec.of('child_started').map((e) => e.pid), ...spares.splice(0)]),
  });
}

/** New temp dirs (real paths, named from `prefix`) for the identity files; all removed after the file's tests. */
export function identityDirs(prefix: string): () => string {
  const dirs: string[] = [];
  afterAll(() => {
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });
  return () => {
    const dir = realpathSync(mkdtempSync(join(tmpdir(), prefix)));
    dirs.push(dir);
    return dir;
  };
}
