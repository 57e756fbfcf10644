// Test support: one way to drive a child of any kind, so the same OTP-semantics scenarios and model tests run on
// processes, threads and tasks. Every kind answers the same messages: cast `crash` (an abnormal exit), cast `normal`
// (a normal exit), call `whoami` (a token unique to the incarnation), call `args` (its args). A `stubborn` child
// ignores the request to stop. What differs by kind is said here, once: the exit reasons, how a test kills a child
// from outside, whether it has a pid of its own, and how many are alive.
import { expect } from 'vitest';
import {
  task,
  worker,
  type RestartType,
  type Shutdown,
  type TaskContext,
  type TaskSpec,
  type HostedTaskSpec,
  type HostSpec,
  type Tree,
  type WorkerSpec,
} from '../../src/index.js';
import { liveThreads } from '../../src/thread/handle.js';
import { liveHosts } from '../../src/host/host-instance.js';
import { commandOf, treeMembers } from './process-tree.js';
import { eventually, fixture, isAlive } from './tree.js';

/** `hosted`: a task in a pool of host processes (give the root `hosts: TEST_HOSTS`). */
export type Kind = 'process' | 'thread' | 'task' | 'hosted';

export interface ChildOptions {
  restart?: RestartType;
  shutdown?: Shutdown;
  significant?: boolean;
  stubborn?: boolean;
  args?: string[];
}

export interface KindDriver {
  kind: Kind;
  /** `type` in whichChildren and status: a thread is a worker (`kind: 'thread'`), a task a type of its own. */
  type: 'worker' | 'task';
  child(id: string, options?: ChildOptions): WorkerSpec | TaskSpec | HostedTaskSpec;
  /** The reason a `crash` exit carries. */
  crashReason: unknown;
  /** The reason of a child stopped by brutal_kill, and of one that outlived its shutdown timeout. */
  brutalReason: unknown;
  timeoutReason: unknown;
  /**
   * Kills a running child from outside, as the model tests' "crash" command: a process is SIGKILLed (the harshest
   * end it can meet); a thread or a task has nothing to signal, so it is told to crash (an uncaught exception).
   */
  kill(tree: Tree, supervisor: string, id: string): void;
  killReason: unknown;
  /** A process child has a pid of its own while it runs; a thread shares its host's pid, a task runs in it. */
  hasPid: boolean;
  /** Incarnations of this kind alive now in this test file; `pids` are those the tree's events reported. */
  alive(pids: readonly number[]): number;
  /** The module a process or thread child runs (to reap strays by command line); undefined for a task. */
  module?: string;
  /** fast-check runs per model property: a task starts in µs, a thread in ~60 ms, a process in ~100 ms. */
  modelRuns: number;
}

const CONTROLLED_MODULE = fixture('thread-controlled.mjs');

/** The host pool of the `hosted` kind: give it as the root's `hosts` (a pool no task uses starts no host). */
export const TEST_HOSTS: Record<string, HostSpec> = { tasks: { kind: 'process', size: 2 } };

/** Tasks that have not settled yet, across the file: none may be left once a test has stopped its tree. */
export const liveTasks = new Set<string>();

/** The controlled child as a task: settles when told to, or when its signal aborts (unless stubborn). */
function controlledRun(options: ChildOptions) {
  return ({ signal, onMessage, path, args }: TaskContext): Promise<void> => {
    const token = `${path}#${Math.random().toString(36).slice(2)}`;
    liveTasks.add(token);
    return new Promise<void>((resolve, reject) => {
      onMessage((message) => {
        if (message === 'crash') reject(new Error('controlled crash'));
        else if (message === 'normal') resolve();
        else if (message === 'whoami') return token;
        else if (message === 'args') return args;
        return undefined;
      });
      // A stubborn task never settles: abandoned, it holds nothing (no timer, no socket), so nothing is left running.
      if (options.stubborn) liveTasks.delete(token);
      else signal.addEventListener('abort', () => resolve(), { once: true });
    }).finally(() => liveTasks.delete(token));
  };
}

/** The controlled child as a worker, in a process or (`kind: 'thread'`) a thread: a stubborn one ignores the stop. */
function controlledWorker(id: string, { stubborn = false, ...options }: ChildOptions, kind?: { kind: 'thread' }) {
  return worker({ id, ...kind, module: CONTROLLED_MODULE, ...options, env: stubborn ? { STUBBORN: '1' } : {} });
}

/** A thread or a task has no pid of its own, nothing to signal: it is "killed" by being told to crash. */
const TOLD_TO_CRASH = {
  kill: (tree: Tree, supervisor: string, id: string) => tree.cast(`${supervisor}/${id}`, 'crash'),
  killReason: { error: 'controlled crash' },
  hasPid: false,
} satisfies Partial<KindDriver>;

export const DRIVERS: Record<Kind, KindDriver> = {
  task: {
    kind: 'task',
    type: 'task',
    child: (id, { stubborn = false, ...options } = {}) => task({ id, ...options, run: controlledRun({ stubborn }) }),
    crashReason: { error: 'controlled crash' },
    // A task cannot be stopped from outside: brutal_kill and a timeout abandon it (whatever it holds keeps running).
    brutalReason: { abandoned: 'brutal_kill' },
    timeoutReason: { abandoned: expect.stringContaining('shutdown') },
    ...TOLD_TO_CRASH,
    alive: () => liveTasks.size,
    modelRuns: 100,
  },
  hosted: {
    kind: 'hosted',
    type: 'task',
    child: (id, { stubborn = false, args = [], ...options } = {}) =>
      task({
        id,
        ...options,
        module: fixture('hosted-controlled.mjs'),
        host: 'tasks',
        args: stubborn ? [...args, 'stubborn'] : args,
      }),
    crashReason: { error: 'controlled crash' },
    brutalReason: { abandoned: 'brutal_kill' },
    timeoutReason: { abandoned: expect.stringContaining('shutdown') },
    ...TOLD_TO_CRASH,
    // What can be left of hosted tasks is their hosts.
    alive: () => liveHosts(),
    modelRuns: 10,
  },
  thread: {
    kind: 'thread',
    type: 'worker',
    child: (id, options = {}) => controlledWorker(id, options, { kind: 'thread' }),
    crashReason: { error: 'controlled crash' },
    // terminate() ends the thread's JavaScript at once: the thread's counterpart of SIGKILL.
    brutalReason: { killed: 'brutal_kill' },
    timeoutReason: { killed: expect.stringContaining('shutdown') },
    ...TOLD_TO_CRASH,
    alive: () => liveThreads(),
    module: CONTROLLED_MODULE,
    modelRuns: 10,
  },
  process: {
    kind: 'process',
    type: 'worker',
    child: (id, options = {}) => controlledWorker(id, options),
    crashReason: { error: 'controlled crash' },
    brutalReason: { signal: 'SIGKILL' },
    timeoutReason: { signal: 'SIGKILL' },
    kill: (tree, supervisor, id) => {
      const pid = tree.whichChildren(supervisor).find((c) => c.id === id)?.pid;
      if (pid === undefined) throw new Error(`${supervisor}/${id} has no pid`);
      process.kill(pid, 'SIGKILL');
    },
    killReason: { signal: 'SIGKILL' },
    hasPid: true,
    alive: (pids) => pids.filter(isAlive).length,
    module: CONTROLLED_MODULE,
    modelRuns: 10,
  },
};

/** Which kinds a file runs on: all three, or those listed in ARBOR_TEST_KINDS (e.g. `task` for a quick run). */
export const KINDS: Kind[] = (process.env.ARBOR_TEST_KINDS ?? 'process,thread,task')
  .split(',')
  .filter((k): k is Kind => Object.hasOwn(DRIVERS, k));

/**
 * For afterAll: nothing a file started is left running — no task unsettled (a stubborn one, abandoned, holds
 * nothing), no thread alive, no process of the controlled module among this process's descendants.
 */
export async function nothingLeftRunning(): Promise<void> {
  await eventually(() => liveTasks.size === 0, `every task settled (left: ${[...liveTasks].join(', ')})`);
  await eventually(() => liveThreads() === 0, `every thread gone (left: ${liveThreads()})`);
  const strays = () => treeMembers(process.pid).filter((p) => commandOf(p.pid).includes(CONTROLLED_MODULE));
  await eventually(() => strays().length === 0, `no process of ${CONTROLLED_MODULE} left`);
}
