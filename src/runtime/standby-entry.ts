// Preloaded (`--import`) into every standby spare, before any of the worker's own code. The spare was forked as
// the worker it will become (module, args, env, execArgv, cwd), so all that is left at takeover is its place in
// the tree (ARBOR_CHILD_PATH).
// - warm: hold here (top-level await) until the supervisor says `arbor:takeover`; node then loads the worker's
//   preloads and module as for any start, minus node's own boot.
// - hot: let the module load at once; arbor-otp/worker holds it in `serve()` / `ready()` until the takeover.
// Either way a spare never outlives its supervisor.

import { fileURLToPath } from 'node:url';

// What the worker's code sees of its start is what it was started with: processes it forks (which inherit
// process.execArgv by default) must not load this entry.
const self = fileURLToPath(import.meta.url);
const at = process.execArgv.findIndex((arg, i) => arg === '--import' && process.execArgv[i + 1] === self);
if (at >= 0) process.execArgv.splice(at, 2);

const leave = (): never => process.exit(0);
process.on('disconnect', leave);

if (process.env.ARBOR_STANDBY === 'warm') {
  delete process.env.ARBOR_STANDBY;
  const path = await new Promise<string>((resolve) => {
    // `once`: after this message there is no 'message' listener until the worker's own code adds one, so node
    // holds the messages that follow (the listener's handle) instead of dropping them.
    process.once('message', (raw: unknown) => {
      const m = raw as { type?: unknown; path?: unknown } | null;
      if (m?.type !== 'arbor:takeover' || typeof m.path !== 'string') process.exit(70);
      resolve(m.path);
    });
    process.send?.({ type: 'arbor:parked' });
  });
  process.env.ARBOR_CHILD_PATH = path;
  // From here on the process is the worker: leaving on disconnect is arbor-otp/worker's job, and an extra
  // listener would keep a worker alive that otherwise exits when its work is done.
  process.off('disconnect', leave);
}
