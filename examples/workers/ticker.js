// A worker that ticks once a second, logging one JSON line per tick to stderr (stdout is the tree's log).
// Its args name it: `node ticker.js a` ticks as "a". It runs alone too (`node examples/workers/ticker.js`).
import { onShutdown, ready } from 'arbor-otp/worker';

const name = process.argv.slice(2).join(' ') || 'ticker';
const intervalMs = Number(process.env.TICK_MS ?? 1000);
let ticks = 0;

const log = (fields) => process.stderr.write(`${JSON.stringify({ worker: name, pid: process.pid, ...fields })}\n`);

const timer = setInterval(() => {
  ticks += 1;
  log({ tick: ticks });
}, intervalMs);

onShutdown(() => {
  clearInterval(timer);
  log({ stopping: true, ticks });
});

ready();
