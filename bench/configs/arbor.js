// arbor: a listener (shared | round_robin) and a pool of N workers serving it, as in examples/http-service.
// Usage: node bench/configs/arbor.js <shared|round_robin> <workers> [standby|warm|hot] [spares]
// `standby`/`warm`: workers restart into a parked, already booted node process; `hot`: into a spare that has
// loaded the worker's module and waits in serve(); `spares`: how many spares the pool keeps (default 1).
// Answers { type: 'spares' } with the pids of the parked spares.
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { listener, start, supervisor, worker } from 'arbor-otp';
import { event, onStop, report } from './ipc.js';

const mode = process.argv[2] === 'round_robin' ? 'round_robin' : 'shared';
const size = Number(process.argv[3] ?? 2);
const standbyMode = { standby: 'warm', warm: 'warm', hot: 'hot' }[process.argv[4]];
const standby = standbyMode === undefined ? false : { mode: standbyMode, count: Number(process.argv[5] ?? 1) };
// Extra node flags for the workers (bench/profile: --cpu-prof).
const execArgv = process.env.BENCH_WORKER_EXECARGV?.split(' ').filter(Boolean) ?? [];
const module = fileURLToPath(new URL('../servers/arbor-worker.js', import.meta.url));

// The listener binds port 0; its real address is only in the `listener_bound` log line, so read the logs.
let port;
const logger = pino({ level: 'info' }, {
  write(line) {
    const entry = JSON.parse(line);
    if (entry.event === 'listener_bound') port = Number(entry.address.slice(entry.address.lastIndexOf(':') + 1));
    else if (entry.level >= 50) process.stderr.write(line);
  },
});

const spec = supervisor({
  id: 'root',
  strategy: 'rest_for_one',
  intensity: 10,
  period: 10_000,
  children: [
    listener({ id: 'http', host: '127.0.0.1', port: 0, mode }),
    supervisor({
      id: 'pool',
      strategy: 'one_for_one',
      // The bench kills workers on purpose, many times: never give up.
      intensity: 1_000_000,
      period: 1000,
      children: Array.from({ length: size }, (_, i) =>
        worker({ id: `web-${i + 1}`, module, listen: 'http', shutdown: 2000, standby, execArgv }),
      ),
    }),
  ],
});

const tree = await start(spec, { logger });
const pids = new Set();
tree.on('event', (e) => {
  if (e.supervisor !== 'root/pool') return;
  if (e.event === 'child_exited') {
    pids.delete(e.pid);
    event('exit', e.pid, e.reason);
  } else if (e.event === 'child_restarting') {
    event('restarting', undefined);
  } else if (e.event === 'child_started') {
    pids.add(e.pid);
    event('ready', e.pid);
  }
});
for (const child of tree.whichChildren('root/pool')) if (child.pid) pids.add(child.pid);
onStop(() => tree.stop());
process.on('message', (m) => {
  if (m?.type === 'spares') report({ type: 'spares', pids: tree.standby.parkedPids() });
});
if (port === undefined) throw new Error('arbor launcher: no listener_bound event, port unknown');
report({ type: 'ready', port, pids: [...pids] });
