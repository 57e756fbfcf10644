// `module: './server.ts'`: a worker written in TypeScript runs through the same loader as a .ts spec, and so do its
// standby spares. Real `arbor run` processes, from dist/ as installed.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { arborRunScope, repo, spawnArborRun } from './support/arbor-run.js';

const ARBOR = pathToFileURL(join(repo, 'dist/index.js')).href;
const RUNTIME = pathToFileURL(join(repo, 'dist/runtime/runtime.js')).href;
const { runs, tempDir } = arborRunScope('arbor-ts-');

/** A TypeScript worker (types, an interface, `satisfies`) that says hello with its pid, then serves until stopped. */
const SERVER_TS = `
import { onShutdown, ready } from ${JSON.stringify(RUNTIME)};
interface Greeting { text: string; pid: number }
const greeting = { text: 'typed hello', pid: process.pid } satisfies Greeting;
console.log(\`\${greeting.text} from \${greeting.pid}\`);
const keepAlive: NodeJS.Timeout = setInterval(() => {}, 60_000);
onShutdown(() => clearInterval(keepAlive));
ready();
`;

describe('TypeScript workers', () => {
  it('run from a .ts module, and a standby spare of one takes over a restart running the same TypeScript', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'server.ts'), SERVER_TS);
    writeFileSync(
      join(dir, 'spec.ts'),
      `
      import { supervisor, worker } from ${JSON.stringify(ARBOR)};
      export default supervisor({ id: 'root', children: [
        worker({ id: 'plain', module: './server.ts' }),
        worker({ id: 'spare', module: './server.ts', standby: 'warm' }),
      ] });
    `,
    );
    const arbor = spawnArborRun(join(dir, 'spec.ts'), dir);
    runs.push(arbor);
    await arbor.line((l) => l.event === 'supervisor_started' && l.supervisor === 'root', 'the root started');
    for (const child of ['plain', 'spare']) {
      const { pid } = arbor.lines.find((l) => l.event === 'child_started' && l.child === child)!;
      await arbor.line(
        (l) => l.event === 'output' && l.path === `root/${child}` && l.line === `typed hello from ${pid}`,
        `${child}'s hello`,
      );
    }
    // The spare is parked; kill the worker: the spare takes over and runs the TypeScript module.
    const first = arbor.lines.find((l) => l.event === 'child_started' && l.child === 'spare')!.pid!;
    const parked = await waitForParkedSpare(arbor.control);
    process.kill(first, 'SIGKILL');
    const next = await arbor.line(
      (l) => l.event === 'child_started' && l.child === 'spare' && l.pid !== first,
      'the restart',
    );
    expect(next.pid).toBe(parked);
    await arbor.line(
      (l) => l.event === 'output' && l.path === 'root/spare' && l.line === `typed hello from ${parked}`,
      "the spare's hello",
    );
  });
});

/** The pid of a parked spare, from `status` (spares are forked once their worker is ready). */
async function waitForParkedSpare(control: string): Promise<number> {
  const { ControlClient } = await import('../src/control/client.js');
  const client = new ControlClient(control);
  try {
    const deadline = Date.now() + 30_000;
    for (;;) {
      const status = (await client.request('status')) as { spares?: Array<{ parked: number[] }> };
      const pid = status.spares?.flatMap((s) => s.parked)[0];
      if (pid !== undefined) return pid;
      if (Date.now() > deadline) throw new Error('no spare was parked');
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  } finally {
    client.close();
  }
}
