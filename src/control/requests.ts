// The requests of the control socket: each line is checked field by field before anything is done (a bad one
// gets an error answer and changes nothing), then performed against the running tree.
import { readdirSync } from 'node:fs';
import { CallError } from '../supervisor/calls.js';
import { SpecError } from '../supervisor/validate.js';
import { StartFailure } from '../child.js';
import type { Tree } from '../supervisor/tree.js';
import { CHAOS_FAULTS, isChaosFault, type ChaosFault } from '../protocol.js';
import {
  CONTROL_OPS,
  MAX_ANSWER_BYTES,
  splitChildPath,
  type ControlOp,
  type ControlResponse,
  type ProcStats,
  type RunInfo,
} from './client.js';
import { boundedJson } from './bounded.js';
import { SharedReads } from './shared-reads.js';
import type { EventLog } from './event-log.js';
import { logsPage, MAX_LOG_LINES } from './logs.js';

export const MAX_ID_LENGTH = 128;
const MAX_PATH_LENGTH = 1024;

export interface ControlHooks {
  /** The running tree, or undefined while it is still starting. */
  tree(): Tree | undefined;
  /** The `stop` op: stop the whole tree gracefully, as SIGTERM does. */
  stop(): void;
  /** The `events` op reads this log; without one, `events` answers `unavailable`. */
  events?: EventLog;
  /** What the `info` op tells about this run, beyond its pid (e.g. the spec module it runs). */
  info?: Omit<RunInfo, 'pid'>;
}

export type RequestId = string | number | null;

export class RequestError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export interface ValidRequest {
  id: string | number;
  op: ControlOp;
  path: string | undefined;
  args: string[] | undefined;
  fault: ChaosFault | undefined;
  since: number | undefined;
  maxSurge: number | undefined;
  dryRun: boolean | undefined;
  lines: number | undefined;
}

const ALLOWED_FIELDS = new Set(['id', 'op', 'path', 'args', 'fault', 'since', 'maxSurge', 'dryRun', 'lines']);
/** A reload starts at most this many new processes at once: a request must not fork-bomb the host. */
const MAX_SURGE_LIMIT = 64;
/** Ops that name a child (`<supervisor path>/<child id>`), and those that name a supervisor. */
const CHILD_OPS: readonly ControlOp[] = ['restart', 'stop-child', 'delete-child', 'fault'];
/** Ops about the whole `arbor run`: they take no path. */
const RUN_OPS: readonly ControlOp[] = ['stop', 'events', 'proc', 'info'];
const SUPERVISOR_OPS: readonly ControlOp[] = ['status', 'which', 'count', 'start-child'];

/** Checks one decoded line; throws a RequestError naming the bad field. */
export function parseRequest(raw: unknown): ValidRequest {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw))
    throw new RequestError('bad_request', 'a request is a JSON object');
  const request = raw as Record<string, unknown>;
  const { id, op, path, args, fault, since, maxSurge, dryRun, lines } = request;
  if (!((typeof id === 'string' && id.length > 0 && id.length <= MAX_ID_LENGTH) || Number.isSafeInteger(id))) {
    throw new RequestError(
      'bad_request',
      `'id' must be a non-empty string (at most ${MAX_ID_LENGTH} chars) or an integer`,
    );
  }
  const extra = Object.keys(request).filter((key) => !ALLOWED_FIELDS.has(key));
  if (extra.length > 0) throw new RequestError('bad_request', `unknown field(s): ${extra.join(', ')}`);
  if (typeof op !== 'string') throw new RequestError('bad_request', "'op' must be a string");
  if (!(CONTROL_OPS as readonly string[]).includes(op)) {
    throw new RequestError('unknown_op', `unknown op '${op.slice(0, 64)}'; expected one of ${CONTROL_OPS.join(', ')}`);
  }
  const known = op as ControlOp;
  if (path !== undefined && (typeof path !== 'string' || path.length === 0 || path.length > MAX_PATH_LENGTH)) {
    throw new RequestError('bad_request', "'path' must be a non-empty string");
  }
  if (CHILD_OPS.includes(known) && (path === undefined || !splitChildPath(path))) {
    throw new RequestError('bad_request', `'${op}' needs 'path' as <supervisor path>/<child id>`);
  }
  if (known === 'start-child' && path === undefined)
    throw new RequestError('bad_request', "'start-child' needs a supervisor 'path'");
  if (RUN_OPS.includes(known) && path !== undefined) throw new RequestError('bad_request', `'${op}' takes no 'path'`);
  if (args !== undefined) {
    if (known !== 'start-child') throw new RequestError('bad_request', `'${op}' takes no 'args'`);
    if (!Array.isArray(args) || !args.every((a) => typeof a === 'string')) {
      throw new RequestError('bad_request', "'args' must be an array of strings");
    }
  }
  if (known === 'fault' && !isChaosFault(fault)) {
    throw new RequestError('bad_request', `'fault' needs 'fault' as one of ${CHAOS_FAULTS.join(', ')}`);
  }
  if (known !== 'fault' && fault !== undefined) throw new RequestError('bad_request', `'${op}' takes no 'fault'`);
  if (since !== undefined) {
    if (known !== 'events' && known !== 'logs') throw new RequestError('bad_request', `'${op}' takes no 'since'`);
    if (!Number.isSafeInteger(since) || (since as number) < 0) {
      throw new RequestError('bad_request', "'since' must be a non-negative integer");
    }
  }
  if (maxSurge !== undefined) {
    if (known !== 'reload') throw new RequestError('bad_request', `'${op}' takes no 'maxSurge'`);
    if (!Number.isSafeInteger(maxSurge) || (maxSurge as number) < 1 || (maxSurge as number) > MAX_SURGE_LIMIT) {
      throw new RequestError('bad_request', `'maxSurge' must be an integer from 1 to ${MAX_SURGE_LIMIT}`);
    }
  }
  if (dryRun !== undefined) {
    if (known !== 'reload') throw new RequestError('bad_request', `'${op}' takes no 'dryRun'`);
    if (typeof dryRun !== 'boolean') throw new RequestError('bad_request', "'dryRun' must be true or false");
  }
  if (lines !== undefined) {
    if (known !== 'logs') throw new RequestError('bad_request', `'${op}' takes no 'lines'`);
    if (!Number.isSafeInteger(lines) || (lines as number) < 0 || (lines as number) > MAX_LOG_LINES) {
      throw new RequestError('bad_request', `'lines' must be an integer from 0 to ${MAX_LOG_LINES}`);
    }
  }
  return {
    id: id as string | number,
    lines: lines as number | undefined,
    maxSurge: maxSurge as number | undefined,
    dryRun: dryRun as boolean | undefined,
    op: known,
    path: path as string | undefined,
    args: args as string[] | undefined,
    fault: fault as ChaosFault | undefined,
    since: since as number | undefined,
  };
}

/** Runs one checked request against the tree. */
export async function perform(tree: Tree, request: ValidRequest, hooks: ControlHooks): Promise<unknown> {
  const { op, path, args } = request;
  if (SUPERVISOR_OPS.includes(op)) {
    const supervisor = path ?? tree.spec.id;
    switch (op) {
      case 'status':
        return tree.status(supervisor);
      case 'which':
        return tree.whichChildren(supervisor);
      case 'count':
        return tree.countChildren(supervisor);
      default:
        return tree.startChild(supervisor, args ?? []);
    }
  }
  // eslint-disable-next-line @typescript-eslint/switch-exhaustiveness-check -- the supervisor's ops returned above
  switch (op) {
    case 'stop':
      hooks.stop();
      return { stopping: true };
    case 'events':
      if (!hooks.events) throw new RequestError('unavailable', 'this arbor keeps no event log');
      return hooks.events.read(request.since);
    case 'proc':
      return procStats();
    case 'info':
      return { ...hooks.info, pid: process.pid } satisfies Partial<RunInfo>;
    case 'logs':
      return logsPage(tree, path, request);
    case 'fault':
      return tree.injectFault(path!, request.fault!);
    case 'reload':
      return tree.reload(path ?? tree.spec.id, {
        ...(request.maxSurge !== undefined ? { maxSurge: request.maxSurge } : {}),
        ...(request.dryRun ? { dryRun: true } : {}),
      });
  }
  const { supervisor, child } = splitChildPath(path!)!;
  switch (op) {
    case 'stop-child':
      await tree.terminateChild(supervisor, child);
      return { terminated: path };
    case 'delete-child':
      await tree.deleteChild(supervisor, child);
      return { deleted: path };
    default:
      return restart(tree, supervisor, child);
  }
}

/** The supervisor process's own resources, to watch for leaks across many restarts. */
function procStats(): ProcStats {
  let fds: number | null = null;
  try {
    fds = readdirSync('/proc/self/fd').length;
  } catch {
    // Not Linux: no /proc.
  }
  return { pid: process.pid, rss: process.memoryUsage().rss, fds };
}

/** Restart by hand: terminate the child if it runs, then start it again. Refused before anything is stopped. */
async function restart(tree: Tree, supervisor: string, child: string): Promise<unknown> {
  if (tree.status(supervisor).strategy === 'simple_one_for_one') {
    throw new CallError('simple_one_for_one', 'dynamic children cannot be restarted by id; start a new one');
  }
  const current = tree.whichChildren(supervisor).find((c) => c.id === child);
  if (!current) throw new CallError('not_found', `no child '${child}' in '${supervisor}'`);
  if (current.status !== 'stopped') await tree.terminateChild(supervisor, child);
  return tree.restartChild(supervisor, child);
}

/** An error as `{ code, message }`: call errors keep OTP's names; the tree's own errors read `code: message`. */
export function describeError(error: unknown): { code: string; message: string } {
  if (error instanceof RequestError) return { code: error.code, message: error.message };
  if (error instanceof CallError) return { code: error.code, message: error.message.replace(`${error.code}: `, '') };
  if (error instanceof SpecError) return { code: 'bad_spec', message: error.message };
  if (error instanceof StartFailure) return { code: 'start_failed', message: error.message };
  // A child that did not start (startChild, restartChild): the supervisor's ChildStartError, known by its name.
  if (error instanceof Error && error.name === 'ChildStartError')
    return { code: 'start_failed', message: error.message };
  const message = error instanceof Error ? error.message : String(error);
  const coded = /^([a-z_]+): (.*)$/s.exec(message);
  return coded ? { code: coded[1]!, message: coded[2]! } : { code: 'internal', message };
}

/** Reads of the tree whose answers are shared by concurrent requests (see shared-reads.ts). */
const SHARED_OPS: ReadonlySet<ControlOp> = new Set<ControlOp>(['status', 'which', 'count']);

/** Longest string an answer carries whole (a stack, a shutdown detail); longer ones are cut with a marker. */
export const MAX_ANSWER_STRING = 16 * 1024;

/**
 * The answer line (newline included) to one request line. Never throws and never builds an unbounded string:
 * whatever the tree holds, the answer is at most MAX_ANSWER_BYTES, long strings and what does not fit being cut
 * with a marker, and anything JSON cannot hold (a cycle, a BigInt, a throwing getter) replaced by a marker.
 * With `shared`, reads of the tree (status, which, count) share one answer while the tree does not change.
 */
export async function answerLine(line: string, hooks: ControlHooks, shared?: SharedReads): Promise<string> {
  let id: RequestId = null;
  let response: ControlResponse;
  try {
    let raw: unknown;
    try {
      raw = JSON.parse(line);
    } catch {
      throw new RequestError('bad_request', 'a request is one line of JSON');
    }
    // Echo a well-formed id even when the rest of the request is refused, so the client can match it.
    const rawId = (raw as { id?: unknown } | null)?.id;
    if (typeof rawId === 'string' && rawId.length <= MAX_ID_LENGTH) id = rawId;
    else if (Number.isSafeInteger(rawId)) id = rawId as number;
    const request = parseRequest(raw);
    const tree = hooks.tree();
    if (!tree) throw new RequestError('starting', 'the tree is still starting');
    if (shared && SHARED_OPS.has(request.op)) {
      const supervisor = request.path ?? tree.spec.id;
      const { op } = request;
      const read = (): unknown =>
        op === 'status'
          ? tree.status(supervisor)
          : op === 'which'
            ? tree.whichChildren(supervisor)
            : tree.countChildren(supervisor);
      const result = await shared.json(tree, `${op}\0${supervisor}`, read, {
        maxString: MAX_ANSWER_STRING,
        maxBytes: MAX_ANSWER_BYTES - 512,
      });
      if (result !== undefined) return `{"id":${JSON.stringify(id)},"ok":true,"result":${result}}\n`;
      throw new RequestError('too_large', 'the answer could not be bounded');
    }
    response = { id, ok: true, result: await perform(tree, request, hooks) };
  } catch (error) {
    response = { id, ok: false, error: safeDescription(error) };
  }
  const text = boundedJson(response, { maxString: MAX_ANSWER_STRING, maxBytes: MAX_ANSWER_BYTES - 1 });
  if (text !== undefined) return `${text}\n`;
  return `${JSON.stringify({ id, ok: false, error: { code: 'too_large', message: 'the answer could not be bounded' } })}\n`;
}

/** describeError(), safe for errors whose message getter throws or is not a string. */
function safeDescription(error: unknown): { code: string; message: string } {
  try {
    const { code, message } = describeError(error);
    return { code: String(code), message: String(message) };
  } catch {
    return { code: 'internal', message: 'an error that cannot be described' };
  }
}
