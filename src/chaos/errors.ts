// Why a chaos run could not start or go on, with a machine-readable code.

/** A run that cannot start: nothing reachable, no worker to fault, a target that is not what it claims. */
export class ChaosError extends Error {
  constructor(readonly code: string, message: string) {
    super(message);
    this.name = 'ChaosError';
  }
}
