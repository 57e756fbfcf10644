// CPU profiles that count CPU time only: `perf record -e cpu-clock` samples a process only while it runs on a CPU,
// kernel included (the socket syscalls are part of what a request costs), where V8's own --cpu-prof samples by
// the wall clock and charges the time a runnable process waits for a CPU to whatever it was running: on a shared
// machine that time dwarfs the rest. JavaScript frames are named from node's --perf-basic-prof maps.
import { execFile, spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { promisify } from 'node:util';

const run = promisify(execFile);
export const PERF_HZ = 1999;

/** True when `perf record -e cpu-clock` works here (perf installed, perf_event_paranoid allows it). */
export async function perfAvailable() {
  try {
    await run('perf', ['record', '-q', '-e', 'cpu-clock', '-o', '/dev/null', '--', 'true']);
    return true;
  } catch {
    return false;
  }
}

/** Samples `pids` until stop() resolves; then `report()` gives { rows: [{ dso, symbol, samples }], seconds }. */
export function record(pids, file) {
  const child = spawn('perf', ['record', '-q', '-e', 'cpu-clock', '-F', String(PERF_HZ), '-o', file, '-p', pids.join(',')], {
    stdio: 'ignore',
  });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  return {
    async stop() {
      child.kill('SIGINT');
      await exited;
    },
  };
}

/** Samples per (shared object, symbol), from a perf.data file; removes the file. */
export async function samplesOf(file) {
  const { stdout } = await run('perf', ['report', '-i', file, '--stdio', '--no-children', '-n', '--sort', 'dso,sym'], {
    maxBuffer: 64 * 1024 * 1024,
  });
  rmSync(file, { force: true });
  const rows = [];
  for (const line of stdout.split('\n')) {
    // `  12.34%   567  node   [.] symbol`; JIT code's object is `[JIT] tid 1234`.
    const m = /^\s+[\d.]+%\s+(\d+)\s+(.+?)\s+\[.\]\s+(.*?)\s*$/.exec(line);
    if (m) rows.push({ samples: Number(m[1]), dso: m[2], symbol: m[3] });
  }
  return rows;
}

/** Which part of the process a sample belongs to. */
export function categoryOfSample({ dso, symbol }) {
  if (dso.includes('kernel')) return 'kernel (syscalls, TCP, scheduler)';
  if (dso.startsWith('[JIT]') || /^(JS|LazyCompile|Function):/.test(symbol)) {
    if (/\/dist\//.test(symbol) || /arbor-otp/.test(symbol)) return 'JS: arbor runtime';
    if (/\/bench\//.test(symbol)) return 'JS: app';
    if (/node:_http|node:http/.test(symbol)) return 'JS: node http';
    if (/node:net|stream/.test(symbol)) return 'JS: node net/streams';
    return 'JS: other';
  }
  if (dso === 'node') {
    if (/^Builtins_/.test(symbol)) return 'V8 builtins (running JS)';
    if (/compiler::|Compiler|Baseline|maglev|Turbofan/i.test(symbol)) return 'V8 JIT compiler';
    if (/Heap|Scaveng|GC|Marking|Sweep|Evacuat/.test(symbol)) return 'V8 GC';
    if (/llhttp|Parser/.test(symbol)) return 'http parser (llhttp)';
    if (/^uv_|^uv__/.test(symbol)) return 'libuv';
    if (/^node::/.test(symbol)) return 'node C++';
    return 'V8 other';
  }
  if (dso.startsWith('libc') || dso.startsWith('ld-') || dso.startsWith('libstdc')) return 'libc';
  return `other (${dso})`;
}

/** Cleans node's perf map files of processes that are gone. */
export function removePerfMaps(pids) {
  for (const pid of pids) rmSync(`/tmp/perf-${pid}.map`, { force: true });
}
