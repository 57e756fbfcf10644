// One HTTP worker of the example service. It never binds a port: serve() listens on the socket the
// supervisor's listener hands it, and announces ready only once it is serving.
import { statSync } from 'node:fs';
import http from 'node:http';
import { fileURLToPath } from 'node:url';
import { serve } from 'arbor-otp/worker';

// When this file was last changed: `arbor reload` after an edit shows the new code answering.
const code = statSync(fileURLToPath(import.meta.url)).mtime.toISOString().slice(11, 19);

const routes = {
  '/': (req, res) => res.end(`hello from worker ${process.pid} (code of ${code})\n`),
  // A slow request: in flight during a reload or a stop, it still completes.
  '/slow': (req, res) => setTimeout(() => res.end(`slow answer from worker ${process.pid}\n`), 2000),
  '/health': (req, res) => res.end('ok\n'),
  // Each of these kills only this worker; the supervisor starts a replacement on the same socket.
  '/crash': () => {
    throw new Error('crash requested by /crash');
  },
  '/exit': () => process.exit(1),
  '/hang': () => {
    for (;;);
  },
};

const server = http.createServer((req, res) => {
  const path = new URL(req.url ?? '/', 'http://localhost').pathname;
  const route = routes[path];
  if (!route) {
    res.statusCode = 404;
    res.end('not found\n');
    return;
  }
  route(req, res);
});

// serve() also drains the server on every planned stop (reload, stop-child, SIGTERM): no shutdown hook needed.
await serve(server);
