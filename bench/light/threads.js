// One measurement of thread children for bench:light, in a process of its own: N thread children under one
// supervisor — the time to start them all, the RSS each adds, then crashes one at a time, timed to its restart.
import { fileURLToPath } from 'node:url';
import { start, supervisor, worker } from '../../dist/index.js';

const [n, crashes] = process.argv.slice(2).map(Number);
const module = fileURLToPath(new URL('./thread-child.mjs', import.meta.url));
// Out of the measurement: node's own first thread (loading the worker machinery) and the tree code.
const warm = await start(supervisor({ children: [worker({ id: 'warm', kind: 'thread', module })] }), { logger: false });
await warm.stop();
const rss0 = process.memoryUsage().rss;
const t0 = performance.now();
const tree = await start(supervisor({
  intensity: crashes + 1, period: 60_000,
  children: Array.from({ length: n }, (_, i) => worker({ id: `t${i}`, kind: 'thread', module })),
}), { logger: false });
const startMs = performance.now() - t0;
// Threads settle their heaps a little after ready: give them a moment before reading RSS.
await new Promise((resolve) => setTimeout(resolve, 500));
const rssPerThread = (process.memoryUsage().rss - rss0) / n;

const restartMs = [];
for (let i = 0; i < crashes; i++) {
  const id = `t${i % n}`;
  const back = new Promise((resolve) => {
    const onStarted = (e) => {
      if (e.child !== id) return;
      tree.off('child_started', onStarted);
      resolve();
    };
    tree.on('child_started', onStarted);
  });
  const t1 = performance.now();
  tree.cast(`root/${id}`, 'crash');
  await back;
  restartMs.push(performance.now() - t1);
}
await tree.stop();
console.log(JSON.stringify({ n, startMs, rssPerThread, restartMs }));
