// The worker side's line to its supervisor: the IPC channel of a forked process, or the MessagePort of a thread
// (`kind: 'thread'`). The protocol (../protocol.ts) is the same on both; only the carrier differs.
import { createRequire } from 'node:module';
import type { MessagePort } from 'node:worker_threads';
import type { WorkerMessage } from '../protocol.js';

export interface Channel {
  /** `thread` or `process`. */
  readonly carrier: 'thread' | 'process';
  connected(): boolean;
  /** Writes `message`; `done` is called once it is written (or could not be). Never throws. */
  send(message: WorkerMessage, done?: () => void): void;
  /** Listens for the supervisor's messages (a process's also carry handles). */
  listen(onMessage: (raw: unknown, handle: unknown) => void): void;
  /** The channel keeps the worker alive only while ref'd. */
  ref(): void;
  unref(): void;
}

/**
 * The port to the supervisor in a thread it created for a `kind: 'thread'` worker, else undefined. node:worker_threads
 * is loaded only where the supervisor said it made a thread (ARBOR_THREAD): a forked worker, which every restart
 * starts, does not pay for loading it. Through a require, not a top-level await: CommonJS can require() this module
 * (node ≥ 20.19) only while nothing in it awaits at its top level.
 */
function supervisorPort(): MessagePort | undefined {
  if (process.env.ARBOR_THREAD !== '1') return undefined;
  const { isMainThread, parentPort, workerData } = createRequire(import.meta.url)(
    'node:worker_threads',
  ) as typeof import('node:worker_threads');
  const ours =
    !isMainThread && parentPort !== null && (workerData as { arbor?: unknown } | null | undefined)?.arbor === 'thread';
  return ours ? parentPort : undefined;
}

const port = supervisorPort();
/** True in a thread that an arbor supervisor created for a `kind: 'thread'` worker. */
export const inArborThread: boolean = port !== undefined;

const noop = (): void => {};

function threadChannel(port: MessagePort): Channel {
  let open = true;
  port.once('close', () => (open = false));
  return {
    carrier: 'thread',
    connected: () => open,
    send(message, done = noop) {
      try {
        if (open) port.postMessage(message);
      } catch {
        // Not cloneable, or the port closed under us: as a failed IPC write, dropped.
      }
      queueMicrotask(done);
    },
    listen: (onMessage) => void port.on('message', (raw: unknown) => onMessage(raw, undefined)),
    ref: () => port.ref(),
    unref: () => port.unref(),
  };
}

function processChannel(): Channel {
  return {
    carrier: 'process',
    connected: () => process.send !== undefined && process.connected,
    send(message, done = noop) {
      if (process.send === undefined || !process.connected) return done();
      try {
        process.send(message, undefined, undefined, () => done());
      } catch {
        // The channel closed under us: the supervisor is gone, and so will we be.
        done();
      }
    },
    listen: (onMessage) => void process.on('message', onMessage),
    ref: () => void process.channel?.ref(),
    unref: () => void process.channel?.unref(),
  };
}

export const channel: Channel = port !== undefined ? threadChannel(port) : processChannel();
