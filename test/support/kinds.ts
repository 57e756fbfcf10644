// Test support: one way to drive a child of any kind, so the same OTP-semantics scenarios run on processes, threads
// and tasks. Every kind answers the same messages: cast `crash` (an abnormal exit), cast `normal` (a normal exit),
// call `whoami` (a token unique to the incarnation). A `stubborn` child ignores the request to stop.
import { expect } from 'vitest';
import {
  task,
  worker,
  type RestartType,
  type Shutdown,
  type TaskContext,
  type TaskSpec,
  type WorkerSpec,
} from '../../src/index.js';
import { fixture } from './tree.js';

export type Kind = 'process' | 'thread' | 'task';

export interface ChildOptions {
  restart?: RestartType;
  shutdown?: Shutdown;
  significant?: boolean;
  stubborn?: boolean;
}

export interface KindDriver {
  kind: Kind;
  child(id: string, options?: ChildOptions): WorkerSpec | TaskSpec;
  /** The reason a `crash` exit carries. */
  crashReason: unknown;
  /** The reason of a child stopped by brutal_kill, and of one that outlived its shutdown timeout. */
  brutalReason: unknown;
  timeoutReason: unknown;
}

/** Tasks that have not settled yet, across the file: none may be left once a test has stopped its tree. */
export const liveTasks = new Set<string>();

/** The controlled child as a task: settles when told to, or when its signal aborts (unless stubborn). */
function controlledRun(options: ChildOptions) {
  return ({ signal, onMessage, path }: TaskContext): Promise<void> => {
    const token = `${path}#${Math.random().toString(36).slice(2)}`;
    liveTasks.add(token);
    return new Promise<void>((resolve, reject) => {
      onMessage((message) => {
        if (message === 'crash') reject(new Error('controlled crash'));
        else if (message === 'normal') resolve();
        else if (message === 'whoami') return token;
        return undefined;
      });
      // A stubborn task never settles: abandoned, it holds nothing (no timer, no socket), so nothing is left running.
      if (options.stubborn) liveTasks.delete(token);
      else signal.addEventListener('abort', () => resolve(), { once: true });
    }).finally(() => liveTasks.delete(token));
  };
}

export const DRIVERS: Record<Kind, KindDriver> = {
  task: {
    kind: 'task',
    child: (id, { stubborn = false, ...options } = {}) => task({ id, ...options, run: controlledRun({ stubborn }) }),
    crashReason: { error: 'controlled crash' },
    brutalReason: { abandoned: 'brutal_kill' },
    timeoutReason: { abandoned: expect.stringContaining('shutdown') },
  },
  thread: {
    kind: 'thread',
    child: (id, { stubborn = false, ...options } = {}) =>
      worker({
        id,
        kind: 'thread',
        module: fixture('thread-controlled.mjs'),
        ...options,
        env: stubborn ? { STUBBORN: '1' } : {},
      }),
    crashReason: { error: 'controlled crash' },
    brutalReason: { killed: 'brutal_kill' },
    timeoutReason: { killed: expect.stringContaining('shutdown') },
  },
  process: {
    kind: 'process',
    child: (id, { stubborn = false, ...options } = {}) =>
      worker({
        id,
        module: fixture('thread-controlled.mjs'),
        ...options,
        env: stubborn ? { STUBBORN: '1' } : {},
      }),
    crashReason: { error: 'controlled crash' },
    brutalReason: { signal: 'SIGKILL' },
    timeoutReason: { signal: 'SIGKILL' },
  },
};
