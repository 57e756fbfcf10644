// shared mode (node cluster's SCHED_NONE, lib/internal/cluster/shared_handle.js): every worker accepts on the
// same socket. The supervisor's process keeps the bound handle and never listens or accepts on it; each worker
// receives a copy over IPC and calls `listen(handle, backlog)` itself.
//
// The socket refuses connections only until the first worker has listened (cold start). From then on it stays in
// the kernel's LISTEN state as long as any descriptor of it is open, and the supervisor's always is: while no
// worker is alive, connections wait in the backlog instead of being refused.
import type { ChildProcess } from 'node:child_process';
import type { Logger } from 'pino';
import type { ArmedAttachment, WorkerAttachment } from '../child.js';
import { parseWorkerMessage, type ParentMessage } from '../protocol.js';
import type { ServerHandle } from './server-handle.js';

/**
 * The handle message with the backlog the worker must pass to `listen(handle, backlog)`: node applies the
 * backlog of the worker's listen call to the shared socket (and `listen({ handle, backlog })` ignores it).
 */
export type SharedHandleMessage = Extract<ParentMessage, { type: 'arbor:handle' }> & { backlog: number };

export class SharedListener {
  /** pids of the workers currently listening on the socket. */
  private readonly listeningWorkers = new Set<number>();
  private everListened: boolean;
  private attached = 0;
  private closed = false;
  /** Parked spares holding a copy of the handle, and how to take it back from each. */
  private readonly armed = new Map<ChildProcess, () => Promise<void>>();

  constructor(
    private readonly id: string,
    private readonly handle: ServerHandle,
    private readonly backlog: number,
    private readonly logger: Logger,
  ) {
    // An adopted descriptor was verified to be listening already: no cold start.
    this.everListened = handle.adopted;
  }

  /** The socket is in LISTEN state: connections are queued, never refused. */
  get listening(): boolean {
    return this.everListened && !this.closed;
  }

  stats(): { attached: number; listening: number } {
    return { attached: this.attached, listening: this.listeningWorkers.size };
  }

  attach(worker: ChildProcess): WorkerAttachment {
    const pid = worker.pid;
    if (this.closed) {
      this.logger.warn({ event: 'listener_attach_closed', listener: this.id, pid }, 'attach to a closed listener');
      return { ready: () => {}, detach: () => {} };
    }
    this.attached += 1;
    let detached = false;

    const onMessage = (raw: unknown): void => {
      const message = parseWorkerMessage(raw);
      if (message?.type !== 'arbor:listening' || message.listener !== this.id || pid === undefined) return;
      this.listeningWorkers.add(pid);
      if (!this.everListened) {
        this.everListened = true;
        this.logger.info({ event: 'listener_listening', listener: this.id, pid }, 'listener is listening');
      }
    };
    const detach = (): void => {
      if (detached) return;
      detached = true;
      this.attached -= 1;
      if (pid !== undefined) this.listeningWorkers.delete(pid);
      worker.off('message', onMessage);
      worker.off('exit', detach);
    };
    worker.on('message', onMessage);
    worker.once('exit', detach);

    const message: SharedHandleMessage = {
      type: 'arbor:handle',
      listener: this.id,
      mode: 'shared',
      backlog: this.backlog,
    };
    this.handle.sendTo(worker, message, (error) => {
      if (error) this.logger.warn({ event: 'handle_send_failed', listener: this.id, pid, error: error.message });
    });
    return { ready: () => {}, detach };
  }

  /** A parked hot spare gets the handle now and calls `listen` only when it takes over (ListenerLink.arm). */
  arm(spare: ChildProcess, giveBack: () => Promise<void>): ArmedAttachment {
    const attachment = this.attach(spare);
    if (this.closed) return { ...attachment, claim: () => {} };
    this.armed.set(spare, giveBack);
    const forget = (): void => void this.armed.delete(spare);
    spare.once('exit', forget);
    return {
      ready: attachment.ready,
      detach: () => {
        forget();
        attachment.detach();
      },
      claim: forget,
    };
  }

  /** Closes the socket; resolves once every parked spare has given its copy back (or is gone). */
  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.closed = true;
    this.listeningWorkers.clear();
    this.handle.close();
    const giveBacks = [...this.armed.values()];
    this.armed.clear();
    return Promise.all(giveBacks.map((giveBack) => giveBack().catch(() => undefined))).then(() => undefined);
  }
}
