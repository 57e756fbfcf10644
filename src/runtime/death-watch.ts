// A hot standby spare's watch on the death socket of one worker (../worker/death-socket.ts). The end of that stream
// is the kernel closing the worker's descriptors as it dies: the spare checks /proc that the worker is indeed dying
// or gone, then takes its place at once, without waiting for the supervisor to notice. A reset means the supervisor
// disarmed the socket (a stop, a reload): nothing to take. Loaded by hot spares only, at their first watch
// (runtime.ts): reading /proc needs node:fs, which a worker's start does not load otherwise.
import type { Socket } from 'node:net';
import { processState } from '../process-state.js';

/** What node made of the socket handle sent with `arbor:watch` (without loading node:net to check). */
export function isSocket(handle: unknown): handle is Socket {
  const socket = handle as Partial<Socket> | null | undefined;
  return (
    typeof socket?.on === 'function' && typeof socket.destroy === 'function' && typeof socket.resume === 'function'
  );
}

/** How a watch ended by itself: the worker died; it lives on (it closed its end); the supervisor disarmed it. */
export type WatchEnd = 'dead' | 'alive' | 'reset';

interface Watch {
  path: string;
  pid: number;
  socket: Socket;
}

export class DeathWatch {
  private current: Watch | undefined;

  constructor(
    /** Called once per watch that ends by itself, before its socket is closed. */
    private readonly onEnd: (path: string, end: WatchEnd) => void,
  ) {}

  /** Watches the worker `pid` at `path` through `socket`, instead of any worker watched before. */
  watch(path: string, pid: number, socket: Socket): void {
    this.stop();
    // Only a worker this process can see running: a pid it cannot see would read as gone at the end.
    if (processState(pid) !== 'running') {
      socket.destroy();
      return;
    }
    const watch: Watch = { path, pid, socket };
    this.current = watch;
    socket.on('end', () => {
      if (this.current !== watch) return;
      const state = processState(pid);
      this.ended(watch, state === 'exiting' || state === 'gone' ? 'dead' : 'alive');
    });
    socket.on('error', () => {
      if (this.current === watch) this.ended(watch, 'reset');
    });
    // The worker never writes to it: whatever comes is dropped, so that the end is read.
    socket.resume();
  }

  /** The handle sent with `arbor:watch`: watched when it is a socket. */
  watchSocket(path: string, pid: number, handle: unknown): void {
    if (isSocket(handle)) this.watch(path, pid, handle);
  }

  /** A handle sent with `arbor:watch` to a spare that took over meanwhile. */
  discard(handle: unknown): void {
    if (isSocket(handle)) handle.destroy();
  }

  /** No worker watched any more (taken over, unwatched, the listener's handle revoked). */
  stop(): void {
    const watch = this.current;
    this.current = undefined;
    watch?.socket.destroy();
  }

  private ended(watch: Watch, end: WatchEnd): void {
    this.current = undefined;
    this.onEnd(watch.path, end);
    watch.socket.destroy();
  }
}
