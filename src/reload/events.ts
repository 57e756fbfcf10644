// The events of a rolling reload, published on the tree beside the supervisors' own (one pino line each).
// `path` is what was reloaded (a supervisor or one worker); `supervisor` the supervisor that holds it all.

/** A reload began (`tree.reload()`, `arbor reload`, SIGHUP). */
export interface ReloadStartedEvent {
  /** The event's name. */
  event: 'reload_started';
  /** The path of the supervisor that holds everything reloaded. */
  supervisor: string;
  /** What is reloaded: a supervisor or one worker. */
  path: string;
  /** How many workers will be replaced. */
  workers: number;
  /** Workers of one supervisor replaced at a time. */
  maxSurge: number;
}

/** A worker's new incarnation is ready and serving; the old one (`oldPid`) is draining. */
export interface ChildReplacedEvent {
  /** The event's name. */
  event: 'child_replaced';
  /** The path of the worker's supervisor. */
  supervisor: string;
  /** The worker's id. */
  child: string;
  /** The pid of the incarnation being replaced. */
  oldPid: number | undefined;
  /** The pid of the new incarnation. */
  newPid: number | undefined;
  /** ms from the new incarnation's start until it was ready. */
  took: number;
}

/** The reload is done: every worker replaced (or skipped) and every old incarnation drained. */
export interface ReloadFinishedEvent {
  /** The event's name. */
  event: 'reload_finished';
  /** The path of the supervisor that holds everything reloaded. */
  supervisor: string;
  /** What was reloaded. */
  path: string;
  /** How many workers were replaced. */
  replaced: number;
  /** Workers not replaced, each with why (not running). */
  skipped: string[];
  /** ms the whole reload took. */
  took: number;
}

/** The reload stopped at `child`; workers not replaced yet keep their old code and keep serving. */
export interface ReloadFailedEvent {
  /** The event's name. */
  event: 'reload_failed';
  /** The path of the supervisor that holds everything reloaded. */
  supervisor: string;
  /** What was being reloaded. */
  path: string;
  /** The worker whose replacement failed, when one did. */
  child?: string;
  /** Why: the replacement's exit reason in words, or what stopped the reload. */
  error: string;
  /** How many workers had been replaced (they keep the new code). */
  replaced: number;
  /** ms until the reload stopped. */
  took: number;
}

/** The new spec's changes were carried out, in this order, before the workers are replaced. */
export interface SpecAppliedEvent {
  /** The event's name. */
  event: 'spec_applied';
  /** The path of the supervisor that holds everything reloaded. */
  supervisor: string;
  /** What is reloaded. */
  path: string;
  /** The changes, in words, in the order they were made. */
  changes: string[];
}

/** The reload was refused before anything changed: the spec did not load or validate (`bad_spec`), or cannot apply in place. */
export interface ReloadRefusedEvent {
  /** The event's name. */
  event: 'reload_refused';
  /** The path of the supervisor that holds everything reloaded. */
  supervisor: string;
  /** What was to be reloaded. */
  path: string;
  /** Why, as a code: `bad_spec`, `cannot_change`. */
  code: string;
  /** Why, in words. */
  error: string;
}

/** The events of a rolling reload. */
export type ReloadEvent =
  | ReloadStartedEvent
  | ChildReplacedEvent
  | ReloadFinishedEvent
  | ReloadFailedEvent
  | SpecAppliedEvent
  | ReloadRefusedEvent;
