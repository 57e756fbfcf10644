// HTTP load for the reload bench: client loops sending back to back, half on a kept-alive connection each, half on
// a new connection per request. Every request is kept with its start, end and outcome.
import http from 'node:http';

const TIMEOUT_MS = 5000;

/** ok, refused, reset, timeout, 5xx or other. */
function classify(error) {
  const code = error?.code;
  if (code === 'ECONNREFUSED') return 'refused';
  if (code === 'ECONNRESET' || code === 'EPIPE') return 'reset';
  if (code === 'TIMEOUT') return 'timeout';
  return 'other';
}

function request(port, agent) {
  const start = performance.now();
  return new Promise((resolve) => {
    const done = (outcome, body) => resolve({ start, end: performance.now(), outcome, body });
    const req = http.get({ host: '127.0.0.1', port, path: '/', agent, timeout: TIMEOUT_MS }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk) => (body += chunk));
      res.on('end', () => done(res.statusCode >= 500 ? '5xx' : res.statusCode === 200 ? 'ok' : 'other', body));
      res.on('error', (error) => done(classify(error)));
    });
    req.on('timeout', () => req.destroy(Object.assign(new Error('timeout'), { code: 'TIMEOUT' })));
    req.on('error', (error) => done(classify(error)));
  });
}

/** Starts `clients` loops (even: keep-alive, odd: a new connection each); stop() resolves with every request. */
export function startLoad(port, clients) {
  const results = [];
  let running = true;
  const agents = [];
  const loops = Array.from({ length: clients }, async (_, i) => {
    const agent = i % 2 === 0 ? new http.Agent({ keepAlive: true, maxSockets: 1 }) : false;
    if (agent) agents.push(agent);
    while (running) {
      const result = await request(port, agent);
      results.push({ ...result, keepAlive: agent !== false });
      // A failed request is not retried at once in a tight loop: clients back off a little.
      if (result.outcome !== 'ok') await new Promise((r) => setTimeout(r, 10));
    }
  });
  return {
    async stop() {
      running = false;
      await Promise.all(loops);
      for (const agent of agents) agent.destroy();
      return results;
    },
  };
}

/** One request on a new connection: the version that answered it, or the failure. */
export async function versionServed(port) {
  const result = await request(port, false);
  return result.outcome === 'ok' ? result.body.split(' ')[0] : `(${result.outcome})`;
}
