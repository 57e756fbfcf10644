// HTTP load for the reload bench: client loops sending back to back, 8 on keep-alive connections and 8 on a new
// connection per request, in one of three client shapes. Every request is kept with its start, end and outcome.
// - `shared-agent`: the 8 keep-alive loops share one `http.Agent({ keepAlive: true, maxSockets: 8 })`;
// - `agent-each`: each keep-alive loop has its own `http.Agent({ keepAlive: true, maxSockets: 1 })`;
// - `busy`: as agent-each, in a client whose event loop is blocked 300 ms out of every 600 ms (a client doing
//   work of its own: it reads a close of the server only after it has sent its next request).
import http from 'node:http';

const TIMEOUT_MS = 5000;
export const CLIENT_SHAPES = ['shared-agent', 'agent-each', 'busy'];
const KEEP_ALIVE_LOOPS = 8;
const NEW_CONNECTION_LOOPS = 8;
const BUSY = { blockMs: 300, everyMs: 600 };

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

/** Starts the loops of one client shape; stop() resolves with every request. */
export function startLoad(port, shape = 'agent-each') {
  if (!CLIENT_SHAPES.includes(shape)) throw new Error(`unknown client shape ${shape} (known: ${CLIENT_SHAPES.join(', ')})`);
  const results = [];
  let running = true;
  const shared = shape === 'shared-agent' ? new http.Agent({ keepAlive: true, maxSockets: KEEP_ALIVE_LOOPS }) : undefined;
  const agents = shared ? [shared] : [];
  const loop = async (agent) => {
    while (running) {
      const result = await request(port, agent);
      results.push({ ...result, keepAlive: agent !== false });
      // A failed request is not retried at once in a tight loop: clients back off a little.
      if (result.outcome !== 'ok') await new Promise((r) => setTimeout(r, 10));
    }
  };
  const loops = [];
  for (let i = 0; i < KEEP_ALIVE_LOOPS; i++) {
    const agent = shared ?? new http.Agent({ keepAlive: true, maxSockets: 1 });
    if (!shared) agents.push(agent);
    loops.push(loop(agent));
  }
  for (let i = 0; i < NEW_CONNECTION_LOOPS; i++) loops.push(loop(false));
  const busy = shape === 'busy'
    ? setInterval(() => {
      const until = performance.now() + BUSY.blockMs;
      while (performance.now() < until);
    }, BUSY.everyMs - BUSY.blockMs)
    : undefined;
  return {
    async stop() {
      running = false;
      clearInterval(busy);
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
