// Self time per function and per category from V8 .cpuprofile files (node --cpu-prof), divided by the requests the
// profiled processes answered: µs of one worker's CPU per request, function by function.
// Usage as a script: node bench/profile/analyze.js <requests> <file.cpuprofile>...
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** Which part of the process a frame belongs to, by its script. */
export function categoryOf(node) {
  const { url, functionName } = node.callFrame;
  if (url === '') {
    if (functionName === '(garbage collector)') return 'gc';
    if (functionName === '(idle)') return 'idle';
    if (functionName === '(program)') return 'program (native, not attributed)';
    return 'native';
  }
  if (url.includes('/dist/') || url.includes('arbor-otp')) return 'arbor runtime';
  if (url.includes('/bench/')) return 'app';
  const m = /^node:internal\/([a-z_]+)/.exec(url) ?? /^node:([a-z_]+)/.exec(url);
  if (m) {
    const mod = m[1];
    if (['http', 'http_parser', '_http_server', '_http_common', '_http_outgoing', '_http_incoming'].includes(mod)) return 'node http';
    if (['net', 'stream_base_commons', 'streams', 'stream', 'dns'].includes(mod)) return 'node net/streams';
    if (['child_process', 'cluster'].includes(mod)) return 'node ipc/cluster';
    if (['timers', 'process', 'async_hooks', 'event_target', 'events'].includes(mod)) return `node ${mod}`;
    return `node ${mod}`;
  }
  return 'other';
}

/** { functions: Map<key, µs>, categories: Map<name, µs>, totalMicros } summed over the profiles. */
export function summarize(paths) {
  const functions = new Map();
  const categories = new Map();
  let totalMicros = 0;
  for (const path of paths) {
    const profile = JSON.parse(readFileSync(path, 'utf8'));
    const byId = new Map(profile.nodes.map((n) => [n.id, n]));
    const self = new Map();
    for (let i = 0; i < profile.samples.length; i++) {
      const id = profile.samples[i];
      self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i + 1] ?? 0));
    }
    for (const [id, micros] of self) {
      const node = byId.get(id);
      const category = categoryOf(node);
      if (category === 'idle') continue;
      const { functionName, url, lineNumber } = node.callFrame;
      const where = url ? `${url.replace(/^.*\/(dist|bench|node_modules)\//, '$1/')}:${lineNumber + 1}` : '';
      const key = `${functionName || '(anonymous)'} ${where}`.trim();
      functions.set(key, (functions.get(key) ?? 0) + micros);
      categories.set(category, (categories.get(category) ?? 0) + micros);
      totalMicros += micros;
    }
  }
  return { functions, categories, totalMicros };
}

export function report({ functions, categories, totalMicros }, requests, top = 25) {
  const per = (us) => (us / requests).toFixed(3);
  const lines = [`busy CPU (not idle): ${per(totalMicros)} µs/request over ${requests} requests`, '', 'category | µs/request', ':--- | ---:'];
  for (const [k, v] of [...categories].sort((a, b) => b[1] - a[1])) lines.push(`${k} | ${per(v)}`);
  lines.push('', 'function | µs/request', ':--- | ---:');
  for (const [k, v] of [...functions].sort((a, b) => b[1] - a[1]).slice(0, top)) lines.push(`${k} | ${per(v)}`);
  return lines.join('\n');
}

/** Two summaries side by side, µs per request each, the largest differences first. */
export function compare(a, requestsA, b, requestsB, top = 30) {
  const rows = (ma, mb) => {
    const keys = new Set([...ma.keys(), ...mb.keys()]);
    return [...keys]
      .map((k) => [k, (ma.get(k) ?? 0) / requestsA, (mb.get(k) ?? 0) / requestsB])
      .sort((x, y) => Math.abs(y[1] - y[2]) - Math.abs(x[1] - x[2]));
  };
  const f = (x) => x.toFixed(3);
  const lines = [`total busy | ${f(a.totalMicros / requestsA)} | ${f(b.totalMicros / requestsB)} | ${f(a.totalMicros / requestsA - b.totalMicros / requestsB)}`];
  lines.push('', 'category | A µs/req | B µs/req | A − B', ':--- | ---: | ---: | ---:');
  for (const [k, x, y] of rows(a.categories, b.categories)) lines.push(`${k} | ${f(x)} | ${f(y)} | ${f(x - y)}`);
  lines.push('', 'function | A µs/req | B µs/req | A − B', ':--- | ---: | ---: | ---:');
  for (const [k, x, y] of rows(a.functions, b.functions).slice(0, top)) lines.push(`${k} | ${f(x)} | ${f(y)} | ${f(x - y)}`);
  return lines.join('\n');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [requests, ...paths] = process.argv.slice(2);
  console.log(report(summarize(paths), Number(requests), 40));
}
