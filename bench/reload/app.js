// The one HTTP app every configuration of the reload bench serves, deployed (copied, with its version and the
// path of arbor's runtime filled in) into a temp dir that each reload rewrites. Every request takes 40–120 ms, so
// requests are in flight at every reload; the answer is one `res.end(string)`, as most handlers write it. Under arbor it serves the listener's socket through serve() (which drains
// it on a stop); under node cluster and PM2 it listens on 127.0.0.1:$PORT with the graceful stop their docs show:
// on SIGINT/SIGTERM close the server, then exit.
import http from 'node:http';

const VERSION = '__VERSION__';

const server = http.createServer((req, res) => {
  setTimeout(() => res.end(`${VERSION} ${process.pid}\n`), 40 + Math.floor(Math.random() * 81));
});

if (process.env.ARBOR_WORKER === '1') {
  const { serve } = await import('__ARBOR_WORKER__');
  await serve(server);
} else {
  const stop = () => server.close(() => process.exit(0));
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  server.listen(Number(process.env.PORT), '127.0.0.1', () => process.send?.('ready'));
}
