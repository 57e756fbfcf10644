// Finding the running trees of this user. Each `arbor run` records itself (pid, spec, socket) in a private
// directory: `$XDG_RUNTIME_DIR/arbor`, else `<temp dir>/arbor-<uid>`, created 0700 and used only after checking that
// it is a real directory (not a link), owned by this user, and closed to everyone else. When `<temp dir>/arbor-<uid>`
// is not fit (another user created it first, a link, open to others), a fresh private directory
// `<temp dir>/arbor-<uid>-XXXXXX` is made instead (mkdtemp, 0700), and clients look there too. Nothing in a shared
// directory is trusted: records are opened without following links and must be regular files of this user.
import {
  closeSync,
  constants,
  fstatSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readSync,
  readdirSync,
  rmdirSync,
  statSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { isAbsolute, join } from 'node:path';
import { ControlError } from './client.js';
import { ControlPathError } from './socket-path.js';

export interface RunRecord {
  pid: number;
  /** The spec module, as an absolute path. */
  spec: string;
  /** The control socket. */
  control: string;
  /** ms since the epoch. */
  startedAt: number;
}

const RECORD = /^arbor-(\d+)\.run$/;
const MAX_RECORD_BYTES = 8 * 1024;

const uidText = (): string => String(process.getuid?.() ?? 'user');

/** The private directory of this user's runs (not created). */
export function runsDir(): string {
  const runtime = process.env.XDG_RUNTIME_DIR;
  return runtime && isAbsolute(runtime) && isDirectory(runtime) ? join(runtime, 'arbor') : sharedFallbackDir();
}

const sharedFallbackDir = (): string => join(tmpdir(), `arbor-${uidText()}`);
/** `arbor-<uid>-XXXXXX`: the fresh directories made when `arbor-<uid>` was not fit. */
const freshName = (): RegExp => new RegExp(`^arbor-${uidText()}-[A-Za-z0-9]{6}$`);

/** This process's fresh private directory, once made; why the usual one was not used. */
let fresh: { dir: string; instead: string; why: string } | undefined;

/** When this run records itself in a fresh directory because the usual one was not fit: which, and why. */
export function runsDirFallback(): { dir: string; instead: string; why: string } | undefined {
  return fresh;
}

/** XDG_RUNTIME_DIR is often set but missing (a container, `su`): then the temp dir is used instead. */
function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/**
 * The private directory, created if missing. `<temp dir>/arbor-<uid>` is in a directory anyone can write to: when
 * it is not fit (squatted by another user, a link, open to others), a fresh private directory is made instead
 * (runsDirFallback() says which). Throws ControlPathError when `$XDG_RUNTIME_DIR/arbor` is not safe to use.
 */
export function ensureRunsDir(): string {
  if (fresh) return fresh.dir;
  const dir = runsDir();
  try {
    try {
      mkdirSync(dir, { mode: 0o700 });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw new ControlPathError(
          `cannot create ${dir}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
        );
      }
    }
    checkPrivate(dir);
    return dir;
  } catch (error) {
    if (!(error instanceof ControlPathError) || dir !== sharedFallbackDir()) throw error;
    let made: string;
    try {
      made = mkdtempSync(`${dir}-`); // 0700, a name nobody could have taken before
    } catch (failure) {
      throw new ControlPathError(
        `${error.message}; and no fresh directory could be made: ${(failure as NodeJS.ErrnoException).code ?? (failure as Error).message}`,
      );
    }
    checkPrivate(made);
    fresh = { dir: made, instead: dir, why: error.message };
    return made;
  }
}

/** A real directory (lstat: a link is refused), owned by us, with no access for group or others. */
function checkPrivate(dir: string): void {
  const found = lstatSync(dir);
  const uid = process.getuid?.();
  const fix = `remove it, or set XDG_RUNTIME_DIR to a private directory`;
  if (found.isSymbolicLink()) throw new ControlPathError(`${dir} is a symbolic link, not a private directory; ${fix}`);
  if (!found.isDirectory()) throw new ControlPathError(`${dir} is not a directory; ${fix}`);
  if (uid !== undefined && found.uid !== uid)
    throw new ControlPathError(`${dir} belongs to uid ${found.uid}, not to us (uid ${uid}); ${fix}`);
  if ((found.mode & 0o077) !== 0) {
    throw new ControlPathError(
      `${dir} is open to others (mode ${(found.mode & 0o777).toString(8)}, expected 700); ${fix}`,
    );
  }
}

/** Where `arbor run` listens when not told: its private directory, `arbor-<pid>.sock`. */
export function defaultControlPath(pid: number = process.pid): string {
  return join(ensureRunsDir(), `arbor-${pid}.sock`);
}

/** Records a run; returns a function that removes the record. */
export function recordRun(run: RunRecord): () => void {
  const dir = ensureRunsDir();
  const file = join(dir, `arbor-${run.pid}.run`);
  const flags = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;
  let fd: number;
  try {
    fd = openSync(file, flags, 0o600);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    unlinkSync(file); // a record left by an earlier process with our pid, in our own private directory
    fd = openSync(file, flags, 0o600);
  }
  try {
    writeSync(fd, `${JSON.stringify(run)}\n`);
  } finally {
    closeSync(fd);
  }
  return () => {
    try {
      if (readRecord(file)?.pid === run.pid) unlinkSync(file);
    } catch {
      // Already gone.
    }
    // A fresh directory of this run's own goes with it, once empty (its socket is closed first).
    if (fresh?.dir === dir) {
      try {
        rmdirSync(dir);
      } catch {
        // Not empty (the socket is still there) or already gone.
      }
    }
  };
}

/** The runs of this user that are alive, newest first. Records of dead runs are removed. */
export function listRuns(): RunRecord[] {
  const runs: RunRecord[] = [];
  const dir = runsDir();
  const dirs = [dir];
  if (dir === sharedFallbackDir()) {
    try {
      const name = freshName();
      for (const entry of readdirSync(tmpdir())) if (name.test(entry)) dirs.push(join(tmpdir(), entry));
    } catch {
      // No temp dir to list.
    }
  }
  for (const each of dirs) runs.push(...runsIn(each));
  return runs.sort((a, b) => b.startedAt - a.startedAt);
}

/** The live runs recorded in one private directory (none if it is not private and ours). */
function runsIn(dir: string): RunRecord[] {
  let names: string[];
  try {
    checkPrivate(dir);
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const runs: RunRecord[] = [];
  for (const name of names) {
    if (!RECORD.test(name)) continue;
    const file = join(dir, name);
    const run = readRecord(file);
    if (run === undefined) continue;
    if (isAlive(run.pid)) runs.push(run);
    else {
      try {
        unlinkSync(file);
      } catch {
        // Someone else tidied it.
      }
    }
  }
  return runs;
}

/** One record: opened without following links, a regular file of ours, small, with every field well-formed. */
function readRecord(file: string): RunRecord | undefined {
  let fd: number | undefined;
  try {
    fd = openSync(file, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    const found = fstatSync(fd);
    const uid = process.getuid?.();
    if (!found.isFile() || (uid !== undefined && found.uid !== uid) || found.size > MAX_RECORD_BYTES) return undefined;
    const buffer = Buffer.alloc(MAX_RECORD_BYTES);
    const length = readSync(fd, buffer, 0, MAX_RECORD_BYTES, 0);
    const run = JSON.parse(buffer.subarray(0, length).toString('utf8')) as Partial<RunRecord>;
    const valid =
      Number.isSafeInteger(run.pid) &&
      (run.pid as number) > 0 &&
      typeof run.spec === 'string' &&
      typeof run.control === 'string' &&
      isAbsolute(run.control) &&
      Number.isFinite(run.startedAt);
    return valid ? (run as RunRecord) : undefined;
  } catch {
    return undefined;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** Alive and ours to signal (EPERM: the pid now belongs to another user's process, so not our run). */
function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** What a client command reaches: the socket, and the run it belongs to when it was found by looking. */
export interface Located {
  control: string;
  /** The run found in the private directory; undefined when the socket was named (`--control`, $ARBOR_CONTROL). */
  run?: RunRecord;
  /** The other runs alive, when the latest was chosen among several. */
  others: RunRecord[];
}

/** A run in one line: `pid 123, spec /srv/app/spec.js, socket /run/user/1000/arbor/arbor-123.sock`. */
export function describeRun(run: RunRecord): string {
  return `pid ${run.pid}, spec ${run.spec}, socket ${run.control}`;
}

/** The socket to talk to: the explicit one, else `$ARBOR_CONTROL`, else the latest run of this user. */
export function locateControl(explicit?: string): Located {
  if (explicit) return { control: explicit, others: [] };
  if (process.env.ARBOR_CONTROL) return { control: process.env.ARBOR_CONTROL, others: [] };
  const [latest, ...others] = listRuns();
  if (latest === undefined) {
    throw new ControlError(
      'no_arbor',
      `no running arbor found (no run recorded in ${runsDir()}); pass --control <path>`,
    );
  }
  return { control: latest.control, run: latest, others };
}

/**
 * The socket a client command should talk to, and what to tell the user about it: which run was reached, and the
 * other runs alive. A command that changes a tree (`change`) is refused while several runs are alive and none was
 * named, since it could hit the wrong service; `read` takes the latest and says so.
 */
export function reachTree(explicit: string | undefined, kind: 'read' | 'change'): { control: string; notes: string[] } {
  const located = locateControl(explicit);
  if (!located.run) return { control: located.control, notes: [] };
  const list = located.others.map((run) => `  ${describeRun(run)}`);
  if (located.others.length > 0 && kind === 'change') {
    throw new ControlError(
      'several_runs',
      [
        `${located.others.length + 1} arbor runs are alive; name one with --control <socket>:`,
        `  ${describeRun(located.run)}`,
        ...list,
      ].join('\n'),
    );
  }
  const notes = [`reached ${describeRun(located.run)}`];
  if (list.length > 0)
    notes.push(`${list.length} other run(s) alive (the latest was chosen; --control <socket> picks one):`, ...list);
  return { control: located.control, notes };
}
