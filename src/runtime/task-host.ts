// A task host: the entry of a process (forked by the supervisor) or a thread that runs many tasks, each started,
// stopped, called and cast at its supervisor's word (../host-protocol.ts). Each task runs as an inline task does
// in the supervisor's process (../task/handle.ts): the same context, the same exit reasons, and the same escape
// attribution (../task/escape.ts), so an error escaping one task ends that task alone. An error that no task owns
// is the host's failure: it exits, and its supervisor reports every task in it `{ host_down }`.
import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import { pathToFileURL } from 'node:url';
import { pino } from 'pino';
import { TaskHandle } from '../task/handle.js';
import { CallError } from '../call-error.js';
import { parseToHost, MAX_LOG_LINE, type FromHost, type ToHost } from '../host-protocol.js';
import type { ExitReason, TaskSpec } from '../types.js';
import { injectFault } from './faults.js';

const port = !isMainThread && (workerData as { arborHost?: unknown } | null)?.arborHost === true ? parentPort : null;

function send(message: FromHost): boolean {
  try {
    if (port !== null) port.postMessage(message);
    else if (typeof process.send === 'function' && process.connected) process.send(message);
    else return false;
    return true;
  } catch {
    // A value that cannot be serialized (a function, a BigInt): the message is not sent.
    return false;
  }
}

/** One pino for the host; each task's logger is its child, and each line goes to the supervisor with its task. */
const TASK_KEY = 'arborTask';
const taskOf = new RegExp(`"${TASK_KEY}":(\\d+)`);
const logger = pino(
  { base: undefined, level: process.env.ARBOR_HOST_LOG_LEVEL || 'info' },
  {
    write(line: string): void {
      const n = Number(taskOf.exec(line)?.[1]);
      if (Number.isSafeInteger(n)) send({ t: 'log', n, line: line.slice(0, MAX_LOG_LINE) });
    },
  },
);

/** The tasks of this host by number; `starting` while their module loads (a stop then cancels the start). */
const tasks = new Map<number, TaskHandle | 'starting' | 'cancelled'>();

async function start(message: Extract<ToHost, { t: 'start' }>): Promise<void> {
  const { n } = message;
  tasks.set(n, 'starting');
  let run: unknown;
  try {
    const module = (await import(pathToFileURL(message.module).href)) as Record<string, unknown>;
    run = module[message.export];
  } catch (error) {
    tasks.delete(n);
    send({ t: 'start_failed', n, why: `module ${message.module} failed to load: ${describe(error)}` });
    return;
  }
  if (tasks.get(n) !== 'starting') {
    tasks.delete(n);
    return;
  }
  if (typeof run !== 'function') {
    tasks.delete(n);
    send({ t: 'start_failed', n, why: `module ${message.module} has no function export '${message.export}'` });
    return;
  }
  const spec: TaskSpec = {
    type: 'task',
    id: message.id,
    run: run as TaskSpec['run'],
    args: message.args,
    host: 'inline',
    restart: 'temporary',
    significant: false,
    // The supervisor times the shutdown (and abandons the task when it is up): here it waits for as long.
    shutdown: 'infinity',
  };
  const handle = new TaskHandle(spec, {
    path: message.path,
    logger: logger.child({ [TASK_KEY]: n }),
    onExit: (reason) => ended(n, handle, reason),
    onWorkerMessage: (value) => void send({ t: 'send', n, message: value }),
    resolveListener: () => undefined,
  });
  tasks.set(n, handle);
  // Started once its function is called, as an inline task: told first, so that a task blocking its host from its
  // very first line has started (and goes down with its host) rather than failing to start.
  send({ t: 'started', n });
  await handle.start();
}

function ended(n: number, handle: TaskHandle, reason: ExitReason): void {
  if (tasks.get(n) !== handle) return;
  tasks.delete(n);
  send({ t: 'exit', n, reason });
}

function handleOf(n: number): TaskHandle | undefined {
  const entry = tasks.get(n);
  return typeof entry === 'object' ? entry : undefined;
}

function cancelStart(n: number): boolean {
  if (tasks.get(n) !== 'starting') return false;
  tasks.set(n, 'cancelled');
  return true;
}

function onMessage(raw: unknown): void {
  const message = parseToHost(raw);
  if (message === undefined) return;
  switch (message.t) {
    case 'ping':
      send({ t: 'pong', seq: message.seq });
      return;
    case 'start':
      start(message).catch((error: unknown) =>
        send({ t: 'start_failed', n: message.n, why: `the host failed to start it: ${describe(error)}` }),
      );
      return;
    case 'stop': {
      if (cancelStart(message.n)) return void send({ t: 'exit', n: message.n, reason: 'shutdown' });
      const handle = handleOf(message.n);
      if (handle === undefined) return;
      void handle.terminate().then((reason) => ended(message.n, handle, reason));
      return;
    }
    case 'abandon': {
      if (cancelStart(message.n)) return;
      const handle = handleOf(message.n);
      tasks.delete(message.n);
      void handle?.kill();
      return;
    }
    case 'call': {
      const { n, c } = message;
      const handle = handleOf(n);
      if (handle === undefined) return void send({ t: 'reply', n, c, ok: false, code: 'not_running', message: '' });
      handle.call(message.message, message.timeout).then(
        (value) => {
          if (!send({ t: 'reply', n, c, ok: true, value }))
            send({ t: 'reply', n, c, ok: false, code: 'handler_failed', message: 'its reply cannot be serialized' });
        },
        (error: unknown) =>
          send({
            t: 'reply',
            n,
            c,
            ok: false,
            code: error instanceof CallError ? error.code : 'handler_failed',
            message: describe(error),
          }),
      );
      return;
    }
    case 'cast': {
      try {
        handleOf(message.n)?.cast(message.message);
      } catch (error) {
        // Not running any more, or no handler: as for an inline task, the cast is not taken; said in its log.
        logger.child({ [TASK_KEY]: message.n }).warn({ event: 'cast_dropped', reason: describe(error) });
      }
      return;
    }
    case 'chaos':
      if (message.n === undefined) return injectFault(message.fault);
      try {
        handleOf(message.n)?.inject(message.fault);
      } catch {
        // A fault a task refuses: nothing happens.
      }
      return;
  }
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

if (port !== null) {
  port.on('message', onMessage);
} else {
  process.on('message', onMessage);
  // The supervisor closed the channel (or is gone): no host outlives it.
  process.on('disconnect', () => process.exit(0));
}
send({ t: 'ready' });
