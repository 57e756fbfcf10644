// The admin endpoint's deadlines when the supervisor's own event loop stalls: a timer that fires late runs before
// the I/O of its turn, so a request its client sent in time must not be cut for the supervisor's delay. A client that
// sent nothing (or half a head) in time is still closed.
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { HTTP1_LIMITS, Http1Server } from '../src/admin/http1.js';

const HEAD_DEADLINE_MS = 200;
/** Well past the deadline, as a long GC or a synchronous burst of work in the supervisor would be. */
const STALL_MS = 800;

let server: Http1Server | undefined;
afterEach(() => {
  server?.close();
  server = undefined;
});

function blockLoop(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until);
}

async function listening(): Promise<{ port: number; accepted: () => Promise<void> }> {
  server = new Http1Server(
    () => ({ status: 200, headers: { 'Content-Type': 'text/plain' }, body: Buffer.from('ok') }),
    {
      ...HTTP1_LIMITS,
      headersTimeoutMs: HEAD_DEADLINE_MS,
    },
  );
  const s = server.server;
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const port = (s.address() as net.AddressInfo).port;
  return { port, accepted: () => new Promise((resolve) => s.once('connection', () => resolve())) };
}

/** A client connected and accepted (its connection's head deadline running); what it reads, until it is closed. */
async function connectedClient(port: number, accepted: () => Promise<void>) {
  const wasAccepted = accepted();
  const socket = net.connect(port, '127.0.0.1');
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  await wasAccepted;
  let received = '';
  socket.on('data', (chunk: Buffer) => (received += chunk.toString('latin1')));
  const closed = new Promise<string>((resolve) => {
    socket.on('error', () => undefined);
    socket.once('close', () => resolve(received));
  });
  return { socket, closed, received: () => received };
}

async function until(check: () => boolean, deadlineMs = 20_000): Promise<void> {
  const end = performance.now() + deadlineMs;
  while (!check()) {
    if (performance.now() > end) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe('admin endpoint deadlines across a stall of the supervisor loop', () => {
  it('answers a request sent before the stall, though the head deadline passed during it', async () => {
    const { port, accepted } = await listening();
    const client = await connectedClient(port, accepted);
    // In the kernel at once (a small write on a connected socket is written synchronously).
    client.socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
    blockLoop(STALL_MS);
    await until(() => client.received().includes('\r\n\r\nok') || client.socket.destroyed);
    expect(client.received()).toMatch(/^HTTP\/1\.1 200 /);
    expect(client.socket.destroyed).toBe(false);
    client.socket.destroy();
  });

  it('still closes a connection whose head had not arrived whole by the deadline', async () => {
    const { port, accepted } = await listening();
    const silent = await connectedClient(port, accepted);
    const half = await connectedClient(port, accepted);
    half.socket.write('GET /healthz HTTP/1.1\r\nHo');
    blockLoop(STALL_MS);
    expect(await silent.closed).toBe('');
    expect(await half.closed).toBe('');
  });
});
