// A worker's death socket: a socket pair made at its fork as one more stdio entry. The worker holds one end as
// fd 4 and never touches it; the supervisor keeps the other end without ever reading it, and hands a copy to the
// hot spare that watches the worker (standby.ts). When the worker dies, the kernel closes its end and the spare
// reads the end of the stream at that moment, with no wakeup of the supervisor in between (../runtime/death-watch.ts).
//
// Disarming never depends on which message arrives first: the supervisor writes one byte into the worker's end, which
// the worker never reads, and a Unix stream socket closed with unread data resets its peer. From then on the spare
// reads ECONNRESET instead of an end, and does nothing. A write that succeeds proves the worker's end was still open,
// so the byte is there before any close.
import type { ChildProcess, StdioOptions } from 'node:child_process';
import { writeSync } from 'node:fs';
import type { Socket } from 'node:net';
import { CAPTURED_STDIO } from './output.js';

/** The worker's descriptor of its end (after stdin, stdout, stderr and the IPC channel). */
export const DEATH_FD = 4;

/** How a process with a death socket is forked: its output captured as any worker's, plus the pair. */
export const DEATH_STDIO: StdioOptions = [...CAPTURED_STDIO, 'pipe'];

const DISARM = Buffer.from([1]);

interface PipeHandle {
  fd?: number;
  reading?: boolean;
  readStop(): number;
}

export class DeathSocket {
  private state: 'armed' | 'disarmed' | 'closed' = 'armed';
  /** Disarmed while the worker's end was open: its death reads as a reset. */
  private heldOpen = false;

  constructor(
    /** The supervisor's end: sent (kept open) to the spare that watches the worker. */
    readonly socket: Socket,
    private readonly fd: number,
  ) {}

  /** Not disarmed, and the worker has not exited: a spare may watch it. */
  get armed(): boolean {
    return this.state === 'armed';
  }

  /**
   * From now on the worker's death is not news to a spare: call before anything that ends it on purpose. True when
   * that holds for sure (the worker's end was open when the byte went in); false when its end had closed already
   * (it died, or closed fd 4), so that a watcher may have taken its place.
   */
  disarm(): boolean {
    if (this.state !== 'armed') return this.state === 'disarmed' && this.heldOpen;
    this.state = 'disarmed';
    try {
      writeSync(this.fd, DISARM);
      this.heldOpen = true;
    } catch {
      this.heldOpen = false;
    }
    return this.heldOpen;
  }

  /** The worker exited: the supervisor's copy goes (the child's 'close' waits for it), never written to again. */
  close(): void {
    this.state = 'closed';
    this.socket.destroy();
  }
}

const sockets = new WeakMap<ChildProcess, DeathSocket>();

/**
 * Takes the supervisor's end of a process forked with DEATH_STDIO, before the event loop runs again: it is never
 * read here, because whoever reads it first takes the reset that tells a planned stop from a death.
 */
export function openDeathSocket(child: ChildProcess): DeathSocket | undefined {
  const socket = child.stdio[DEATH_FD] as Socket | null | undefined;
  const handle = (socket as unknown as { _handle?: PipeHandle } | null | undefined)?._handle;
  if (!socket || typeof handle?.fd !== 'number' || handle.fd < 0) return undefined;
  handle.reading = false;
  handle.readStop();
  // Nothing may start reading it again (a stream resumed by someone).
  socket._read = () => {};
  const death = new DeathSocket(socket, handle.fd);
  sockets.set(child, death);
  child.once('exit', () => death.close());
  return death;
}

/** The death socket of a process forked with one (a worker or a spare of a hot standby key that serves a listener). */
export function deathSocketOf(child: ChildProcess | undefined): DeathSocket | undefined {
  return child === undefined ? undefined : sockets.get(child);
}
