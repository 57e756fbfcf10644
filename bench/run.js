// `npm run bench`: runs the three measurements, prints markdown tables on stdout (progress on stderr) and writes
// bench/results.json. Every configuration runs in its own process group, and every group is reaped at the end.
import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { leftovers, reapAll } from './lib/launch.js';
import { machine } from './lib/machine.js';
import { readOptions } from './lib/options.js';
import { render, targets } from './lib/report.js';
import { runCalls } from './suites/calls.js';
import { runCrash } from './suites/crash.js';
import { runRefused } from './suites/refused.js';
import { runSpares } from './suites/spares.js';
import { runThroughput } from './suites/throughput.js';

// BENCH_RESULTS: where to write, so a run of one section (npm run bench:calls) leaves the full results alone.
const RESULTS_FILE = process.env.BENCH_RESULTS ? resolve(process.env.BENCH_RESULTS) : fileURLToPath(new URL('./results.json', import.meta.url));
const started = Date.now();
const log = (line) => process.stderr.write(`[bench ${((Date.now() - started) / 1000).toFixed(0).padStart(3)}s] ${line}\n`);

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => {
    log(`${signal}: stopping every configuration`);
    reapAll();
    process.exit(130);
  });
}

const NOTES = [
  'Every configuration serves the same app (bench/worker-app.js) on 127.0.0.1 and runs in its own process tree ' +
    '(a launcher in bench/configs/ started in a new process group), started fresh for each measurement.',
  'node cluster configurations are a primary that forks the workers and re-forks on every `exit`, as users write it; ' +
    'the port is chosen up front (cluster would pick a new random port after its last worker died).',
  'Timestamps are performance.timeOrigin + performance.now() in each process (sub-millisecond, comparable across ' +
    'processes of one machine).',
  'The machine is noisy (±50% between runs): compare ratios taken within a round rather than absolute numbers.',
];

async function main() {
  const opts = readOptions();
  const results = {
    machine: machine(),
    date: new Date().toISOString(),
    options: opts,
    throughput: undefined,
    crash: undefined,
    refused: undefined,
    spares: undefined,
    calls: undefined,
    targets: [],
    notes: [...NOTES],
  };
  try {
    if (opts.sections.includes('throughput')) results.throughput = await runThroughput(opts, log);
    if (opts.sections.includes('crash')) results.crash = await runCrash(opts, log);
    if (opts.sections.includes('refused')) results.refused = await runRefused(opts, log);
    if (opts.sections.includes('spares')) results.spares = await runSpares(opts, log);
    if (opts.sections.includes('calls')) results.calls = await runCalls(opts, log);
  } finally {
    const left = leftovers();
    reapAll();
    if (left.length) {
      results.notes.push(`Process groups or workers still alive at the end and SIGKILLed: ${left.join(', ')}.`);
      log(`WARNING: process groups or workers left alive, SIGKILLed: ${left.join(', ')}`);
    }
  }
  results.targets = targets(results);
  const missed = results.targets.filter((t) => !t.met);
  if (missed.length) results.notes.push(`Targets missed: ${missed.map((t) => `${t.check} (${t.value}, target ${t.target})`).join('; ')}.`);
  results.durationSeconds = Math.round((Date.now() - started) / 1000);
  results.notes.push(`Whole bench took ${results.durationSeconds} s.`);
  writeFileSync(RESULTS_FILE, `${JSON.stringify(results, null, 2)}\n`);
  process.stdout.write(`${render(results, opts)}\n`);
  log(`results written to ${RESULTS_FILE}`);
}

main().then(
  () => process.exit(0),
  (err) => {
    log(`failed: ${err?.stack ?? err}`);
    reapAll();
    process.exit(1);
  },
);
