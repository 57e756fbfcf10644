// The one HTTP app every configuration of the chaos bench serves. Under arbor it serves the listener's socket
// (arbor-otp/worker); under node cluster and PM2 it listens on 127.0.0.1:$PORT and the cluster primary shares it.
import http from 'node:http';

const server = http.createServer((req, res) => {
  const body = JSON.stringify({ ok: true, pid: process.pid });
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
});

if (process.env.ARBOR_WORKER === '1') {
  // The `throw` fault arrives over IPC (arbor:chaos), honoured because the spec sets ARBOR_CHAOS=1.
  const { serve } = await import('arbor-otp/worker');
  await serve(server);
} else {
  // cluster and PM2 have no fault channel of their own: the bench asks for the uncaught exception with SIGUSR2.
  process.on('SIGUSR2', () =>
    setImmediate(() => {
      throw new Error('chaos: injected uncaught exception');
    }),
  );
  server.listen(Number(process.env.PORT), '127.0.0.1');
}
