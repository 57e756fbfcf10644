// A refused or failed request to a tree: OTP's error names for supervisor calls, and the outcomes of a message
// call to a worker. Shared by the supervisor (child calls) and the worker messaging (call/cast) below it.
import type { ExitReason } from './types.js';

/** What went wrong with a call to the tree (docs/reference/errors.md): OTP's names for supervisor calls, and the outcomes of a message to a worker. */
export type CallErrorCode =
  // supervisor calls (startChild, terminateChild, …), as OTP names them
  | 'not_found'
  | 'running'
  | 'restarting'
  | 'already_present'
  | 'already_started'
  | 'simple_one_for_one'
  | 'shutting_down'
  // a chaos fault for a worker that runs without ARBOR_CHAOS=1 (it would ignore it)
  | 'chaos_disabled'
  // messages to workers (tree.call / tree.cast)
  | 'not_running'
  | 'timeout'
  | 'no_handler'
  | 'exited'
  | 'too_large'
  | 'handler_failed';

/** A refused or failed call to the tree: `startChild`, `terminateChild`, …, `call`, `cast`. `code` says what happened. */
export class CallError extends Error {
  /** `exited`: the worker's exit reason. */
  readonly reason?: ExitReason;

  /**
   * @param code What happened.
   * @param message What happened, in words.
   * @param reason `exited`: the worker's exit reason.
   */
  constructor(
    readonly code: CallErrorCode,
    message: string,
    reason?: ExitReason,
  ) {
    super(`${code}: ${message}`);
    this.name = 'CallError';
    if (reason !== undefined) this.reason = reason;
  }
}
