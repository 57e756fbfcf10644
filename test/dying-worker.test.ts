// A worker dying of an uncaught exception stops accepting before it reports and exits: connections made meanwhile
// wait for its replacement (in the listening socket's backlog, or held by a round_robin listener) instead of being
// taken by a process that is about to exit.
import { describe, expect, it } from 'vitest';
import { listener, supervisor, worker, type ListenerMode } from '../src/index.js';
import { get } from './support/http.js';
import { fixture, reap } from './support/tree.js';
import { treeScope } from './support/tree-scope.js';

const { run: startTree } = treeScope({ stopped: ({ rec }) => reap(rec.of('child_started').map((e) => e.pid)) });

async function run(mode: ListenerMode) {
  const started = await startTree(
    supervisor({
      strategy: 'rest_for_one',
      children: [
        listener({ id: 'http', port: 0, mode }),
        supervisor({
          id: 'pool',
          children: [
            worker({ id: 'w', module: fixture('crash-slowly.mjs'), listen: 'http', env: { CRASH_PRINT_MS: '1000' } }),
          ],
        }),
      ],
    }),
  );
  const port = Number(started.tree.whichChildren()[0]!.listener!.address!.split(':').pop());
  return { ...started, port };
}

describe.each<ListenerMode>(['shared', 'round_robin'])(
  'a worker dying of an uncaught exception, %s listener',
  (mode) => {
    it('takes no connection made while it reports the exception: its replacement answers every one', async () => {
      const { tree, rec, port } = await run(mode);
      const dying = tree.whichChildren('root/pool')[0]!.pid!;
      const replaced = rec.next((e) => e.event === 'child_started' && e.child === 'w', 'the replacement', 30_000);
      // Answered, then the worker throws at once; printing the exception keeps it busy for a second.
      expect(await get(port, '/crash')).toMatchObject({ status: 200, body: 'crashing' });
      const answers = await Promise.all(Array.from({ length: 5 }, () => get(port, '/', false, 30_000)));
      const replacement = (await replaced) as { pid: number };
      expect(replacement.pid).not.toBe(dying);
      expect(answers).toEqual(
        Array.from({ length: 5 }, () => expect.objectContaining({ status: 200, body: String(replacement.pid) })),
      );
      // It closed its listen before reporting: even while its report waits to be written, it takes nothing more.
      const said = (e: unknown) => e as { event: string; pid?: number; line?: string };
      const atExit = said(
        await rec.waitFor(
          (e) =>
            said(e).event === 'output' &&
            said(e).pid === dying &&
            said(e).line?.startsWith('listening at exit') === true,
          'the dying worker’s last line',
        ),
      );
      expect(atExit.line).toBe('listening at exit: false');
      expect(rec.of('child_exited')).toEqual([
        expect.objectContaining({
          child: 'w',
          pid: dying,
          reason: expect.objectContaining({ error: 'an exception slow to print' }),
        }),
      ]);
    });
  },
);
