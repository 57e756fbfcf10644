// The load generator of bench/profile, run as its own process (outside the server trees it measures). Prints one
// JSON line: { total, rps, p99, errors }.
// Usage: node bench/profile/load.js <port> <seconds> <connections> [keep-alive|close]
// keep-alive: autocannon, pipelining 1. close: as many clients, each sending GET after GET, every one on a new
// connection (the chaos bench's shape), so what a server pays per connection shows.
import http from 'node:http';
import autocannon from 'autocannon';

const [port, seconds, connections] = process.argv.slice(2).map(Number);
const mode = process.argv[5] ?? 'keep-alive';

async function keepAlive() {
  const r = await autocannon({ url: `http://127.0.0.1:${port}/`, connections, pipelining: 1, duration: seconds });
  return { total: r.requests.total, rps: r.requests.average, p99: r.latency.p99, errors: r.errors + r.timeouts + r.non2xx };
}

async function newConnectionEach() {
  const end = performance.now() + seconds * 1000;
  let total = 0;
  let errors = 0;
  const one = () =>
    new Promise((resolve) => {
      const req = http.get({ host: '127.0.0.1', port, path: '/', agent: false }, (res) => {
        res.resume();
        res.once('end', () => resolve(res.statusCode === 200));
      });
      req.once('error', () => resolve(false));
    });
  const client = async () => {
    while (performance.now() < end) {
      if (await one()) total++;
      else errors++;
    }
  };
  await Promise.all(Array.from({ length: connections }, client));
  return { total, rps: total / seconds, p99: NaN, errors };
}

const result = mode === 'close' ? await newConnectionEach() : await keepAlive();
process.stdout.write(`${JSON.stringify(result)}\n`);
