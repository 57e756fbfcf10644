// A worker that prints PRINT_RATE lines a second (in batches every 10 ms) on stdout, as text or as pino-style JSON
// (PRINT_JSON=1), each about 100 bytes, until it is stopped.
import { onShutdown, ready } from 'arbor-otp/worker';

const rate = Number(process.env.PRINT_RATE ?? 0);
const json = process.env.PRINT_JSON === '1';
let n = 0;
let owed = 0;
const timer = setInterval(() => {
  owed += rate / 100;
  for (; owed >= 1; owed -= 1) {
    n += 1;
    if (json) console.log(JSON.stringify({ level: 30, time: Date.now(), msg: 'request done', n, path: '/api/items', ms: 3 }));
    else console.log(`GET /api/items/${n} 200 3 ms - request served by the worker, padded to about 100 bytes`);
  }
}, 10);
onShutdown(() => clearInterval(timer));
ready();
