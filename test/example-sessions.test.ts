// examples/sessions as a user runs it: a TCP service where every connection is a supervised task. A session that
// crashes is restarted on its connection (transient) or dropped with it (temporary); the other sessions never
// notice; SIGTERM tells every client and stops the service with exit 0.
import { spawn, type ChildProcess } from 'node:child_process';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { repo } from './support/arbor-run.js';

const services = new Set<ChildProcess>();
const clients = new Set<Socket>();
afterEach(() => {
  for (const client of clients) client.destroy();
  clients.clear();
  for (const service of services) if (service.exitCode === null && service.signalCode === null) service.kill('SIGKILL');
  services.clear();
});

/** Resolves once `text` has matched `pattern` (re-tested on every chunk), or fails naming what it waited for. */
function until(read: () => string, pattern: RegExp, what: string, timeoutMs = 20_000): Promise<RegExpMatchArray> {
  return new Promise((resolve, reject) => {
    const deadline = Date.now() + timeoutMs;
    const poll = () => {
      const match = read().match(pattern);
      if (match) return resolve(match);
      if (Date.now() > deadline)
        return reject(new Error(`timed out waiting for ${what}; got: ${JSON.stringify(read())}`));
      setTimeout(poll, 10);
    };
    poll();
  });
}

async function service(restart: 'transient' | 'temporary') {
  const proc = spawn(process.execPath, [join(repo, 'examples/sessions/service.js'), '0', restart], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  services.add(proc);
  let out = '';
  let err = '';
  proc.stdout!.on('data', (chunk: Buffer) => (out += chunk));
  proc.stderr!.on('data', (chunk: Buffer) => (err += chunk));
  const [, port] = await until(() => out, /listening on 127\.0\.0\.1:(\d+)/, 'the service listening');
  const exited = new Promise<number | null>((resolve) => proc.on('close', (code) => resolve(code)));
  return { proc, out: () => out, err: () => err, port: Number(port), exited };
}

async function client(port: number) {
  const socket = connect(port, '127.0.0.1');
  clients.add(socket);
  socket.setEncoding('utf8');
  let text = '';
  let closed = false;
  socket.on('data', (chunk: string) => (text += chunk));
  socket.on('close', () => (closed = true));
  socket.on('error', () => undefined);
  await until(() => text, /hello, session \d+\n/, 'the greeting');
  return {
    say: (line: string) => socket.write(`${line}\n`),
    text: () => text,
    closed: () => closed,
    wait: (pattern: RegExp, what: string) => until(() => text, pattern, what),
  };
}

describe('examples/sessions', () => {
  it('transient sessions: a crash restarts that session on its connection; the others do not notice', async () => {
    const svc = await service('transient');
    const [a, b] = [await client(svc.port), await client(svc.port)];
    a.say('one');
    b.say('two');
    await a.wait(/echo: one\n/, 'a echo');
    await b.wait(/echo: two\n/, 'b echo');
    a.say('crash');
    await a.wait(/restarted after: session 1 crashed on purpose\n/, 'a restarted');
    a.say('still here');
    await a.wait(/echo: still here\n/, 'a echo after restart');
    b.say('three');
    await b.wait(/echo: three\n/, 'b echo after a crashed');
    expect(b.text()).not.toContain('restarted');
    expect(svc.out()).toMatch(/exited {3}root\/sessions\/session-1 "session 1 crashed on purpose" → restart/);
    expect(svc.err()).not.toContain('no task owns');
    a.say('bye');
    await a.wait(/bye\n/, 'a bye');
    await until(svc.out, /exited {3}root\/sessions\/session-1 "normal" → remove/, 'session-1 removed');
    svc.proc.kill('SIGTERM');
    await b.wait(/server shutting down\n/, 'b told of the stop');
    expect(await svc.exited).toBe(0);
    expect(svc.out()).toContain('stopped (normal)');
  });

  it('temporary sessions: a crashed session is dropped and its connection closed', async () => {
    const svc = await service('temporary');
    const [a, b] = [await client(svc.port), await client(svc.port)];
    a.say('crash');
    await a.wait(/session dropped: session 1 crashed on purpose\n/, 'a dropped');
    await until(() => String(a.closed()), /true/, 'a closed');
    b.say('fine');
    await b.wait(/echo: fine\n/, 'b echo');
    expect(svc.out()).toMatch(/exited {3}root\/sessions\/session-1 "session 1 crashed on purpose" → remove/);
    svc.proc.kill('SIGTERM');
    expect(await svc.exited).toBe(0);
  });
});
