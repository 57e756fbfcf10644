// How a forked worker, spare or host comes to lead a process group of its own (decision 0006).
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
import { fork, type ChildProcess, type ForkOptions } from 'node:child_process';
import { realpathSync, statSync, type Stats } from 'node:fs';
import { dirname } from 'node:path';

/** `session` keeps node's setsid() for every fork; anything else lets Linux use setpgid() through perl. */
export const PROCESS_GROUPS_ENV = 'ARBOR_PROCESS_GROUPS';

// perl reads two things of the worker's environment at its own start. PERL5OPT (switches, modules to load) is held
// back and put back before the exec. PERL_SKIP_LOCALE_INIT=1 is added when absent, and taken out again before the
// exec, so that perl does not set up a locale at all: no warning of one this machine lacks, and ~0.2 ms less per
// start. The worker gets exactly the environment it was given. (Taint mode would ignore PERL5OPT by itself, but
// refuses to exec at all when PATH holds a relative or world-writable directory.)
const LAUNCHER =
  'my ($localeSkipAdded, $option, @command) = @ARGV;' +
  ' delete $ENV{PERL_SKIP_LOCALE_INIT} if $localeSkipAdded;' +
  ' $ENV{PERL5OPT} = substr($option, 1) if length $option;' +
  ' setpgrp(0, 0) or die "arbor: setpgrp: $!\\n";' +
  ' exec { $command[0] } @command or die "arbor: exec $command[0]: $!\\n";';

export type GroupLaunch = { kind: 'session' } | { kind: 'group'; perl: string };

let chosen: GroupLaunch | undefined;

/** How forks get their group here: decided once per supervisor process. */
export function groupLaunch(): GroupLaunch {
  chosen ??= decide();
  return chosen;
}

function decide(): GroupLaunch {
  return chooseGroupLaunch(process.platform, process.env[PROCESS_GROUPS_ENV], () =>
    PERL_PATHS.find((path) => isTrustedExecutable(path)),
  );
}

/** setpgid through perl only on Linux (where autogroup is), when perl is found and the environment does not say no. */
export function chooseGroupLaunch(
  platform: NodeJS.Platform,
  setting: string | undefined,
  findPerl: () => string | undefined,
): GroupLaunch {
  if (platform !== 'linux' || setting === 'session') return { kind: 'session' };
  const perl = findPerl();
  return perl === undefined ? { kind: 'session' } : { kind: 'group', perl };
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
 * the platform allows it. Until the child has called setpgrp (within a few ms of the fork) its group does not exist:
 * signalling the group fails then, and callers fall back to signalling the pid (./groups.ts).
 */
export function forkGroupLeader(modulePath: string, args: readonly string[], options: GroupForkOptions): ChildProcess {
  const launch = groupLaunch();
  if (launch.kind === 'session') return fork(modulePath, [...args], { ...options, detached: true });
  const { PERL5OPT: option, ...env } = options.env ?? process.env;
  const localeSkipAdded = env.PERL_SKIP_LOCALE_INIT === undefined;
  if (localeSkipAdded) env.PERL_SKIP_LOCALE_INIT = '1';
  return fork(modulePath, [...args], {
    ...options,
    env,
    execPath: launch.perl,
    execArgv: [
      '-e',
      LAUNCHER,
      '--',
      localeSkipAdded ? '1' : '0',
      option === undefined ? '' : `=${option}`,
      process.execPath,
      ...(options.execArgv ?? process.execArgv),
    ],
  });
}
