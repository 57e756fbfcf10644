// A hot standby spare warms node's HTTP code before it parks: one request to a throwaway server of its own on a
// private loopback port, so that the first request after a takeover does not pay for compiling the parser and
// response paths (several ms on a loaded machine). No user code runs: the throwaway server has its own handler.
// Loaded only by hot spares (runtime.ts imports it dynamically).
import http from 'node:http';
import type { AddressInfo, Server } from 'node:net';

/** A warm-up must never hold a spare back from parking for long. */
const WARM_UP_TIMEOUT_MS = 1000;

export async function warmUp(server: Server): Promise<void> {
  if (!(server instanceof http.Server)) return;
  const probe = http.createServer((_req, res) => res.end('warm'));
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      (async () => {
        await new Promise<void>((resolve, reject) => {
          probe.once('error', reject);
          probe.listen(0, '127.0.0.1', resolve);
        });
        const { port } = probe.address() as AddressInfo;
        await new Promise<void>((resolve) => {
          http
            .get({ host: '127.0.0.1', port, agent: false }, (res) => {
              res.resume();
              res.once('end', resolve);
            })
            .once('error', () => resolve());
        });
      })(),
      new Promise<void>((resolve) => (timer = setTimeout(resolve, WARM_UP_TIMEOUT_MS))),
    ]);
  } catch {
    // No loopback, no port: the spare parks cold, which is only slower.
  } finally {
    clearTimeout(timer);
    probe.closeAllConnections();
    probe.close();
  }
}
