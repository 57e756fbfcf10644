// printer.mjs in TypeScript, to measure what starting a worker through tsx costs (bench/output/run.js).
import { onShutdown, ready } from 'arbor-otp/worker';

const rate: number = Number(process.env.PRINT_RATE ?? 0);
let n = 0;
let owed = 0;
const timer: NodeJS.Timeout = setInterval(() => {
  owed += rate / 100;
  for (; owed >= 1; owed -= 1) console.log(`GET /api/items/${++n} 200 3 ms - request served by the worker, padded to about 100 bytes`);
}, 10);
onShutdown(() => clearInterval(timer));
ready();
