// Which workers a reload replaces, and in which batches: pure functions of the tree's shape.

/** What a reload needs to know of a supervisor (a SupervisorStatus is one). */
export interface TreeShape {
  path: string;
  children: ReadonlyArray<{ id: string; type: 'worker' | 'listener' | 'supervisor' | 'task'; supervisor?: TreeShape }>;
}

export interface WorkerRef {
  /** The path of the worker's supervisor. */
  supervisor: string;
  id: string;
}

/** Every worker under `shape`, depth first in start order: listeners and supervisors themselves are not replaced. */
export function workersUnder(shape: TreeShape): WorkerRef[] {
  return shape.children.flatMap((child) => {
    if (child.type === 'worker') return [{ supervisor: shape.path, id: child.id }];
    return child.supervisor ? workersUnder(child.supervisor) : [];
  });
}

/**
 * Groups workers into batches of at most `maxSurge`, in order, each batch within one supervisor (a supervisor
 * replaces a batch in one call, so its machine sees one operation).
 */
export function batches(workers: readonly WorkerRef[], maxSurge: number): WorkerRef[][] {
  const size = Math.max(1, Math.floor(maxSurge));
  const out: WorkerRef[][] = [];
  for (const worker of workers) {
    const last = out[out.length - 1];
    if (last && last.length < size && last[0]!.supervisor === worker.supervisor) last.push(worker);
    else out.push([worker]);
  }
  return out;
}
