// How fast a freshly started node process answers, against the same server once warm: what bounds any restarting
// system's goodput when faults come every few hundred ms (bench/README.md, "Goodput under chaos: the ceiling").
// 16 clients, a new connection per request (the chaos bench's load), in this process; the server in a fresh child.
//
//   node bench/fresh/run.js [window ms=333] [samples=8] [warm-ups=0,50,200,1000,2000]
//   FRESH_EXEC_ARGV='--always-sparkplug' node bench/fresh/run.js …   (node/V8 flags for the fresh servers only)
import { fork } from 'node:child_process';
import http from 'node:http';
import { fileURLToPath } from 'node:url';

const windowMs = Number(process.argv[2] ?? 333);
const samples = Number(process.argv[3] ?? 8);
const warmUps = (process.argv[4] ?? '0,50,200,1000,2000').split(',').map(Number);
const SERVER = fileURLToPath(new URL('./server.js', import.meta.url));
const freshExecArgv = (process.env.FRESH_EXEC_ARGV ?? '').split(' ').filter(Boolean);

function startServer(warmUp, execArgv = []) {
  const env = { ...process.env, WARM_UP: String(warmUp) };
  const child = fork(SERVER, [], { env, execArgv, stdio: 'inherit' });
  return new Promise((resolve, reject) => {
    child.once('message', (m) => resolve({ child, ...m }));
    child.once('exit', (code) => reject(new Error(`server exited (${code}) before listening`)));
  });
}

/** Answers within `ms` from 16 clients sending GET after GET, each on a new connection. */
async function answersWithin(port, ms) {
  let answers = 0;
  const end = performance.now() + ms;
  const client = async () => {
    while (performance.now() < end) {
      await new Promise((resolve) =>
        http
          .get({ host: '127.0.0.1', port, agent: false, headers: { connection: 'close' } }, (res) =>
            res.resume().on('end', () => {
              answers += 1;
              resolve();
            }),
          )
          .on('error', resolve),
      );
    }
  };
  await Promise.all(Array.from({ length: 16 }, client));
  return answers;
}

const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];

// This process's own client code warms first, so that only the server's state differs between the measurements.
{
  const { child, port } = await startServer(0);
  await answersWithin(port, 1500);
  child.kill('SIGKILL');
}
const warm = await (async () => {
  const { child, port } = await startServer(0);
  await answersWithin(port, 2000);
  const counts = [];
  for (let i = 0; i < samples; i++) counts.push(await answersWithin(port, windowMs));
  child.kill('SIGKILL');
  return median(counts);
})();
const rows = [];
for (const warmUp of warmUps) {
  const counts = [];
  const cpu = [];
  for (let i = 0; i < samples; i++) {
    const { child, port, warmUpCpuMs } = await startServer(warmUp, freshExecArgv);
    cpu.push(warmUpCpuMs);
    counts.push(await answersWithin(port, windowMs));
    child.kill('SIGKILL');
  }
  rows.push(`| ${warmUp} | ${median(counts)} | ${(median(counts) / warm).toFixed(2)}× | ${median(cpu).toFixed(1)} |`);
}
process.stdout.write(
  `Answers in the first ${windowMs} ms of a fresh server${freshExecArgv.length ? ` (${freshExecArgv.join(' ')})` : ''}, ` +
    `median of ${samples}; the same server warm, without those flags: ${warm}\n\n` +
    `| warm-up requests before serving | answers | × warm | warm-up CPU ms |\n| ---: | ---: | ---: | ---: |\n${rows.join('\n')}\n`,
);
