// Sending sd_notify datagrams. Node has no AF_UNIX datagram sockets, so:
// - a path NOTIFY_SOCKET (systemd's own, /run/systemd/notify) goes through node-unix-socket's DgramSocket, a
//   N-API addon whose npm package ships a prebuilt linux-x64 binary (nothing is built or downloaded at install);
//   the datagram comes from arbor's own pid, as Type=notify with the default NotifyAccess=main requires;
// - an abstract one (`@name`, which the addon cannot address), or a machine where the addon does not load, goes
//   through Debian's `systemd-notify`: one short process per message, sent from its pid, so the unit needs
//   NotifyAccess=all.
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';

export interface NotifyTransport {
  readonly kind: 'datagram' | 'systemd-notify';
  /** Sends one message (`READY=1\nSTATUS=…`); failures are reported to `onError`, never thrown. */
  send(message: string): void;
  close(): void;
}

interface DgramSocketLike {
  sendTo(buf: Buffer, offset: number, length: number, destPath: string, onWrite?: (err: Error | undefined) => void): void;
  close(): void;
  on(event: 'error', listener: (error: Error) => void): void;
}

/** At most this many `systemd-notify` processes at once: a message beyond that is dropped, not queued. */
const MAX_NOTIFY_PROCESSES = 4;
/** sd_notify messages are small; systemd reads at most a page-ish datagram. */
const MAX_MESSAGE_BYTES = 4096;

function loadDgramSocket(): (new () => DgramSocketLike) | undefined {
  try {
    const addon = createRequire(import.meta.url)('node-unix-socket') as { DgramSocket?: new () => DgramSocketLike };
    return addon.DgramSocket;
  } catch {
    return undefined;
  }
}

export function openTransport(socketPath: string, onError: (error: Error) => void): NotifyTransport {
  const DgramSocket = socketPath.startsWith('@') ? undefined : loadDgramSocket();
  return DgramSocket ? datagramTransport(new DgramSocket(), socketPath, onError) : systemdNotifyTransport(socketPath, onError);
}

function datagramTransport(socket: DgramSocketLike, path: string, onError: (error: Error) => void): NotifyTransport {
  let closed = false;
  socket.on('error', onError);
  return {
    kind: 'datagram',
    send(message) {
      const buf = Buffer.from(message);
      if (closed || buf.length > MAX_MESSAGE_BYTES) return;
      try {
        socket.sendTo(buf, 0, buf.length, path, (error) => error && onError(error));
      } catch (error) {
        onError(error as Error);
      }
    },
    close() {
      if (closed) return;
      closed = true;
      socket.close();
    },
  };
}

function systemdNotifyTransport(socketPath: string, onError: (error: Error) => void): NotifyTransport {
  let running = 0;
  let closed = false;
  return {
    kind: 'systemd-notify',
    send(message) {
      if (closed || running >= MAX_NOTIFY_PROCESSES || Buffer.byteLength(message) > MAX_MESSAGE_BYTES) return;
      running += 1;
      // systemd-notify takes each assignment as an argument and sends them as one datagram.
      const child = spawn('systemd-notify', message.split('\n'), {
        stdio: ['ignore', 'ignore', 'pipe'],
        env: { PATH: process.env.PATH ?? '/usr/bin:/bin', NOTIFY_SOCKET: socketPath },
      });
      let stderr = '';
      let finished = false;
      const finish = (error: Error | undefined): void => {
        if (finished) return;
        finished = true;
        running -= 1;
        if (error) onError(error);
      };
      child.stderr.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-500)));
      child.on('error', (error) => finish(new Error(`systemd-notify: ${error.message}`)));
      child.on('close', (code) => finish(code === 0 ? undefined : new Error(`systemd-notify exited ${code}: ${stderr.trim()}`)));
    },
    close() {
      closed = true;
    },
  };
}
