// The domain of a supervision tree: these types are the documentation of the spec (DESIGN.md §1, §2).

export type RestartType = 'permanent' | 'transient' | 'temporary';
export type Strategy = 'one_for_one' | 'rest_for_one' | 'one_for_all' | 'simple_one_for_one';
export type AutoShutdown = 'never' | 'any_significant' | 'all_significant';
/** `brutal_kill` = SIGKILL; a number = ask, then SIGKILL after that many ms; `infinity` = wait. */
export type Shutdown = 'brutal_kill' | 'infinity' | number;
export type ChildType = 'worker' | 'supervisor' | 'listener';
export type ListenerMode = 'shared' | 'round_robin';

/** Why a child stopped. `normal`, `shutdown` and `{ shutdown }` are the normal ones; all others are abnormal. */
export type ExitReason =
  | 'normal'
  | 'shutdown'
  | { shutdown: unknown }
  | { code: number }
  | { signal: string }
  | { error: string; stack?: string }
  | { startFailed: string }
  | { hung: number }
  | { memory: number }
  /** The worker sent an IPC message longer than the supervisor accepts (bytes buffered when it was stopped). */
  | { ipcOverflow: number };

export interface HeartbeatOptions {
  /** How often the supervisor pings the worker over IPC, in ms. */
  interval: number;
  /** A worker that has not answered a ping for this long is hung and gets SIGKILLed (`{ hung: ms }`). */
  timeout: number;
}

interface CommonChildSpec {
  id: string;
  restart: RestartType;
  shutdown: Shutdown;
  /** With the parent's `autoShutdown`, the exit of a significant child may stop the parent (OTP 24+). */
  significant: boolean;
}

export interface WorkerSpec extends CommonChildSpec {
  type: 'worker';
  /** Path of the JavaScript module to fork (absolute, or relative to the process's cwd). */
  module: string;
  args: string[];
  /** Extra environment for the worker, on top of the supervisor's own. */
  env: Record<string, string>;
  execArgv: string[];
  cwd?: string;
  /** The id of a listener child (a sibling or a child of an ancestor) whose socket this worker serves. */
  listen?: string;
  /** ms between fork and the worker's `ready` before the start counts as failed (`{ startFailed: 'timeout' }`). */
  startTimeout: number;
  heartbeat?: HeartbeatOptions;
  /** Resident memory, in bytes, above which the worker is killed (`{ memory: bytes }`); checked with heartbeats. */
  maxMemory?: number;
  /**
   * Keep one node process booted and parked for this worker, so a restart skips node's start-up (~90 ms): the
   * replacement only loads the module. Costs one idle process per distinct execArgv/cwd in the tree.
   */
  standby?: boolean;
}

export interface ListenerSpec extends CommonChildSpec {
  type: 'listener';
  host: string;
  port: number;
  backlog: number;
  mode: ListenerMode;
  /** Adopt an inherited, already listening descriptor (e.g. systemd socket activation) instead of binding. */
  fd?: number;
}

export interface SupervisorSpec extends CommonChildSpec {
  type: 'supervisor';
  strategy: Strategy;
  intensity: number;
  /** ms */
  period: number;
  autoShutdown: AutoShutdown;
  children: ChildSpec[];
  /** simple_one_for_one only: every dynamic child is started from this template plus `startChild`'s args. */
  template?: WorkerSpec;
}

export type ChildSpec = WorkerSpec | ListenerSpec | SupervisorSpec;

export function isNormalExit(reason: ExitReason): boolean {
  return reason === 'normal' || reason === 'shutdown' || (typeof reason === 'object' && 'shutdown' in reason);
}

export function formatReason(reason: ExitReason): string {
  return typeof reason === 'string' ? reason : JSON.stringify(reason);
}
