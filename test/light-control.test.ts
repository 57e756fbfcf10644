// The light kinds through the control socket of `arbor run`: status shows tasks and threads, dynamic tasks start
// from the socket, and chaos faults kill a task and a thread (which their supervisors restart).
import { describe, expect, it } from 'vitest';
import type { SupervisorStatus } from '../src/index.js';
import { arborCommand, arborRunScope, controlRequest, spawnArborRun } from './support/arbor-run.js';
import { fixture } from './support/tree.js';

const { runs, tempDir } = arborRunScope('arbor-light-');

describe('tasks and threads under arbor run', () => {
  it('status shows them; start-child adds a task; faults kill a task and a thread, and both are restarted', async () => {
    const arbor = spawnArborRun(fixture('light-spec.mjs'), tempDir(), { ARBOR_CHAOS: '1' });
    runs.push(arbor);
    await arbor.line((l) => l.event === 'supervisor_started' && l.supervisor === 'root', 'the root started');

    await controlRequest(arbor, 'start-child', { path: 'root/pool', args: ['x'] });
    const status = await controlRequest<SupervisorStatus>(arbor, 'status', { path: 'root' });
    expect(status.children.map((c) => [c.id, c.type, c.kind, c.status, c.pid])).toEqual([
      ['loop', 'task', undefined, 'running', undefined],
      ['pool', 'supervisor', undefined, 'running', undefined],
      ['th', 'worker', 'thread', 'running', undefined],
    ]);
    expect(status.children[1]!.supervisor!.children).toMatchObject([{ id: 'job-1', type: 'task', status: 'running' }]);

    const shown = await arborCommand('status', '--control', arbor.control);
    expect(shown.stdout).toMatch(/loop\s+task\s+running/);
    expect(shown.stdout).toMatch(/th\s+worker thread\s+running/);

    await controlRequest(arbor, 'fault', { path: 'root/loop', fault: 'throw' });
    const loopExit = await arbor.line((l) => l.event === 'child_exited' && l.child === 'loop', 'loop exited');
    expect(loopExit).toMatchObject({
      reason: { error: 'arbor chaos: injected uncaught exception', escaped: true },
      action: 'restart',
    });
    await controlRequest(arbor, 'fault', { path: 'root/th', fault: 'exit' });
    expect(await arbor.line((l) => l.event === 'child_exited' && l.child === 'th', 'th exited')).toMatchObject({
      reason: { code: 1 },
      action: 'restart',
    });
    await arbor.line(
      (l) => l.event === 'child_started' && l.child === 'th' && arbor.lines.indexOf(l) > arbor.lines.indexOf(loopExit),
      'th restarted',
    );
    // The host lived through both: the same process answers.
    const after = await controlRequest<SupervisorStatus>(arbor, 'status', { path: 'root' });
    expect(after.children.map((c) => [c.id, c.status, c.restarts])).toEqual([
      ['loop', 'running', 1],
      ['pool', 'running', 0],
      ['th', 'running', 1],
    ]);

    arbor.proc.kill('SIGTERM');
    expect((await arbor.exited).code).toBe(0);
  });
});
