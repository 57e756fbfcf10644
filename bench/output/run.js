// npm run bench:output — what capturing workers' output costs the supervisor, and what a TypeScript worker's start
// costs. (1) The supervisor's CPU while one worker prints 0, 1,000 (text or JSON) or 20,000 lines/s (over the
// limit: counted and dropped), logging to /dev/null as `arbor run` logs to stdout. (2) exit → ready of a restarted
// worker whose module is .js against the same module as .ts (through tsx). Configurations alternate within each
// round; the tables give medians over rounds.
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { start, supervisor, worker } from '../../dist/index.js';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const WINDOW_MS = Number(process.env.BENCH_DURATION ?? 5) * 1000;
const RESTARTS = Number(process.env.BENCH_RESTARTS ?? 10);
const here = fileURLToPath(new URL('.', import.meta.url));
const median = (values) => [...values].sort((a, b) => a - b)[Math.floor((values.length - 1) / 2)];
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const logger = () => pino({ base: undefined }, pino.destination({ dest: '/dev/null', sync: false }));

async function cpuWhilePrinting(env) {
  const tree = await start(supervisor({ id: 'root', children: [worker({ id: 'w', module: join(here, 'printer.mjs'), env })] }), { logger: logger() });
  try {
    await sleep(500);
    const lastSeqBefore = tree.output.lastSeq;
    const before = process.cpuUsage();
    const t0 = performance.now();
    await sleep(WINDOW_MS);
    const used = process.cpuUsage(before);
    const seconds = (performance.now() - t0) / 1000;
    return { cpuPercent: ((used.user + used.system) / 1000 / (seconds * 1000)) * 100, kept: (tree.output.lastSeq - lastSeqBefore) / seconds };
  } finally {
    await tree.stop();
  }
}

async function restartTimes(module) {
  const tree = await start(supervisor({ id: 'root', intensity: 1000, children: [worker({ id: 'w', module })] }), { logger: false });
  const spans = [];
  try {
    for (let i = 0; i < RESTARTS; i++) {
      const pid = tree.whichChildren()[0].pid;
      const exited = new Promise((resolve) => tree.once('child_exited', () => resolve(performance.now())));
      const started = new Promise((resolve) => {
        const onStart = (e) => {
          if (e.pid === pid) return;
          tree.off('child_started', onStart);
          resolve(performance.now());
        };
        tree.on('child_started', onStart);
      });
      process.kill(pid, 'SIGKILL');
      const [a, b] = await Promise.all([exited, started]);
      spans.push(b - a);
      await sleep(200);
    }
    return median(spans);
  } finally {
    await tree.stop();
  }
}

const configs = [
  ['quiet', { PRINT_RATE: '0' }],
  ['1,000 text lines/s', { PRINT_RATE: '1000' }],
  ['1,000 JSON lines/s', { PRINT_RATE: '1000', PRINT_JSON: '1' }],
  ['20,000 lines/s (over the limit)', { PRINT_RATE: '20000' }],
];
const cpu = new Map(configs.map(([name]) => [name, []]));
const kept = new Map(configs.map(([name]) => [name, []]));
{
  const js = join(here, 'printer.mjs');
  const ts = join(here, 'printer.ts');
  const ratios = [];
  const jsTimes = [];
  const tsTimes = [];
  for (let round = 1; round <= ROUNDS; round++) {
    for (const [name, env] of configs) {
      process.stderr.write(`round ${round}: ${name}\n`);
      const result = await cpuWhilePrinting(env);
      cpu.get(name).push(result.cpuPercent);
      kept.get(name).push(result.kept);
    }
    process.stderr.write(`round ${round}: restarts .js and .ts\n`);
    const a = await restartTimes(js);
    const b = await restartTimes(ts);
    jsTimes.push(a);
    tsTimes.push(b);
    ratios.push(b / a);
  }
  console.log('| worker prints | supervisor CPU (% of a core) | lines kept per second |');
  console.log('| :--- | ---: | ---: |');
  for (const [name] of configs) console.log(`| ${name} | ${median(cpu.get(name)).toFixed(1)} | ${Math.round(median(kept.get(name)))} |`);
  console.log('');
  console.log('| module | exit → ready, median of round medians | ratio .ts / .js, median of rounds |');
  console.log('| :--- | ---: | ---: |');
  console.log(`| .js | ${median(jsTimes).toFixed(0)} ms | |`);
  console.log(`| .ts (tsx) | ${median(tsTimes).toFixed(0)} ms | ${median(ratios).toFixed(2)}× |`);
}
