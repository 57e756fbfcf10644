// systemd socket activation (sd_listen_fds(3)): the sockets systemd — or `systemd-socket-activate` — opened for
// this process arrive as descriptors 3, 4, … described by LISTEN_PID, LISTEN_FDS and LISTEN_FDNAMES.
//
// The variables are read once per process and then removed from its environment (sd_listen_fds with
// unset_environment), so no worker forked later believes the sockets were passed to it.
import type { SupervisorSpec } from '../types.js';

/** The first passed descriptor (SD_LISTEN_FDS_START). */
export const LISTEN_FDS_START = 3;

/** Upper bound on LISTEN_FDS: more than this is a corrupt environment, not a socket unit. */
const MAX_LISTEN_FDS = 1024;

export interface PassedSocket {
  fd: number;
  /** `FileDescriptorName=` of the socket unit (systemd's default: the unit's name), or `unknown`. */
  name: string;
}

/** What the environment passed: the sockets, or why there are none (a message that says what to do). */
export type Activation = { sockets: PassedSocket[] } | { error: string };

/** A listener's `fd` that names a socket passed by systemd: `'systemd'` or `'systemd:<name>'`. */
export type SystemdFd = 'systemd' | `systemd:${string}`;

export function isSystemdFd(fd: unknown): fd is SystemdFd {
  return fd === 'systemd' || (typeof fd === 'string' && fd.startsWith('systemd:') && fd.length > 'systemd:'.length);
}

type Env = Record<string, string | undefined>;

/** Pure: reads the activation variables as sd_listen_fds does, for the process `pid`. */
export function parseActivation(env: Env, pid: number): Activation {
  const { LISTEN_PID, LISTEN_FDS, LISTEN_FDNAMES } = env;
  if (LISTEN_FDS === undefined || LISTEN_PID === undefined) {
    const missing = [LISTEN_PID === undefined ? 'LISTEN_PID' : '', LISTEN_FDS === undefined ? 'LISTEN_FDS' : '']
      .filter(Boolean)
      .join(' and ');
    return {
      error: `systemd socket activation: ${missing} not set (start arbor from a .socket unit, or under systemd-socket-activate)`,
    };
  }
  if (!/^\d+$/.test(LISTEN_PID)) return { error: `systemd socket activation: LISTEN_PID=${LISTEN_PID} is not a pid` };
  if (Number(LISTEN_PID) !== pid) {
    return {
      error: `systemd socket activation: LISTEN_PID=${LISTEN_PID} is not this process (${pid}); the sockets were passed to another process`,
    };
  }
  if (!/^\d+$/.test(LISTEN_FDS) || Number(LISTEN_FDS) > MAX_LISTEN_FDS) {
    return { error: `systemd socket activation: LISTEN_FDS=${LISTEN_FDS} is not a number of descriptors` };
  }
  const count = Number(LISTEN_FDS);
  if (count === 0) return { error: 'systemd socket activation: LISTEN_FDS=0, no socket was passed' };
  const names = LISTEN_FDNAMES !== undefined ? LISTEN_FDNAMES.split(':') : [];
  return {
    sockets: Array.from({ length: count }, (_, i) => ({ fd: LISTEN_FDS_START + i, name: names[i] || 'unknown' })),
  };
}

/** Pure: the descriptor that `'systemd'` or `'systemd:<name>'` designates among the passed sockets. */
export function selectSocket(activation: Activation, which: SystemdFd): { fd: number } | { error: string } {
  if ('error' in activation) return activation;
  const { sockets } = activation;
  const listed = sockets.map((s) => `${s.name} (fd ${s.fd})`).join(', ');
  if (which === 'systemd') {
    if (sockets.length === 1) return { fd: sockets[0]!.fd };
    return {
      error: `systemd socket activation: ${sockets.length} sockets were passed (${listed}); name one with fd: 'systemd:<name>'`,
    };
  }
  const name = which.slice('systemd:'.length);
  const matches = sockets.filter((s) => s.name === name);
  if (matches.length === 1) return { fd: matches[0]!.fd };
  if (matches.length > 1) {
    return {
      error: `systemd socket activation: ${matches.length} sockets are named '${name}' (${listed}); give each a distinct FileDescriptorName=`,
    };
  }
  return {
    error: `systemd socket activation: no socket named '${name}' among ${listed} (LISTEN_FDNAMES, FileDescriptorName= in the .socket unit)`,
  };
}

const ACTIVATION_VARIABLES = ['LISTEN_PID', 'LISTEN_FDS', 'LISTEN_FDNAMES'] as const;
let claimed: Activation | undefined;

/**
 * This process's passed sockets. The first call reads the variables and removes them from `process.env`,
 * so that workers forked afterwards do not inherit them; later calls answer the same.
 */
export function claimActivation(): Activation {
  if (claimed === undefined) {
    claimed = parseActivation(process.env, process.pid);
    // Removed only when they were ours: variables meant for another process are left as they were.
    if ('sockets' in claimed) for (const name of ACTIVATION_VARIABLES) delete process.env[name];
  }
  return claimed;
}

/** The descriptor of the passed socket `which` designates, claiming the activation variables on first use. */
export function systemdSocket(which: SystemdFd): { fd: number } | { error: string } {
  return selectSocket(claimActivation(), which);
}

/** True when some listener of the tree adopts a socket passed by systemd. */
export function usesSocketActivation(spec: SupervisorSpec): boolean {
  return spec.children.some((child) =>
    child.type === 'listener' ? isSystemdFd(child.fd) : child.type === 'supervisor' && usesSocketActivation(child),
  );
}
