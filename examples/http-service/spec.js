// The example service: one listener that owns 127.0.0.1:$PORT (PORT=0: a free port, logged in `listener_bound`),
// or, when systemd passed a socket named `http` (examples/systemd), that socket; and a pool of HTTP workers serving it.
// rest_for_one: if the listener itself ever restarts, the pool after it restarts too and gets the new socket.
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { listener, supervisor, worker } from 'arbor-otp';

const port = Number(process.env.PORT ?? 8080);
const host = process.env.HOST ?? '127.0.0.1';
const size = Number(process.env.WORKERS ?? availableParallelism());
const mode = process.env.LISTENER_MODE === 'round_robin' ? 'round_robin' : 'shared';
// Socket activation: systemd opened the port (arbor-http.socket, FileDescriptorName=http) and passed it to us.
const activated = process.env.LISTEN_FDS !== undefined;
const server = fileURLToPath(new URL('./server.js', import.meta.url));

export default supervisor({
  id: 'root',
  strategy: 'rest_for_one',
  intensity: 3,
  period: 10_000,
  // On SIGTERM keep serving this long before draining (a load balancer needs time to stop sending; Kubernetes).
  ...(process.env.DRAIN_DELAY ? { drainDelay: Number(process.env.DRAIN_DELAY) } : {}),
  children: [
    listener({ id: 'http', mode, ...(activated ? { fd: 'systemd:http' } : { host, port }) }),
    supervisor({
      id: 'pool',
      strategy: 'one_for_one',
      // A crash route is one request away: allow a burst of restarts before the pool gives up.
      intensity: 100,
      period: 10_000,
      children: Array.from({ length: size }, (_, i) =>
        worker({
          id: `web-${i + 1}`,
          module: server,
          listen: 'http',
          shutdown: 5000,
          // /hang blocks the event loop: a missed heartbeat gets the worker killed and replaced.
          heartbeat: { interval: 1000, timeout: 3000 },
          // Checked at every heartbeat: a leak (or the chaos kit's memory fault) costs one restart, not the machine.
          maxMemory: 256 * 1024 * 1024,
          // A booted node process waits parked, so a crash is replaced in ~20 ms instead of node's ~100 ms start.
          standby: true,
          env: { ARBOR_CHAOS: process.env.ARBOR_CHAOS ?? '0' },
        }),
      ),
    }),
  ],
});
