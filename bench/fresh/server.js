// A node HTTP server as the chaos bench's app is (`res.end(...)`), started fresh for each measurement. With
// WARM_UP=<n> it first answers n requests of its own client on a throwaway server (as a hot spare could, to get
// node's HTTP code compiled and optimised before it serves), and reports what that cost in CPU.
import http from 'node:http';

const warmUps = Number(process.env.WARM_UP ?? 0);
const before = process.cpuUsage();
if (warmUps > 0) {
  const probe = http.createServer((_req, res) => res.end('warm'));
  await new Promise((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address();
  let left = warmUps;
  const client = async () => {
    while (left-- > 0) {
      await new Promise((resolve) =>
        http
          .get({ host: '127.0.0.1', port, agent: false, headers: { connection: 'close' } }, (res) => res.resume().on('end', resolve))
          .on('error', resolve),
      );
    }
  };
  await Promise.all(Array.from({ length: 4 }, client));
  probe.close();
}
const used = process.cpuUsage(before);
const server = http.createServer((_req, res) => res.end('hi'));
server.listen(0, '127.0.0.1', () =>
  process.send({ port: server.address().port, warmUpCpuMs: (used.user + used.system) / 1000 }),
);
