// Ports for systems that must be told one up front (node cluster, PM2).
import { createServer } from 'node:net';

/** A free loopback port. Closed before the system binds it: another process could take it in between (rare). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}
