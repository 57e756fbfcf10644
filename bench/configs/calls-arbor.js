// arbor calls: a tree embedded in this process with a pool of 2 workers; tree.call('root/pool', message).
// Usage: node bench/configs/calls-arbor.js <workers>
import { fileURLToPath } from 'node:url';
import { start, supervisor, worker } from 'arbor-otp';
import { answerMeasure } from '../calls/load.js';
import { onStop, report } from './ipc.js';

const size = Number(process.argv[2] ?? 2);
const module = fileURLToPath(new URL('../servers/calls-arbor-worker.js', import.meta.url));
const tree = await start(
  supervisor({ children: [supervisor({ id: 'pool', children: Array.from({ length: size }, (_, i) => worker({ id: `w${i + 1}`, module, shutdown: 2000 })) })] }),
  { logger: false },
);
onStop(() => tree.stop());
answerMeasure((message) => tree.call('root/pool', message, { timeout: 30_000 }));
report({ type: 'ready', port: 0, pids: tree.whichChildren('root/pool').map((c) => c.pid) });
