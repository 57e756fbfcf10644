// Every process a supervisor forks leads a process group of its own. On Linux with perl it stays in the supervisor's
// session (setpgid through perl, then node in place), so Linux's autogroup schedules it with its supervisor as
// cluster's workers are; elsewhere, or with ARBOR_PROCESS_GROUPS=session, it leads a session of its own (node's
// setsid). Either way its environment and arguments are the ones it was given. Needs the build (dist/).
import { chmodSync, existsSync, readFileSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { supervisor, worker } from '../src/index.js';
import { chooseGroupLaunch, groupLaunch, isTrustedExecutable } from '../src/worker/group-fork.js';
import { arborRunScope, repo, spawnArborRun } from './support/arbor-run.js';
import { hostProcesses, hosted } from './support/hosts.js';
import { procStat } from './support/process-tree.js';
import { eventually, fixture } from './support/tree.js';
import { treeScope } from './support/tree-scope.js';

const ARBOR = pathToFileURL(join(repo, 'dist/index.js')).href;
const IDENTITY = fixture('identity.mjs');
const viaPerl = groupLaunch().kind === 'group';
const ownSession = (pid: number) => procStat(pid)?.session;

// Every `arbor run` pushed onto `runs` is killed with its workers after each test, passed or failed.
const { runs, tempDir } = arborRunScope('arbor-group-fork-');
const { run } = treeScope();

interface Identity {
  argv: string[];
  execArgv: string[];
  env: Record<string, string | null>;
}
const identityOf = (dir: string, pid: number): Identity =>
  JSON.parse(readFileSync(join(dir, `${pid}.json`), 'utf8')) as Identity;

describe('how forks get their group', () => {
  const perl = () => '/usr/bin/perl';
  const none = () => undefined;
  it('through perl on Linux, unless perl is missing or ARBOR_PROCESS_GROUPS=session; a session elsewhere', () => {
    const group = { kind: 'group', perl: '/usr/bin/perl', prctl: 157 };
    expect(chooseGroupLaunch('linux', undefined, perl, 'x64')).toEqual(group);
    expect(chooseGroupLaunch('linux', 'group', perl, 'x64')).toEqual(group);
    expect(chooseGroupLaunch('linux', 'session', perl, 'x64')).toEqual({ kind: 'session' });
    expect(chooseGroupLaunch('linux', undefined, none, 'x64')).toEqual({ kind: 'session' });
    for (const platform of ['darwin', 'freebsd', 'win32'] as const)
      expect(chooseGroupLaunch(platform, undefined, perl, 'x64')).toEqual({ kind: 'session' });
  });
});

describe('which perl is trusted to start every worker', () => {
  it('only an executable file that root or this user alone can change, in a directory the same', () => {
    const dir = tempDir(); // mkdtemp: mode 0700, ours
    const perl = join(dir, 'perl');
    writeFileSync(perl, '#!/bin/sh\n', { mode: 0o755 });
    expect(isTrustedExecutable(perl)).toBe(true);
    chmodSync(perl, 0o644);
    expect(isTrustedExecutable(perl), 'not executable').toBe(false);
    chmodSync(perl, 0o775);
    expect(isTrustedExecutable(perl), 'group-writable').toBe(false);
    chmodSync(perl, 0o755);
    chmodSync(dir, 0o777);
    expect(isTrustedExecutable(perl), 'in a world-writable directory').toBe(false);
    chmodSync(dir, 0o700);
    const other = tempDir();
    chmodSync(other, 0o777);
    writeFileSync(join(other, 'perl'), '#!/bin/sh\n', { mode: 0o755 });
    symlinkSync(join(other, 'perl'), join(dir, 'link'));
    expect(isTrustedExecutable(join(dir, 'link')), 'a link into a world-writable directory').toBe(false);
    expect(isTrustedExecutable(join(dir, 'missing'))).toBe(false);
    expect(isTrustedExecutable(dir), 'a directory').toBe(false);
  });

  it.skipIf(!existsSync('/usr/bin/perl'))('the system’s own perl is', () => {
    expect(isTrustedExecutable('/usr/bin/perl')).toBe(true);
  });
});

describe.skipIf(!viaPerl)('on Linux with perl: a group of its own in the supervisor’s session', () => {
  it('a worker, a warm spare and a task host each lead their group, in this process’s session', async () => {
    const dir = tempDir();
    const { tree } = await run(
      supervisor({
        id: 'root',
        hosts: { pool: { kind: 'process', size: 1 } },
        children: [worker({ id: 'w', module: IDENTITY, env: { IDENTITY_DIR: dir }, standby: true }), hosted('job')],
      }),
    );
    const session = ownSession(process.pid)!;
    const workerPid = tree.whichChildren('root').find((c) => c.id === 'w')!.pid!;
    await eventually(() => hostProcesses().length === 1, 'the host process');
    const hostPid = hostProcesses()[0]!;
    // The spare: forked by this process, neither the worker nor the host.
    let sparePid = 0;
    await eventually(() => {
      sparePid =
        readdirSync('/proc')
          .filter((entry) => /^\d+$/.test(entry))
          .map(Number)
          .find((pid) => {
            const stat = procStat(pid);
            return (
              stat?.ppid === process.pid && pid !== workerPid && pid !== hostPid && stat.state !== 'Z' && isNode(pid)
            );
          }) ?? 0;
      return sparePid !== 0;
    }, 'the warm spare');
    for (const pid of [workerPid, hostPid, sparePid]) {
      expect(procStat(pid), `process ${pid}`).toMatchObject({ pgrp: pid, session });
      expect(readFileSync(`/proc/${pid}/comm`, 'utf8').trim()).toBe('node');
    }
  });

  it('the worker gets the environment it was given: PERL5OPT kept (perl never read it), PERL_SKIP_LOCALE_INIT not added', async () => {
    const dir = tempDir();
    const names = 'PERL5OPT,PERL_SKIP_LOCALE_INIT,PERL_BADLANG,LC_ALL,FOO';
    const { tree, rec } = await run(
      supervisor({
        id: 'root',
        children: [
          worker({
            id: 'plain',
            module: IDENTITY,
            args: ['a b', '--', "'"],
            execArgv: ['--stack-trace-limit=7'],
            // A module perl cannot load, and a locale this machine lacks: perl would die on the first, warn on the second.
            env: {
              IDENTITY_DIR: dir,
              IDENTITY_ENV: names,
              PERL5OPT: '-MNo::Such::Module',
              LC_ALL: 'xx_YY.UTF-8',
              FOO: 'bar',
            },
          }),
          worker({
            id: 'skip-locale',
            module: IDENTITY,
            env: { IDENTITY_DIR: dir, IDENTITY_ENV: names, PERL_SKIP_LOCALE_INIT: '1', PERL_BADLANG: '1' },
          }),
        ],
      }),
    );
    const pidOf = (id: string) => tree.whichChildren('root').find((c) => c.id === id)!.pid!;
    const plain = identityOf(dir, pidOf('plain'));
    expect(plain.argv.slice(1)).toEqual(['a b', '--', "'"]);
    expect(plain.execArgv.slice(-1)).toEqual(['--stack-trace-limit=7']);
    expect(plain.env).toEqual({
      PERL5OPT: '-MNo::Such::Module',
      PERL_SKIP_LOCALE_INIT: null,
      PERL_BADLANG: null,
      LC_ALL: 'xx_YY.UTF-8',
      FOO: 'bar',
    });
    expect(identityOf(dir, pidOf('skip-locale')).env).toMatchObject({
      PERL5OPT: null,
      PERL_SKIP_LOCALE_INIT: '1',
      PERL_BADLANG: '1',
    });
    // perl would warn on the same pipe, before node starts: once the worker's own line is read, so is any warning.
    const output = (e: unknown) => e as { event: string; pid?: number; line?: string };
    await rec.waitFor(
      (e) => output(e).event === 'output' && output(e).line === 'identity written' && output(e).pid === pidOf('plain'),
      'the worker’s own stderr line',
    );
    const perlSaid = rec.events.filter((e) => output(e).event === 'output' && output(e).line?.includes('perl'));
    expect(perlSaid).toEqual([]);
  });
});

describe.skipIf(process.platform !== 'linux')('arbor run: which session its workers are in', () => {
  async function workerOf(env: Record<string, string>) {
    const dir = tempDir();
    const spec = join(dir, 'spec.mjs');
    writeFileSync(
      spec,
      `import { supervisor, worker } from '${ARBOR}';
export default supervisor({ id: 'root', children: [worker({ id: 'w', module: ${JSON.stringify(IDENTITY)}, env: { IDENTITY_DIR: ${JSON.stringify(dir)} } })] });
`,
    );
    const arbor = spawnArborRun(spec, dir, env);
    runs.push(arbor);
    const started = await arbor.line(
      (l) => l.event === 'child_started' && l.child === 'w',
      'the worker started',
      30_000,
    );
    return { arbor, runPid: arbor.proc.pid!, workerPid: started.pid! };
  }

  it.skipIf(!viaPerl)('by default, the run’s own (arbor run leads a session: spawned detached here)', async () => {
    const { arbor, runPid, workerPid } = await workerOf({});
    expect(procStat(workerPid)).toMatchObject({ pgrp: workerPid, session: runPid });
    arbor.proc.kill('SIGTERM');
    await arbor.exited;
  });

  it('ARBOR_PROCESS_GROUPS=session: a session of the worker’s own', async () => {
    const { arbor, workerPid } = await workerOf({ ARBOR_PROCESS_GROUPS: 'session' });
    expect(procStat(workerPid)).toMatchObject({ pgrp: workerPid, session: workerPid });
    arbor.proc.kill('SIGTERM');
    await arbor.exited;
  });
});

describe.each([
  ['workers in a group of their own', {}],
  ['ARBOR_PROCESS_GROUPS=session', { ARBOR_PROCESS_GROUPS: 'session' }],
])('a Ctrl-C (SIGINT to arbor run’s process group), %s', (_name, env: Record<string, string>) => {
  it('reaches only the supervisor, which stops the workers in reverse order: no worker sees the SIGINT', async () => {
    const dir = tempDir();
    const witness = join(dir, 'witness.txt');
    writeFileSync(witness, '');
    const spec = join(dir, 'spec.mjs');
    const child = (id: string) =>
      `worker({ id: '${id}', module: ${JSON.stringify(fixture('signal-witness.mjs'))}, env: { WITNESS_FILE: ${JSON.stringify(witness)} } })`;
    writeFileSync(
      spec,
      `import { supervisor, worker } from '${ARBOR}';
export default supervisor({ id: 'root', children: [${child('first')}, ${child('second')}] });
`,
    );
    const arbor = spawnArborRun(spec, dir, env);
    runs.push(arbor);
    const first = await arbor.line((l) => l.event === 'child_started' && l.child === 'first', 'first started', 30_000);
    const second = await arbor.line(
      (l) => l.event === 'child_started' && l.child === 'second',
      'second started',
      30_000,
    );
    await arbor.line((l) => l.event === 'supervisor_started' && l.supervisor === 'root', 'the tree started', 30_000);
    process.kill(-arbor.proc.pid!, 'SIGINT');
    expect(await arbor.exited).toEqual({ code: 0, signal: null });
    const lines = readFileSync(witness, 'utf8').trim().split('\n');
    expect(lines.filter((line) => line.endsWith('SIGINT'))).toEqual([]);
    // The second stops first (reverse start order), each asked once.
    const shutdowns = lines.filter((line) => line.endsWith('shutdown'));
    expect(shutdowns).toEqual([`${second.pid} shutdown`, `${first.pid} shutdown`]);
    const terminated = arbor.lines.filter((l) => l.event === 'child_terminated').map((l) => l.child);
    expect(terminated).toEqual(['second', 'first']);
  });
});

function isNode(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'node';
  } catch {
    return false;
  }
}
