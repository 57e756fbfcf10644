// Why a chaos run could not start or go on, with a machine-readable code.

/** A run that cannot start: nothing reachable, no worker to fault, a target that is not what it claims. */
export class ChaosError extends Error {
  /**
   * @param code What stopped the run: `unreachable`, `no_url`, `no_workers`, `not_verified`, `bad_option`, …
   * @param message What to do about it, in words.
   */
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'ChaosError';
  }
}
