// One HTTP worker of the example service. It never binds a port: serve() listens on the socket the
// supervisor's listener hands it, and announces ready only once it is serving.
import http from 'node:http';
import { onShutdown, serve } from 'arbor-otp/worker';

const routes = {
  '/': (req, res) => res.end(`hello from worker ${process.pid}\n`),
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

// Graceful stop: finish the requests in flight, close idle keep-alive connections, then exit.
onShutdown(
  () =>
    new Promise((resolve) => {
      server.close(() => resolve());
      server.closeIdleConnections();
    }),
);

await serve(server);
