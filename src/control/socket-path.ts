// Where a control socket may be bound, and when its file may be removed. Anything at a path that is not a socket
// this user left behind (a live arbor, a regular file, a symbolic link, another user's socket) is refused and left
// untouched; a socket file is removed only while it is the very one its server bound (same device, inode and times).
import { lstatSync, statSync, unlinkSync, type Stats } from 'node:fs';
import { createConnection } from 'node:net';
import { dirname } from 'node:path';

/** Linux's sun_path holds 108 bytes, the terminating NUL included; node truncates longer paths silently. */
export const MAX_SOCKET_PATH_BYTES = 107;

/** A control path that cannot be used, with what is wrong in words. */
export class ControlPathError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ControlPathError';
  }
}

/** Which file a socket path holds: an inode number is reused once its file is deleted, so its times count too. */
export interface SocketIdentity {
  dev: number;
  ino: number;
  ctimeNs: bigint;
  birthtimeNs: bigint;
}

const myUid = (): number | undefined => process.getuid?.();

/** Checks that `path` can be bound, removing only a stale socket of this user; throws ControlPathError otherwise. */
export async function claimSocketPath(path: string): Promise<void> {
  const bytes = Buffer.byteLength(path);
  if (bytes > MAX_SOCKET_PATH_BYTES) {
    throw new ControlPathError(
      `${path} is ${bytes} bytes long; a unix socket path is limited to ${MAX_SOCKET_PATH_BYTES} bytes (choose a shorter one)`,
    );
  }
  const dir = dirname(path);
  try {
    if (!statSync(dir).isDirectory()) throw new ControlPathError(`${dir} is not a directory`);
  } catch (error) {
    if (error instanceof ControlPathError) throw error;
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new ControlPathError(`directory ${dir} does not exist`);
    throw new ControlPathError(`cannot use directory ${dir}: ${code ?? (error as Error).message}`);
  }
  const found = lstatOrUndefined(path);
  if (found === undefined) return;
  if (found.isSymbolicLink()) throw new ControlPathError(`${path} is a symbolic link; refusing to follow or remove it`);
  if (!found.isSocket()) throw new ControlPathError(`${path} exists and is not a socket; refusing to replace it`);
  const uid = myUid();
  if (uid !== undefined && found.uid !== uid) {
    throw new ControlPathError(`${path} is a socket of uid ${found.uid}, not ours; refusing to replace it`);
  }
  const probe = await probeSocket(path);
  if (probe === 'live') throw new ControlPathError(`another arbor is listening at ${path}`);
  if (probe === 'gone') return;
  if (probe !== 'refused') {
    // Not provably stale: a datagram or seqpacket socket (EPROTOTYPE), a live run too busy or stopped to accept
    // (EAGAIN: its backlog is full), or no answer in time. Removing it could cut a live run off for good.
    throw new ControlPathError(
      `${path} is a socket that may be in use (connecting to it gave ${probe}); refusing to replace it — stop what holds it or choose another --control path`,
    );
  }
  // A stale socket of ours (a run that was killed): remove it, unless it changed while we probed.
  const again = lstatOrUndefined(path);
  if (again === undefined) return;
  if (again.ino !== found.ino || again.dev !== found.dev)
    throw new ControlPathError(`${path} changed while it was checked; try again`);
  unlinkSync(path);
}

/** The identity of the socket file just bound at `path`. */
export function identifySocket(path: string): SocketIdentity | undefined {
  try {
    const found = lstatSync(path, { bigint: true });
    if (!found.isSocket()) return undefined;
    return { dev: Number(found.dev), ino: Number(found.ino), ctimeNs: found.ctimeNs, birthtimeNs: found.birthtimeNs };
  } catch {
    return undefined;
  }
}

/** Whether the file at `path` is still the socket `identity` names. */
export function sameSocket(path: string, identity: SocketIdentity): boolean {
  const found = identifySocket(path);
  return (
    found !== undefined &&
    found.dev === identity.dev &&
    found.ino === identity.ino &&
    found.ctimeNs === identity.ctimeNs &&
    found.birthtimeNs === identity.birthtimeNs
  );
}

function lstatOrUndefined(path: string): Stats | undefined {
  try {
    return lstatSync(path);
  } catch {
    return undefined;
  }
}

/**
 * What connecting to `path` says: `live` (it accepts), `refused` (ECONNREFUSED: a stream socket nobody listens
 * on — the only proof of a stale file from a crashed run), `gone` (the file vanished), or the error code seen.
 */
function probeSocket(path: string): Promise<'live' | 'refused' | 'gone' | string> {
  return new Promise((resolve) => {
    const probe = createConnection(path);
    const timer = setTimeout(() => (probe.destroy(), resolve('no answer within 2 s')), 2000);
    probe.once('connect', () => (clearTimeout(timer), probe.destroy(), resolve('live')));
    probe.once('error', (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      resolve(
        error.code === 'ECONNREFUSED' ? 'refused' : error.code === 'ENOENT' ? 'gone' : (error.code ?? error.message),
      );
    });
  });
}
