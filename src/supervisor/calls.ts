// Run-time changes to a supervisor's children (OTP's start_child, terminate_child, restart_child, delete_child).
// Each runs inside the supervisor's machine (state `calling`), so it never races a restart.
import type { ChildSpec } from '../types.js';
import { newRecord, startChild as startRecord, terminateChild as terminateRecord, type ChildRecord } from './children.js';
import type { SupervisorNode } from './node.js';
import { handedOut, instantiate } from './dynamic.js';
import { describe, type ChildInfo } from './info.js';
import { SpecError, validateSpec } from './validate.js';

export type CallErrorCode =
  | 'not_found' | 'running' | 'restarting' | 'already_present' | 'already_started' | 'simple_one_for_one' | 'shutting_down';

/** A refused call, with OTP's error name as `code`. */
export class CallError extends Error {
  constructor(readonly code: CallErrorCode, message: string) {
    super(`${code}: ${message}`);
    this.name = 'CallError';
  }
}

function call<T>(node: SupervisorNode, name: string, run: (children: ChildRecord[]) => Promise<T>): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const snapshot = node.actor.getSnapshot();
    if (snapshot.status !== 'active') {
      reject(new CallError('shutting_down', `supervisor '${node.path}' is not running`));
      return;
    }
    node.actor.send({
      type: 'CALL',
      name,
      run,
      resolve: resolve as (value: unknown) => void,
      reject: (error) => reject(error instanceof Error && error.message === 'shutting_down'
        ? new CallError('shutting_down', `supervisor '${node.path}' is shutting down`)
        : error),
    });
  });
}

function find(node: SupervisorNode, children: ChildRecord[], id: string): ChildRecord {
  const record = children.find((c) => c.spec.id === id);
  if (!record) throw new CallError('not_found', `no child '${id}' in '${node.path}'`);
  return record;
}

const isDynamic = (node: SupervisorNode) => node.spec.strategy === 'simple_one_for_one';

export function startChild(node: SupervisorNode, argsOrSpec: string[] | ChildSpec): Promise<ChildInfo> {
  return call(node, 'startChild', async (children) => {
    let record: ChildRecord;
    if (isDynamic(node)) {
      if (!Array.isArray(argsOrSpec)) throw new CallError('simple_one_for_one', 'a simple_one_for_one supervisor takes extra args, not a child spec');
      record = newRecord(instantiate(node.spec.template!, node.nextDynamicId(), argsOrSpec));
    } else {
      if (Array.isArray(argsOrSpec)) throw new CallError('not_found', 'give a child spec to start a child of a static supervisor');
      const existing = children.find((c) => c.spec.id === argsOrSpec.id);
      if (existing) {
        throw existing.status === 'stopped'
          ? new CallError('already_present', `child '${existing.spec.id}' exists (stopped); use restartChild`)
          : new CallError('already_started', `child '${existing.spec.id}' is running`);
      }
      const problems = validateSpec({ ...node.spec, id: 'root', children: [...children.map((c) => c.spec), argsOrSpec] });
      if (problems.length > 0) throw new SpecError(problems);
      record = newRecord(argsOrSpec);
    }
    await startRecord(node.io, record);
    // A temporary child that started and exited at once was never added; OTP adds only on success.
    children.push(record);
    return describe(record);
  });
}

/**
 * Stops a child. A dynamic child that is already gone is no error (as OTP, where terminating a dead pid is a
 * no-op) when the pool handed its id out in this incarnation; an id it never had is `not_found`.
 */
export function terminateChild(node: SupervisorNode, id: string): Promise<void> {
  return call(node, 'terminateChild', async (children) => {
    if (isDynamic(node) && !children.some((c) => c.spec.id === id) && handedOut(node.spec.template!, id, node.lastDynamicId)) return;
    const record = find(node, children, id);
    // A restart waiting out its backoff is cancelled: the child stays stopped, as OTP's terminate_child.
    record.restartDueAt = undefined;
    await terminateRecord(node.io, record);
    // Temporary and dynamic children have nothing to restart later: their spec goes with them.
    if (record.spec.restart === 'temporary' || isDynamic(node)) children.splice(children.indexOf(record), 1);
  });
}

export function restartChild(node: SupervisorNode, id: string): Promise<ChildInfo> {
  return call(node, 'restartChild', async (children) => {
    if (isDynamic(node)) throw new CallError('simple_one_for_one', 'dynamic children cannot be restarted by id; start a new one');
    const record = find(node, children, id);
    if (record.status === 'running') throw new CallError('running', `child '${id}' is running`);
    if (record.status !== 'stopped') throw new CallError('restarting', `child '${id}' is ${record.status}`);
    await startRecord(node.io, record);
    return describe(record);
  });
}

export function deleteChild(node: SupervisorNode, id: string): Promise<void> {
  return call(node, 'deleteChild', async (children) => {
    if (isDynamic(node)) throw new CallError('simple_one_for_one', 'dynamic children are deleted by terminateChild');
    const record = find(node, children, id);
    if (record.status === 'running') throw new CallError('running', `child '${id}' is running`);
    if (record.status !== 'stopped') throw new CallError('restarting', `child '${id}' is ${record.status}`);
    children.splice(children.indexOf(record), 1);
  });
}
