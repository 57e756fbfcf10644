// How a forked worker, spare or host comes to lead a process group of its own (decision 0006), and how it is guarded
// against outliving its supervisor (decisions 0022, 0028).
//
// node offers one way: `detached: true`, which is setsid(), a new session. On Linux with autogroup
// (kernel.sched_autogroup_enabled=1, most distributions' default) every session is a scheduling group of its own,
// so each worker would be scheduled as if it were a separate login: against a load generator or any other busy
// session it gets a different share of the CPUs than cluster's workers, which share their primary's group
// (bench/README.md, "Throughput, and what the scheduler decides"). setpgid() gives the group without the session,
// but node does not expose it, so on Linux the fork goes through perl (in every Debian and most other installs),
// which calls setpgrp(0, 0) and execs node in place: same pid, same file descriptors (the IPC channel included),
// about 1.5 ms more per start. Without a trusted perl, or with ARBOR_PROCESS_GROUPS=session, the fork is detached as
// before.
//
// The guard. Where perl runs anyway, it also asks the kernel to SIGKILL the process when its supervisor dies
// (prctl PR_SET_PDEATHSIG, kept across the exec), kills it at once if the supervisor is already gone, and raises its
// OOM score; the watcher (./groups.ts) ends its group, grandchildren included. That costs perl a few microseconds,
// where the guard preloaded into node (`--require …/guard.cjs`) costs every start ~2.5 ms: node sets up its
// CommonJS loader for it. The preload stays wherever the launcher cannot do this: no perl, a CPU whose prctl number
// is not known here, no watcher running, or a fork from a worker thread.
import { fork, type ChildProcess, type ForkOptions } from 'node:child_process';
import { realpathSync, statSync, type Stats } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isMainThread } from 'node:worker_threads';

/** `session` keeps node's setsid() for every fork; anything else lets Linux use setpgid() through perl. */
export const PROCESS_GROUPS_ENV = 'ARBOR_PROCESS_GROUPS';

// Compiled JavaScript beside this file; from TypeScript sources (the test suite), the built copy in dist/.
const here = fileURLToPath(import.meta.url);
const GUARD = here.endsWith('.ts')
  ? join(dirname(here), '../../dist/runtime/guard.cjs')
  : join(dirname(here), '../runtime/guard.cjs');

/** The variable that tells a forked process (its launcher, guard and runtime) which process is its supervisor. */
export const SUPERVISOR_PID_ENV = 'ARBOR_SUPERVISOR_PID';

/** Added to the inherited oom_score_adj (capped at 1000); the preloaded guard raises it by as much (guard.cts). */
const OOM_SCORE_ADJ_RAISE = 500;

/** prctl's system call number, on the CPUs where it is known here (x86_64; arm64, the generic table). */
const PRCTL_SYSCALL: Partial<Record<NodeJS.Architecture, number>> = { x64: 157, arm64: 167 };

// perl reads two things of the worker's environment at its own start. PERL5OPT (switches, modules to load) is held
// back and put back before the exec. PERL_SKIP_LOCALE_INIT=1 is added when absent, and taken out again before the
// exec, so that perl does not set up a locale at all: no warning of one this machine lacks, and ~0.2 ms less per
// start. The worker gets exactly the environment it was given. (Taint mode would ignore PERL5OPT by itself, but
// refuses to exec at all when PATH holds a relative or world-writable directory.)
// With a prctl number, the guard: PR_SET_PDEATHSIG (1) to SIGKILL (9); then, if the parent is no longer the
// supervisor (it died before the prctl), SIGKILL to the group this process now leads, that is to itself; then the
// OOM score. A failed prctl stops the start: no worker runs unguarded.
const LAUNCHER =
  'my ($localeSkipAdded, $option, $prctl, @command) = @ARGV;' +
  ' delete $ENV{PERL_SKIP_LOCALE_INIT} if $localeSkipAdded;' +
  ' $ENV{PERL5OPT} = substr($option, 1) if length $option;' +
  ' setpgrp(0, 0) or die "arbor: setpgrp: $!\\n";' +
  ' if (length $prctl) {' +
  '  syscall($prctl, 1, 9) == 0 or die "arbor: prctl(PR_SET_PDEATHSIG): $!\\n";' +
  `  kill("KILL", 0) if getppid() != $ENV{${SUPERVISOR_PID_ENV}};` +
  '  if (open(my $in, "<", "/proc/self/oom_score_adj")) {' +
  '   my $adj = <$in>; close $in;' +
  `   if (defined $adj && $adj =~ /^(-?\\d+)\\s*$/ && open(my $out, ">", "/proc/self/oom_score_adj")) {` +
  `    my $raised = $1 + ${OOM_SCORE_ADJ_RAISE}; print $out ($raised > 1000 ? 1000 : $raised); close $out;` +
  '   }' +
  '  }' +
  ' }' +
  ' exec { $command[0] } @command or die "arbor: exec $command[0]: $!\\n";';

/** `prctl`: the launcher can guard the process (see above); undefined where this CPU's number is not known. */
export type GroupLaunch = { kind: 'session' } | { kind: 'group'; perl: string; prctl: number | undefined };

let chosen: GroupLaunch | undefined;

/** How forks get their group here: decided once per supervisor process. */
export function groupLaunch(): GroupLaunch {
  chosen ??= decide();
  return chosen;
}

function decide(): GroupLaunch {
  return chooseGroupLaunch(
    process.platform,
    process.env[PROCESS_GROUPS_ENV],
    () => PERL_PATHS.find((path) => isTrustedExecutable(path)),
    process.arch,
  );
}

/** setpgid through perl only on Linux (where autogroup is), when perl is found and the environment does not say no. */
export function chooseGroupLaunch(
  platform: NodeJS.Platform,
  setting: string | undefined,
  findPerl: () => string | undefined,
  arch: NodeJS.Architecture,
): GroupLaunch {
  if (platform !== 'linux' || setting === 'session') return { kind: 'session' };
  const perl = findPerl();
  return perl === undefined ? { kind: 'session' } : { kind: 'group', perl, prctl: PRCTL_SYSCALL[arch] };
}

// Every worker start runs it as this user, so never one found through PATH, where another user's directory may be.
const PERL_PATHS = ['/usr/bin/perl', '/bin/perl', '/usr/local/bin/perl'];

/**
 * An executable regular file that only root or this user can change, in a directory that only they can change
 * (a symbolic link is followed, as exec would, and its target checked).
 */
export function isTrustedExecutable(path: string): boolean {
  const uid = process.getuid?.();
  const ours = (stats: Stats): boolean => (stats.uid === 0 || stats.uid === uid) && (stats.mode & 0o022) === 0;
  try {
    const real = realpathSync(path);
    const file = statSync(real);
    return file.isFile() && (file.mode & 0o111) !== 0 && ours(file) && ours(statSync(dirname(real)));
  } catch {
    return false;
  }
}

/** ForkOptions without the two that this module decides. */
export type GroupForkOptions = Omit<ForkOptions, 'detached' | 'execPath'>;

/**
 * `fork(modulePath, args, options)`, the child leading a process group of its own, in this process's session where
 * the platform allows it, and guarded: it never outlives this process. `watched`: a group watcher runs
 * (./groups.ts), so a launcher that guards leaves the guard out of node. Until the child has called setpgrp (within a
 * few ms of the fork) its group does not exist: signalling the group fails then, and callers fall back to signalling
 * the pid (./groups.ts).
 */
export function forkGroupLeader(
  modulePath: string,
  args: readonly string[],
  options: GroupForkOptions,
  watched: boolean,
): ChildProcess {
  const launch = groupLaunch();
  const env: NodeJS.ProcessEnv = { ...(options.env ?? process.env), [SUPERVISOR_PID_ENV]: String(process.pid) };
  const execArgv = options.execArgv ?? process.execArgv;
  // The kernel's parent-death signal follows the thread that forked, not the process: a fork from a worker thread
  // (a tree embedded there) keeps the preloaded guard, which watches the process.
  const guardedByLauncher = launch.kind === 'group' && launch.prctl !== undefined && watched && isMainThread;
  // The preloaded guard goes first, so it runs before any preload or module of the user's.
  const nodeArgv = guardedByLauncher ? [...execArgv] : ['--require', GUARD, ...execArgv];
  if (launch.kind === 'session')
    return fork(modulePath, [...args], { ...options, env, execArgv: nodeArgv, detached: true });
  const { PERL5OPT: option, ...perlEnv } = env;
  const localeSkipAdded = perlEnv.PERL_SKIP_LOCALE_INIT === undefined;
  if (localeSkipAdded) perlEnv.PERL_SKIP_LOCALE_INIT = '1';
  return fork(modulePath, [...args], {
    ...options,
    env: perlEnv,
    execPath: launch.perl,
    execArgv: [
      '-e',
      LAUNCHER,
      '--',
      localeSkipAdded ? '1' : '0',
      option === undefined ? '' : `=${option}`,
      guardedByLauncher ? String(launch.prctl) : '',
      process.execPath,
      ...nodeArgv,
    ],
  });
}
