// The HTTP app of the watch bench, as a developer edits it: each edit rewrites this file with a new version.
// Every request takes 20–60 ms. Under arbor it serves the listener's socket through serve(); under nodemon it
// listens on 127.0.0.1:$PORT itself, with the graceful stop nodemon's docs suggest (close the server, then exit).
import http from 'node:http';

const VERSION = '__VERSION__';

const server = http.createServer((req, res) => {
  setTimeout(() => {
    const body = `${VERSION} ${process.pid}`;
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  }, 20 + Math.floor(Math.random() * 41));
});

if (process.env.ARBOR_WORKER === '1') {
  const { serve } = await import('__ARBOR_WORKER__');
  await serve(server);
} else {
  const stop = () => server.close(() => process.exit(0));
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  server.listen(Number(process.env.PORT), '127.0.0.1');
}
