// The exit codes of the `arbor` command.
export const EXIT_OK = 0;
/** The root gave up or failed to start; a client command refused or unable to reach its tree. */
export const EXIT_FAILURE = 1;
/** A command line that cannot be understood, a spec that does not load or validate. */
export const EXIT_USAGE = 2;
