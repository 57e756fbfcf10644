// Sending sd_notify datagrams. Node has no AF_UNIX datagram sockets, so each message goes through Debian's
// `systemd-notify` (package systemd, present wherever systemd runs services): one short process per message,
// which waits (BARRIER=1) until the service manager has read it, so a message is never lost to its sender
// exiting first. It sends from its own pid: units need NotifyAccess=all.
// docs/decisions/0018-sd-notify-through-systemd-notify.md says why this and not an npm addon.
import { spawn } from 'node:child_process';

export interface NotifyTransport {
  /** Queues one message (`READY=1\nSTATUS=…`); failures are reported to `onError`, never thrown. */
  send(message: string): void;
  close(): void;
}

/** sd_notify messages are small; systemd reads at most a page-ish datagram. */
const MAX_MESSAGE_BYTES = 4096;
/** Messages waiting behind the one being sent; beyond this, the oldest STATUS-only message goes first. */
const MAX_QUEUED = 32;
/** systemd-notify waits up to 5 s for the barrier itself; this bounds a wedged one. */
const SEND_TIMEOUT_MS = 10_000;

const isStatusOnly = (message: string): boolean => message.startsWith('STATUS=') && !message.includes('\n');

/**
 * Messages are sent one after another, in order (READY=1 before STOPPING=1); a STATUS= line that a newer one
 * replaces before it was sent is dropped. WATCHDOG=1 goes beside the queue, so a slow status never delays a pet;
 * a pet whose predecessor is still in flight is skipped.
 */
export function openTransport(
  socketPath: string,
  onError: (error: Error) => void,
  command = 'systemd-notify',
): NotifyTransport {
  const queue: string[] = [];
  let sending = false;
  let petting = false;
  let closed = false;

  const run = (message: string, done: () => void): void => {
    // systemd-notify takes each assignment as an argument and sends them as one datagram.
    const child = spawn(command, message.split('\n'), {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', NOTIFY_SOCKET: socketPath },
    });
    let stderr = '';
    let finished = false;
    const timer = setTimeout(() => child.kill('SIGKILL'), SEND_TIMEOUT_MS);
    timer.unref();
    const finish = (error: Error | undefined): void => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      if (error) onError(error);
      done();
    };
    child.stderr.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-500)));
    child.on('error', (error: NodeJS.ErrnoException) =>
      finish(
        new Error(
          error.code === 'ENOENT'
            ? `${command} not found (Debian: apt-get install systemd)`
            : `${command}: ${error.message}`,
        ),
      ),
    );
    child.on('close', (code, signal) =>
      finish(
        code === 0
          ? undefined
          : new Error(`${command} ${signal ? `killed by ${signal}` : `exited ${code}`}: ${stderr.trim()}`),
      ),
    );
  };

  const pump = (): void => {
    if (sending) return;
    const message = queue.shift();
    if (message === undefined) return;
    sending = true;
    run(message, () => {
      sending = false;
      pump();
    });
  };

  return {
    send(message) {
      if (closed || Buffer.byteLength(message) > MAX_MESSAGE_BYTES) return;
      if (message === 'WATCHDOG=1') {
        if (petting) return;
        petting = true;
        return run(message, () => (petting = false));
      }
      if (isStatusOnly(message)) {
        const stale = queue.findIndex(isStatusOnly);
        if (stale >= 0) queue.splice(stale, 1);
      }
      if (queue.length >= MAX_QUEUED) {
        const stale = queue.findIndex(isStatusOnly);
        queue.splice(stale >= 0 ? stale : 0, 1);
      }
      queue.push(message);
      pump();
    },
    close() {
      // Nothing new is taken; what is queued (STOPPING=1 last) goes now, as the process may be about to exit.
      closed = true;
      for (const message of queue.splice(0)) run(message, () => undefined);
    },
  };
}
