// Standby workers: a parked, already booted process takes over a restart, as the worker it replaces.
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { start, supervisor, worker, type Tree } from '../src/index.js';
import { eventually, fixture, isAlive, reap, recorder, type Recorder } from './support/tree.js';

const running: Array<{ tree: Tree; rec: Recorder }> = [];
afterEach(async () => {
  for (const { tree, rec } of running.splice(0)) {
    await tree.stop({ brutal: true }).catch(() => undefined);
    reap([...rec.of('child_started').map((e) => e.pid), ...tree.standby.parkedPids()]);
  }
});

describe('standby workers', () => {
  it('a restart is served by the parked process, with the worker’s own module, args and env', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'arbor-identity-'));
    const rec = recorder();
    const tree = await start(
      supervisor({
        intensity: 5,
        children: [worker({ id: 'w', module: fixture('identity.mjs'), args: ['--flag', 'x'], env: { IDENTITY_DIR: dir, FOO: 'bar' }, standby: true })],
      }),
      { logger: rec.logger },
    );
    running.push({ tree, rec });
    await eventually(() => tree.standby.parkedPids().length === 1, 'a process is parked');
    const [spare] = tree.standby.parkedPids();
    const first = tree.whichChildren()[0]!.pid!;
    const back = rec.next((e) => e.event === 'child_started' && e.child === 'w', 'w restarted');
    process.kill(first, 'SIGKILL');
    expect(await back).toMatchObject({ pid: spare });
    const identity = JSON.parse(readFileSync(join(dir, `${spare}.json`), 'utf8'));
    expect(identity).toEqual({ argv: [fixture('identity.mjs'), '--flag', 'x'], path: 'root/w', foo: 'bar' });
    // The next spare is parked once the replacement is ready; stopping the tree kills it too.
    await eventually(() => tree.standby.parkedPids().length === 1 && tree.standby.parkedPids()[0] !== spare, 'a new spare');
    const next = tree.standby.parkedPids()[0];
    await tree.stop();
    await eventually(() => !isAlive(next) && !isAlive(spare), 'no process left');
  });

  it('without standby no process is parked', async () => {
    const rec = recorder();
    const tree = await start(supervisor({ children: [worker({ id: 'w', module: fixture('controlled.mjs') })] }), { logger: rec.logger });
    running.push({ tree, rec });
    expect(tree.standby.parkedPids()).toEqual([]);
  });
});
