// The events of a rolling reload, published on the tree beside the supervisors' own (one pino line each).
// `path` is what was reloaded (a supervisor or one worker); `supervisor` the supervisor that holds it all.

export type ReloadEvent =
  | { event: 'reload_started'; supervisor: string; path: string; workers: number; maxSurge: number }
  /** A worker's new incarnation is ready and serving; the old one (oldPid) is draining. `took`: its start, in ms. */
  | { event: 'child_replaced'; supervisor: string; child: string; oldPid: number | undefined; newPid: number | undefined; took: number }
  /** `skipped`: workers not replaced, each with why (not running). */
  | { event: 'reload_finished'; supervisor: string; path: string; replaced: number; skipped: string[]; took: number }
  /** The reload stopped at `child` (`error`: why); workers not replaced yet keep their old code and keep serving. */
  | { event: 'reload_failed'; supervisor: string; path: string; child?: string; error: string; replaced: number; took: number }
  /** The new spec's changes were carried out, in this order (`changes`, in words), before the workers are replaced. */
  | { event: 'spec_applied'; supervisor: string; path: string; changes: string[] }
  /** The reload was refused before anything changed: the spec did not load or validate (`bad_spec`), or cannot apply in place. */
  | { event: 'reload_refused'; supervisor: string; path: string; code: string; error: string };
