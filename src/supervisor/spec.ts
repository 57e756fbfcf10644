// Typed builders for a supervision spec, with OTP's defaults (DESIGN.md §2). Builders only fill defaults;
// `validateSpec` checks the whole tree before anything starts, so bad input is reported with its path.
import type {
  AutoShutdown, BackoffSpec, ChildSpec, HeartbeatOptions, ListenerMode, ListenerSpec, RestartType, Shutdown, Strategy,
  StandbyOption, SupervisorSpec, WorkerSpec,
} from '../types.js';
import { DEFAULT_BACKLOG } from '../listener/index.js';

export const DEFAULT_WORKER_SHUTDOWN = 5000;
export const DEFAULT_START_TIMEOUT = 10_000;

interface CommonOptions {
  id: string;
  backoff?: BackoffSpec;
  restart?: RestartType;
  shutdown?: Shutdown;
  significant?: boolean;
}

export interface WorkerOptions extends CommonOptions {
  module: string;
  args?: string[];
  env?: Record<string, string>;
  execArgv?: string[];
  cwd?: string;
  listen?: string;
  startTimeout?: number;
  heartbeat?: HeartbeatOptions;
  maxMemory?: number;
  standby?: StandbyOption;
}

export interface ListenerOptions extends CommonOptions {
  host?: string;
  port?: number;
  backlog?: number;
  mode?: ListenerMode;
  fd?: ListenerSpec['fd'];
}

export interface SupervisorOptions extends Partial<CommonOptions> {
  strategy?: Strategy;
  intensity?: number;
  period?: number;
  autoShutdown?: AutoShutdown;
  children?: ChildSpec[];
  /** A worker (its spec or options), or a supervisor spec for a subtree per dynamic child. */
  template?: WorkerSpec | WorkerOptions | SupervisorSpec;
  drainDelay?: number;
}

export function worker(options: WorkerOptions): WorkerSpec {
  return {
    restart: 'permanent',
    shutdown: DEFAULT_WORKER_SHUTDOWN,
    significant: false,
    args: [],
    env: {},
    execArgv: [],
    startTimeout: DEFAULT_START_TIMEOUT,
    ...options,
    type: 'worker',
  };
}

export function listener(options: ListenerOptions): ListenerSpec {
  return {
    restart: 'permanent',
    shutdown: DEFAULT_WORKER_SHUTDOWN,
    significant: false,
    host: '127.0.0.1',
    port: 0,
    backlog: DEFAULT_BACKLOG,
    mode: 'shared',
    ...options,
    type: 'listener',
  };
}

export function supervisor(options: SupervisorOptions = {}): SupervisorSpec {
  const { template, ...rest } = options;
  return {
    id: 'root',
    restart: 'permanent',
    shutdown: 'infinity',
    significant: false,
    strategy: 'one_for_one',
    intensity: 1,
    period: 5000,
    autoShutdown: 'never',
    children: [],
    ...rest,
    ...(template ? { template: 'type' in template ? template : worker(template) } : {}),
    type: 'supervisor',
  };
}
