// The one HTTP application every configuration serves: arbor workers, cluster workers and the plain process
// all build their server with createApp(), so the configurations differ only in how connections reach it.
import http from 'node:http';

/** A small JSON answer, the shape of a typical API endpoint. */
export function handler(req, res) {
  const body = JSON.stringify({ ok: true, pid: process.pid, path: req.url });
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

/** The least an app can do, for measuring what the runtime around it costs (bench/profile). */
function hi(_req, res) {
  res.end('hi');
}

export function createApp() {
  return http.createServer(process.env.BENCH_APP === 'hi' ? hi : handler);
}
