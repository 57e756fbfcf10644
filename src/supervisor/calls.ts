// Run-time changes to a supervisor's children (OTP's start_child, terminate_child, restart_child, delete_child).
// Each runs inside the supervisor's machine (state `calling`), so it never races a restart.
import { CallError } from '../call-error.js';
import type { ChildSpec, ExitReason, SupervisorFlags } from '../types.js';
import {
  ChildStartError,
  startChild as startRecord,
  startReplacement,
  terminateChild as terminateRecord,
  type ChildList,
  type ChildRecord,
} from './children.js';
import type { SupervisorNode } from './node.js';
import type { CallEvent, SetFlagsEvent } from './machine.js';
import { handedOut, instantiate } from './dynamic.js';
import { describe, type ChildInfo } from './info.js';
import { SpecError, validateSpec } from './validate.js';

export { CallError, type CallErrorCode } from '../call-error.js';

/**
 * Hands the machine a request (made by `make` from the answer's callbacks) and resolves with its answer; a supervisor
 * that stops before the request's turn refuses it with `shutting_down`.
 */
function ask<T>(
  node: SupervisorNode,
  make: (resolve: (value: T) => void, reject: (error: unknown) => void) => CallEvent | SetFlagsEvent,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    if (node.actor.getSnapshot().status !== 'active') {
      reject(new CallError('shutting_down', `supervisor '${node.path}' is not running`));
      return;
    }
    node.deliver(
      make(resolve, (error) =>
        reject(
          error instanceof Error && error.message === 'shutting_down'
            ? new CallError('shutting_down', `supervisor '${node.path}' is shutting down`)
            : error,
        ),
      ),
    );
  });
}

/** `run` answers with a value, or a promise of one when it has to wait (a child process's start). */
function call<T>(node: SupervisorNode, name: string, run: (children: ChildList) => T | Promise<T>): Promise<T> {
  return ask<T>(node, (resolve, reject) => ({
    type: 'CALL',
    name,
    run,
    resolve: resolve as (value: unknown) => void,
    reject,
  }));
}

function find(node: SupervisorNode, children: ChildList, id: string): ChildRecord {
  const record = children.get(id);
  if (!record) throw new CallError('not_found', `no child '${id}' in '${node.path}'`);
  return record;
}

const isDynamic = (node: SupervisorNode) => node.spec.strategy === 'simple_one_for_one';

/** The ids of the listeners a child of `node` may listen on beyond its siblings: its ancestors' listener children. */
function listenersAbove(node: SupervisorNode): string[] {
  const ids: string[] = [];
  for (let up = node.parent; up; up = up.parent)
    for (const c of up.children) if (c.spec.type === 'listener') ids.push(c.spec.id);
  return ids;
}

export function startChild(node: SupervisorNode, argsOrSpec: string[] | ChildSpec): Promise<ChildInfo> {
  return call(node, 'startChild', (children) => {
    let spec: ChildSpec;
    if (isDynamic(node)) {
      if (!Array.isArray(argsOrSpec))
        throw new CallError('simple_one_for_one', 'a simple_one_for_one supervisor takes extra args, not a child spec');
      spec = instantiate(node.spec.template!, node.nextDynamicId(), argsOrSpec);
    } else {
      if (Array.isArray(argsOrSpec))
        throw new CallError('not_found', 'give a child spec to start a child of a static supervisor');
      const existing = children.get(argsOrSpec.id);
      if (existing) {
        throw existing.status === 'stopped'
          ? new CallError('already_present', `child '${existing.spec.id}' exists (stopped); use restartChild`)
          : new CallError('already_started', `child '${existing.spec.id}' is running`);
      }
      const problems = validateSpec(
        { ...node.spec, id: 'root', children: [...children.ordered().map((c) => c.spec), argsOrSpec] },
        { outerListeners: listenersAbove(node), hosts: node.host.hosts?.names() ?? [] },
      );
      if (problems.length > 0) throw new SpecError(problems);
      spec = argsOrSpec;
    }
    // Listed while it starts, so that its exits find it; removed again if it does not start (OTP adds only on success).
    const record = children.add(spec);
    const forget = (error: unknown): never => {
      if (children.get(record.spec.id) === record) children.remove(record);
      throw error;
    };
    let pending: Promise<void> | undefined;
    try {
      pending = startRecord(node.io, children, record);
    } catch (error) {
      forget(error);
    }
    // A task started there and then: answered without a promise of the supervisor's own.
    if (pending === undefined) return describe(record);
    return pending.then(() => describe(record), forget);
  });
}

/**
 * Stops a child. A dynamic child that is already gone is no error (as OTP, where terminating a dead pid is a
 * no-op) when the pool handed its id out in this incarnation; an id it never had is `not_found`.
 */
export function terminateChild(node: SupervisorNode, id: string): Promise<void> {
  return call(node, 'terminateChild', async (children) => {
    if (isDynamic(node) && !children.has(id) && handedOut(node.spec.template!, id, node.lastDynamicId)) return;
    const record = find(node, children, id);
    // A restart waiting out its backoff is cancelled: the child stays stopped, as OTP's terminate_child.
    children.restartDue(record, undefined);
    await terminateRecord(node.io, children, record);
    // Temporary and dynamic children have nothing to restart later: their spec goes with them.
    if ((record.spec.restart === 'temporary' || isDynamic(node)) && children.get(id) === record)
      children.remove(record);
  });
}

export function restartChild(node: SupervisorNode, id: string): Promise<ChildInfo> {
  return call(node, 'restartChild', async (children) => {
    if (isDynamic(node))
      throw new CallError('simple_one_for_one', 'dynamic children cannot be restarted by id; start a new one');
    const record = find(node, children, id);
    if (record.status === 'running') throw new CallError('running', `child '${id}' is running`);
    if (record.status !== 'stopped') throw new CallError('restarting', `child '${id}' is ${record.status}`);
    await startRecord(node.io, children, record);
    return describe(record);
  });
}

export function deleteChild(node: SupervisorNode, id: string): Promise<void> {
  return call(node, 'deleteChild', async (children) => {
    if (isDynamic(node)) throw new CallError('simple_one_for_one', 'dynamic children are deleted by terminateChild');
    const record = find(node, children, id);
    if (record.status === 'running') throw new CallError('running', `child '${id}' is running`);
    if (record.status !== 'stopped') throw new CallError('restarting', `child '${id}' is ${record.status}`);
    children.remove(record);
  });
}

/**
 * A reload's new spec for a child: its record takes it, used from its next start on (for a worker, the rolling
 * reload's replacement). Nothing is started or stopped; the child keeps its place, restarts and state.
 */
export function replaceSpec(node: SupervisorNode, id: string, spec: ChildSpec): Promise<void> {
  return call(node, 'replaceSpec', async (children) => {
    const record = find(node, children, id);
    if (record.spec.type !== spec.type || spec.id !== id) {
      throw new CallError(
        'not_found',
        `'${node.path}/${id}' is a ${record.spec.type}, not the ${spec.type} '${spec.id}'`,
      );
    }
    children.respec(record, spec);
  });
}

/**
 * A reload's new flags (strategy, intensity, period, autoShutdown, template...) for the running supervisor itself,
 * as OTP's code_change sets a supervisor's flags: its machine takes them in their turn, after what was asked of it
 * before, into a new spec in its context (the spec it started with is never changed).
 */
export function setFlags(node: SupervisorNode, flags: SupervisorFlags): Promise<void> {
  return ask<void>(node, (resolve, reject) => ({ type: 'SET_FLAGS', flags, resolve, reject }));
}

/** What became of one child asked to be replaced. */
export type ReplaceOutcome =
  | {
      child: string;
      outcome: 'replaced';
      oldPid: number | undefined;
      newPid: number | undefined;
      /** ms from the start of the new incarnation until it was ready. */
      took: number;
      /** Resolves once the old incarnation has drained and exited. */
      retired: Promise<ExitReason>;
    }
  | { child: string; outcome: 'skipped'; why: string }
  | { child: string; outcome: 'failed'; reason: ExitReason };

/**
 * Replaces running workers, all at once: each gets a new incarnation started beside the old one; only once the new
 * one is ready does it become the child, and the old one is then drained outside the machine. A worker not running
 * (stopped, or being restarted: it loads the code anew anyway) is skipped. A new incarnation that does not start is
 * cleaned up and the old one keeps running. No strategy applies, nothing counts toward intensity.
 */
export function replaceChildren(
  node: SupervisorNode,
  ids: readonly string[],
  options: { abort?: AbortSignal } = {},
): Promise<ReplaceOutcome[]> {
  return call(node, 'replaceChildren', (children) =>
    Promise.all(
      ids.map(async (id): Promise<ReplaceOutcome> => {
        const record = find(node, children, id);
        if (record.spec.type !== 'worker')
          return { child: id, outcome: 'skipped', why: `a ${record.spec.type} is not replaced` };
        if (record.status !== 'running') return { child: id, outcome: 'skipped', why: record.status };
        const oldPid = record.handle?.pid;
        const began = node.io.now();
        try {
          const old = await startReplacement(node.io, children, record, options.abort);
          return {
            child: id,
            outcome: 'replaced',
            oldPid,
            newPid: record.handle?.pid,
            took: node.io.now() - began,
            retired: node.retire(id, old),
          };
        } catch (error) {
          if (error instanceof ChildStartError) return { child: id, outcome: 'failed', reason: error.reason };
          throw error;
        }
      }),
    ),
  );
}
