// Typed builders for a supervision spec, with OTP's defaults (DESIGN.md §2). Builders only fill defaults;
// `validateSpec` checks the whole tree before anything starts, so bad input is reported with its path.
import type {
  ChildSpec,
  HostedTaskSpec,
  ListenerSpec,
  Messages,
  SupervisorSpec,
  TaskSpec,
  WorkerSpec,
} from '../types.js';
import { isAbsolute, resolve } from 'node:path';
import { DEFAULT_BACKLOG } from '../listener/index.js';

/** @internal A worker's or listener's `shutdown` when the spec gives none: 5000 ms. */
export const DEFAULT_WORKER_SHUTDOWN = 5000;
/** @internal A worker's `startTimeout` when the spec gives none: 10 s. */
export const DEFAULT_START_TIMEOUT = 10_000;

/**
 * What a builder takes: the spec's own fields (each declared once, with its documentation, in ../types.ts), those
 * the builder fills in made optional.
 */
type OptionsOf<S, Defaulted extends keyof S> = Omit<S, 'type' | Defaulted | symbol> & Partial<Pick<S, Defaulted>>;

/** The fields every builder fills in: OTP's defaults. */
type CommonDefaults = 'restart' | 'shutdown' | 'significant';

/** What `worker({...})` takes: a forked node process (or a thread). Only `id` and `module` are required. */
export interface WorkerOptions extends OptionsOf<
  WorkerSpec,
  CommonDefaults | 'args' | 'env' | 'execArgv' | 'startTimeout'
> {}

/** What `listener({...})` takes: one listening TCP socket, held by the supervisor and served by its workers. */
export interface ListenerOptions extends OptionsOf<
  ListenerSpec,
  CommonDefaults | 'host' | 'port' | 'backlog' | 'mode'
> {}

/** What `task({...})` takes: an async function supervised like a process. Only `id` and `run` are required. */
export interface TaskOptions<M extends Messages = Messages> extends OptionsOf<
  TaskSpec<M>,
  CommonDefaults | 'args' | 'host'
> {}

/**
 * What `task({...})` takes for a task run in a host pool (the root's `hosts`): the module the host imports instead
 * of a function. Only `id`, `module` and `host` are required.
 */
export interface HostedTaskOptions extends OptionsOf<HostedTaskSpec, CommonDefaults | 'args'> {}

/** A child spec whose messages (if it has any) are `M`: how a supervisor's message types are inferred. */
export type TypedChildSpec<M extends Messages> =
  WorkerSpec<M> | ListenerSpec | SupervisorSpec<M> | TaskSpec<M> | HostedTaskSpec<M>;

/** What `supervisor({...})` takes. Every field is optional; the id defaults to `'root'`. */
export interface SupervisorOptions<M extends Messages = never> extends Partial<
  Omit<SupervisorSpec<M>, 'type' | 'children' | 'template' | symbol>
> {
  /** The children, started in this order and stopped in reverse (default none). */
  children?: Array<TypedChildSpec<M> | ChildSpec>;
  /**
   * `simple_one_for_one` only: what dynamic children are made from — a worker (its spec or options), a task spec,
   * or a supervisor spec for a whole subtree per child.
   */
  template?: WorkerSpec<M> | WorkerOptions | SupervisorSpec<M> | TaskSpec<M> | HostedTaskSpec<M>;
}

/**
 * A worker child: a node module forked as its own process, restarted by its supervisor's rules.
 * `worker<M>()`: M declares the messages this worker speaks (see `Messages`); untyped by default.
 *
 * @example
 * ```js
 * worker({ id: 'web-1', module: './server.js', listen: 'http', heartbeat: { interval: 1000, timeout: 3000 } })
 * ```
 */
export function worker<M extends Messages = never>(options: WorkerOptions): WorkerSpec<M> {
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

/**
 * `task({ id, module, host })`: a task run in a host of the pool `host` (declared in the root's `hosts`): the host
 * imports `module` and calls its `export` (default `default`) with the task's context. Supervised as an inline task.
 */
export function task<M extends Messages = never>(options: HostedTaskOptions): HostedTaskSpec<M>;
// The inline form last: `ReturnType<typeof task>` (the last overload) stays the inline spec it always was.
/**
 * `task<M>()`: an async function supervised like a process (restart types, strategies, intensity, shutdown), run in
 * the supervisor's own process. Shutdown defaults to 5000 ms, as a worker's.
 */
export function task<M extends Messages = never>(options: TaskOptions<M>): TaskSpec<M>;
export function task(options: TaskOptions | HostedTaskOptions): TaskSpec | HostedTaskSpec {
  return {
    restart: 'permanent',
    shutdown: DEFAULT_WORKER_SHUTDOWN,
    significant: false,
    args: [],
    host: 'inline',
    ...options,
    type: 'task',
  };
}

/**
 * A listener child: binds one TCP socket in the supervisor's process and hands it to every worker that names it
 * in `listen`, each time that worker starts; the socket stays open while workers restart.
 *
 * @example
 * ```js
 * listener({ id: 'http', host: '127.0.0.1', port: 8080 })
 * ```
 */
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

/**
 * A supervisor: starts its children in order, restarts them by its strategy and intensity, stops them in reverse.
 * The root of a tree is one. `supervisor<M>()`: M types `tree.call`/`tree.cast`; inferred from typed children when
 * they agree.
 *
 * @example
 * ```js
 * supervisor({ id: 'pool', strategy: 'one_for_one', intensity: 10, period: 10_000, children: [worker({ id: 'w', module: './w.js' })] })
 * ```
 */
export function supervisor<M extends Messages = never>(options: SupervisorOptions<M> = {}): SupervisorSpec<M> {
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

/**
 * @internal
 * The spec with every worker's relative `module` resolved against `baseDir`, for specs loaded from a file
 * (`arbor run spec.js`): `module: './server.js'` then means the file beside the spec, wherever arbor is started
 * from. A worker that gives its own `cwd` keeps its module relative to that cwd. Anything that is not a
 * well-formed spec is left as it is, for validation to report (nested too deep, or containing itself, included).
 */
export function withModulesResolvedFrom<T>(spec: T, baseDir: string): T {
  const seen = new Set<object>();
  const visit = (node: unknown, depth: number): unknown => {
    if (node === null || typeof node !== 'object' || Array.isArray(node) || seen.has(node) || depth > 200) return node;
    seen.add(node);
    const child = node as Record<string, unknown>;
    if (child.type === 'task' && typeof child.module === 'string' && child.module !== '' && !isAbsolute(child.module))
      return { ...child, module: resolve(baseDir, child.module) };
    if (child.type === 'worker') {
      const relative =
        typeof child.module === 'string' && child.module !== '' && !isAbsolute(child.module) && child.cwd === undefined;
      return relative ? { ...child, module: resolve(baseDir, child.module as string) } : child;
    }
    if (child.type !== 'supervisor') return child;
    return {
      ...child,
      ...(Array.isArray(child.children) ? { children: child.children.map((c) => visit(c, depth + 1)) } : {}),
      ...(child.template !== undefined ? { template: visit(child.template, depth + 1) } : {}),
    };
  };
  return visit(spec, 0) as T;
}
