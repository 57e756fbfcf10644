// bench:light — light children at scale, beside real OTP when `escript` is on PATH (README "Light children").
//   tasks:   10,000 task children started one by one (time, heap per child); 1,000 of them crashing at once, timed
//            until all run again; side by side with OTP 25's simple_one_for_one of gen_servers (otp.escript).
//   scale:   1,000 / 10,000 / 100,000 tasks: start time and heap per child, to see the cost grow linearly.
//   threads: 100 thread children: start time, RSS per thread, crash → restarted.
//   hosts:   BENCH_HOSTS_N (1000) tasks started one by one into BENCH_HOSTS_H (2) host processes (light/hosts.js):
//            per start, RSS per task in a host; one host SIGKILLed → its tasks all running again.
// Each measurement runs in a fresh process. Env: BENCH_ROUNDS (default 3), BENCH_LIGHT_MAX (largest scale step,
// default 100000), BENCH_LIGHT_TIMEOUT (s per measurement, default 300), BENCH_LIGHT_N / BENCH_LIGHT_K (10000 / 1000).
// Writes bench/light/results.json.
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { machine } from '../lib/machine.js';
import { fmt, median } from '../lib/stats.js';
import { table } from '../lib/table.js';

const here = (file) => fileURLToPath(new URL(file, import.meta.url));
const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
const maxScale = Number(process.env.BENCH_LIGHT_MAX ?? 100_000);
const timeoutS = Number(process.env.BENCH_LIGHT_TIMEOUT ?? 300);
const N = Number(process.env.BENCH_LIGHT_N ?? 10_000);
const K = Number(process.env.BENCH_LIGHT_K ?? 1_000);

/** Runs one measurement; its JSON line, or { failed: why }. */
function measure(command, args) {
  const result = spawnSync(command, args, { encoding: 'utf8', timeout: timeoutS * 1000, killSignal: 'SIGKILL', maxBuffer: 1 << 20 });
  if (result.error?.code === 'ETIMEDOUT' || result.signal === 'SIGKILL') return { failed: `did not finish within ${timeoutS} s` };
  if (result.error) return { failed: result.error.message };
  const line = result.stdout.trim().split('\n').findLast((l) => l.startsWith('{'));
  if (result.status !== 0 || line === undefined) return { failed: `exit ${result.status}: ${result.stderr.trim().split('\n').slice(-3).join(' ')}` };
  return JSON.parse(line);
}

const escript = spawnSync('sh', ['-c', 'command -v escript'], { encoding: 'utf8' }).stdout.trim();
const otpSkipped = escript === '' ? 'escript is not on PATH (install Erlang/OTP, e.g. Debian erlang-nox)' : undefined;
const arbor = (n, k) => measure(process.execPath, ['--expose-gc', here('./tasks.js'), String(n), String(k)]);
const otp = (n, k) => (otpSkipped ? { failed: otpSkipped } : measure(escript, [here('./otp.escript'), String(n), String(k)]));

console.log(`bench:light — ${rounds} rounds; the machine: ${JSON.stringify(machine())}`);
const paired = [];
for (let r = 1; r <= rounds; r++) {
  // Alternating which goes first, so a load change during the round falls on both.
  let a;
  let o;
  if (r % 2) {
    a = arbor(N, K);
    o = otp(N, K);
  } else {
    o = otp(N, K);
    a = arbor(N, K);
  }
  paired.push({ arbor: a, otp: o });
  console.log(`round ${r}: arbor ${JSON.stringify(a)}  otp ${JSON.stringify(o)}`);
}

const scale = [];
for (const n of [1_000, 10_000, 100_000].filter((x) => x <= maxScale)) {
  const a = arbor(n, 0);
  const o = otp(n, 0);
  scale.push({ n, arbor: a, otp: o });
  console.log(`scale ${n}: arbor ${JSON.stringify(a)}  otp ${JSON.stringify(o)}`);
}

// The task layer alone (TaskHandles without a supervisor): what the light child costs apart from the supervisor.
const layer = measure(process.execPath, ['--expose-gc', here('./handles.js'), String(N), String(K)]);
console.log(`task layer alone: ${JSON.stringify(layer)}`);

const threads = measure(process.execPath, [here('./threads.js'), '100', '10']);
console.log(`threads: ${JSON.stringify(threads)}`);

const hosts = measure(process.execPath, [here('./hosts.js'), process.env.BENCH_HOSTS_N ?? '1000', process.env.BENCH_HOSTS_H ?? '2']);
console.log(`hosts: ${JSON.stringify(hosts)}`);

const ok = (x) => x && x.failed === undefined;
const med = (pick) => median(paired.map(pick).filter(Number.isFinite));
const ratio = (field) => med((p) => (ok(p.arbor) && ok(p.otp) ? p.arbor[field] / p.otp[field] : NaN));
const startRatio = ratio('startMs');
const restartRatio = ratio('restartMs');
const perChildKiB = med((p) => (ok(p.arbor) ? p.arbor.bytesPerChild / 1024 : NaN));
const cell = (x, field, digits = 0, scaleBy = 1) => (ok(x) ? fmt(x[field] / scaleBy, digits) : x.failed);

const count = (x) => x.toLocaleString('en');
const medOf = (side, field) => med((p) => (ok(p[side]) ? p[side][field] : NaN));
const otpCell = (field, digits = 0) => otpSkipped ? 'skipped' : fmt(medOf('otp', field), digits);
console.log(`\n${count(N)} task children (medians of ${rounds} rounds; ratio = median of per-round arbor/OTP; CPU = the process's own CPU time)\n`);
console.log(table(['', 'arbor tasks', otpSkipped ? 'OTP (skipped)' : 'OTP gen_server', 'ratio', 'task layer alone'], [
  [`start ${count(N)} one by one: wall ms`, fmt(medOf('arbor', 'startMs'), 0), otpCell('startMs'), fmt(startRatio, 1), cell(layer, 'startMs')],
  [`start ${count(N)} one by one: CPU ms`, fmt(medOf('arbor', 'startCpuMs'), 0), otpCell('startCpuMs'), fmt(ratio('startCpuMs'), 1), cell(layer, 'startCpuMs')],
  ['memory per child, KiB (V8 heap / BEAM processes)', fmt(perChildKiB, 2), otpSkipped ? 'skipped' : fmt(medOf('otp', 'bytesPerChild') / 1024, 2), '', cell(layer, 'bytesPerChild', 2, 1024)],
  [`${count(K)} crash at once → all running: wall ms`, fmt(medOf('arbor', 'restartMs'), 0), otpCell('restartMs'), fmt(restartRatio, 1), ok(layer) ? `${fmt(layer.exitMs, 0)} (exits reported)` : layer.failed],
  [`${count(K)} crash at once → all running: CPU ms`, fmt(medOf('arbor', 'restartCpuMs'), 0), otpCell('restartCpuMs'), fmt(ratio('restartCpuMs'), 1), ok(layer) ? fmt(layer.exitCpuMs, 0) : layer.failed],
]));

console.log('\nScale: start N tasks one by one (one run each)\n');
const perChild = (x) => (ok(x) ? x.startMs / x.n : NaN);
console.log(table(['N', 'arbor start (ms)', 'arbor µs / child', 'arbor KiB / child', 'OTP start (ms)', 'OTP µs / child'], scale.map((s) => [
  s.n.toLocaleString('en'), cell(s.arbor, 'startMs'), fmt(perChild(s.arbor) * 1000, 0), cell(s.arbor, 'bytesPerChild', 2, 1024),
  cell(s.otp, 'startMs'), fmt(perChild(s.otp) * 1000, 0),
])));
const first = scale[0];
const last = scale[scale.length - 1];
const growth = perChild(last?.arbor) / perChild(first?.arbor);

console.log('\n100 thread children\n');
console.log(table(['', 'value'], [
  ['start 100 threads (ms)', cell(threads, 'startMs')],
  ['RSS per thread (MiB)', cell(threads, 'rssPerThread', 1, 2 ** 20)],
  ['crash → restarted, median of 10 (ms)', ok(threads) ? fmt(median(threads.restartMs), 0) : threads.failed],
]));

if (ok(hosts)) {
  console.log(`\n${count(hosts.tasks)} tasks in ${hosts.hosts} host processes\n`);
  console.log(table(['', 'value'], [
    [`start ${count(hosts.tasks - hosts.hosts)} one by one into warm hosts: ms per task`, fmt(hosts.startPerTaskUs / 1000, 2)],
    ['RSS per task in a host (KiB)', fmt(hosts.rssPerTaskBytes / 1024, 1)],
    [`one host SIGKILLed → its ${count(hosts.hostDownTasks)} tasks running again (ms)`, fmt(hosts.hostDownToAllRunningMs, 0)],
  ]));
} else console.log(`\ntask hosts: ${hosts.failed}`);

const verdict = (pass) => (pass ? 'met' : 'MISSED');
const targets = [
  [`${count(N)} tasks start in ≤ 2× OTP (wall; CPU ${fmt(ratio('startCpuMs'), 1)}×)`, otpSkipped ? 'n/a (no OTP)' : `${fmt(startRatio, 2)}×`, otpSkipped ? 'n/a' : verdict(startRatio <= 2)],
  ['≤ 6 KiB per task child', `${fmt(perChildKiB, 2)} KiB`, verdict(perChildKiB <= 6)],
  [`${count(K)} crashed → all running in ≤ 2× OTP (wall; CPU ${fmt(ratio('restartCpuMs'), 1)}×)`, otpSkipped ? 'n/a (no OTP)' : `${fmt(restartRatio, 2)}×`, otpSkipped ? 'n/a' : verdict(restartRatio <= 2)],
  [`cost per child grows linearly (${first?.n ?? '–'} → ${last?.n ?? '–'}: ≤ 1.5×)`, `${fmt(growth, 2)}×`, verdict(growth <= 1.5)],
];
console.log('\nTargets\n');
console.log(table(['target', 'measured', ''], targets));
if (otpSkipped) console.log(`\nOTP column skipped: ${otpSkipped}`);

writeFileSync(here('./results.json'), `${JSON.stringify({ at: new Date().toISOString(), machine: machine(), rounds, paired, scale, layer, threads, hosts, targets }, null, 2)}\n`);
