// Errors that escape a task: a throw in a timer or emitter callback it set up, a promise it left rejected with no
// handler. Every task runs inside an AsyncLocalStorage store naming its owner; the callbacks and promises it creates
// inherit that store, so an escaping error is handed to the task it came from — that task exits, never its host nor
// a sibling. An escape no task owns is the host's own failure: reported as such, and handled as node would have.
import { AsyncLocalStorage } from 'node:async_hooks';

/** The incarnation an error escaping a task belongs to. */
export interface EscapeOwner {
  escaped(error: unknown): void;
}

const owners = new AsyncLocalStorage<EscapeOwner>();
let installed = false;

/** Runs `fn` (a task's start) so that whatever it sets up belongs to `owner`. */
export function runOwned<T>(owner: EscapeOwner, fn: () => T): T {
  if (!installed) install();
  return owners.run(owner, fn);
}

/** The owner of the context this runs in (undefined outside any task's). */
export function ownerNow(): EscapeOwner | undefined {
  return owners.getStore();
}

/**
 * Installed once per host process. Uncaught exceptions: the capture callback, which sees them first and alone (a
 * listener would share them with the host's own `uncaughtException` listeners, which may well exit). Unhandled
 * rejections: node emits them inside the rejected promise's async context; one owned by a task is taken out of the
 * `unhandledRejection` emission so the host's listeners (and node's default: crash) never see it.
 */
function install(): void {
  installed = true;
  try {
    process.setUncaughtExceptionCaptureCallback(onUncaught);
  } catch {
    // Taken (the `domain` module, or another runtime): share the event instead, first in line.
    process.prependListener('uncaughtException', (error) => void claim(error));
  }
  const emit = process.emit;
  process.emit = function emitUnlessOwned(this: NodeJS.Process, event: string | symbol, ...args: unknown[]): boolean {
    if (event === 'unhandledRejection' && claim(args[0])) return true;
    return (emit as (event: string | symbol, ...args: unknown[]) => boolean).call(this, event, ...args);
  } as typeof process.emit;
}

/** Hands `error` to the task whose context this is; false when no task owns it. */
function claim(error: unknown): boolean {
  const owner = owners.getStore();
  if (owner === undefined) return false;
  owner.escaped(error);
  return true;
}

function onUncaught(error: unknown): void {
  if (claim(error)) return;
  // The host's own failure. Its listeners get it as they would have; with none, node's default: report and exit 1.
  if (process.listenerCount('uncaughtException') > 0) {
    (process.emit as (event: string, ...args: unknown[]) => boolean)('uncaughtException', error, 'uncaughtException');
    return;
  }
  process.stderr.write(`arbor: an uncaught exception that no task owns: the host process fails\n${describe(error)}\n`);
  process.exit(1);
}

function describe(error: unknown): string {
  return error instanceof Error ? (error.stack ?? String(error)) : String(error);
}
