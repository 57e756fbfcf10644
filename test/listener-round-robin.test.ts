// round_robin's bookkeeping without sockets or processes: who gets which connection, what is taken back when.
import type { ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { RoundRobinListener, type Connection, type ConnectionSource } from '../src/listener/round-robin.js';

const logger = pino({ level: 'silent' });

class FakeConnection implements Connection {
  closed = false;
  sentTo: Array<{ pid: number | undefined; seq: number }> = [];
  failNextSend = false;
  constructor(readonly name: string) {}
  sendTo(worker: ChildProcess, message: object, callback: (error: Error | null) => void): void {
    const { seq } = message as { seq: number };
    this.sentTo.push({ pid: worker.pid, seq });
    const fail = this.failNextSend;
    this.failNextSend = false;
    queueMicrotask(() => callback(fail ? new Error('EPIPE') : null));
  }
  close(): void {
    this.closed = true;
  }
}

class FakeSource implements ConnectionSource<FakeConnection> {
  onConnection: ((c: FakeConnection) => void) | undefined;
  returned: FakeConnection[] | undefined;
  accept(_backlog: number, onConnection: (c: FakeConnection) => void): string | undefined {
    this.onConnection = onConnection;
    return undefined;
  }
  close(unclaimed: FakeConnection[] = []): void {
    this.returned = unclaimed;
  }
  connect(name: string): FakeConnection {
    const connection = new FakeConnection(name);
    this.onConnection!(connection);
    return connection;
  }
}

let fakePid = 1000;
function fakeWorker(): ChildProcess & { ack(seq: number): void; die(): void } {
  const worker = new EventEmitter() as ChildProcess & { ack(seq: number): void; die(): void };
  Object.assign(worker, {
    pid: fakePid++,
    connected: true,
    send: (_m: unknown, cb: (e: Error | null) => void) => queueMicrotask(() => cb(null)),
    ack: (seq: number) => worker.emit('message', { type: 'arbor:connection-ack', listener: 'web', seq }),
    die: () => {
      (worker as { connected: boolean }).connected = false;
      worker.emit('disconnect');
    },
  });
  return worker;
}

describe('round_robin bookkeeping', () => {
  const flush = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
  function setup(backlog = 8): { rr: RoundRobinListener<FakeConnection>; source: FakeSource } {
    const source = new FakeSource();
    const rr = new RoundRobinListener('web', source, backlog, logger);
    rr.start();
    return { rr, source };
  }

  it('hands connections in turn, one unacknowledged per worker, and closes its copy on ack', async () => {
    const { rr, source } = setup();
    const [a, b] = [fakeWorker(), fakeWorker()];
    rr.attach(a).ready();
    rr.attach(b).ready();
    const [c1, c2, c3] = ['c1', 'c2', 'c3'].map((n) => source.connect(n)) as FakeConnection[];
    expect(c1!.sentTo.map((s) => s.pid)).toEqual([a.pid]);
    expect(c2!.sentTo.map((s) => s.pid)).toEqual([b.pid]);
    expect(c3!.sentTo).toEqual([]);
    expect(rr.stats()).toMatchObject({ queued: 1, inFlight: 2 });
    a.ack(c1!.sentTo[0]!.seq);
    expect(c1!.closed).toBe(true);
    expect(c3!.sentTo.map((s) => s.pid)).toEqual([a.pid]);
    expect(rr.stats()).toMatchObject({ dispatched: 1, queued: 0, inFlight: 2 });
  });

  it('a worker that dies while a handle is unacknowledged (node never emits disconnect): close reclaims it', async () => {
    const { rr, source } = setup();
    const [a, b] = [fakeWorker(), fakeWorker()];
    const attachment = rr.attach(a);
    attachment.ready();
    const c1 = source.connect('c1');
    attachment.detach(); // at 'exit', the channel still looked connected
    expect(rr.stats()).toMatchObject({ attached: 1, inFlight: 1 });
    (a as { connected: boolean }).connected = false;
    a.emit('close', null, 'SIGKILL');
    expect(rr.stats()).toMatchObject({ attached: 0, redispatched: 1, queued: 1 });
    rr.attach(b).ready();
    expect(c1.sentTo.map((s) => s.pid)).toEqual([a.pid, b.pid]);
  });

  it('a worker whose channel closes before acknowledging: its connection goes first to the next worker', async () => {
    const { rr, source } = setup();
    const [a, b] = [fakeWorker(), fakeWorker()];
    rr.attach(a).ready();
    const c1 = source.connect('c1');
    const c2 = source.connect('c2');
    a.die();
    expect(c1.closed).toBe(false);
    expect(rr.stats()).toMatchObject({ redispatched: 1, queued: 2, attached: 0 });
    rr.attach(b).ready();
    expect(c1.sentTo.map((s) => s.pid)).toEqual([a.pid, b.pid]);
    b.ack(c1.sentTo[1]!.seq);
    expect(c2.sentTo.map((s) => s.pid)).toEqual([b.pid]);
    a.ack(c1.sentTo[0]!.seq); // a late ack from a gone worker changes nothing
    expect(rr.stats()).toMatchObject({ dispatched: 1, redispatched: 1, inFlight: 1 });
  });

  it('detach stops sending at once but waits for the channel to close before taking connections back', async () => {
    const { rr, source } = setup();
    const a = fakeWorker();
    const attachment = rr.attach(a);
    attachment.ready();
    const c1 = source.connect('c1');
    attachment.detach();
    const c2 = source.connect('c2');
    expect(c2.sentTo).toEqual([]);
    a.ack(c1.sentTo[0]!.seq); // a stopping worker may still acknowledge what it got
    expect(c1.closed).toBe(true);
    a.die();
    expect(rr.stats()).toMatchObject({ dispatched: 1, redispatched: 0, queued: 1, attached: 0 });
  });

  it('a send that fails is taken back at once and the worker is no longer used', async () => {
    const { rr, source } = setup();
    const [a, b] = [fakeWorker(), fakeWorker()];
    rr.attach(a).ready();
    const c1 = new FakeConnection('c1');
    c1.failNextSend = true;
    source.onConnection!(c1);
    await flush();
    expect(rr.stats()).toMatchObject({ redispatched: 1, queued: 1, ready: 0 });
    rr.attach(b).ready();
    expect(c1.sentTo.map((s) => s.pid)).toEqual([a.pid, b.pid]);
  });

  it('the queue is bounded by the backlog: beyond it connections are closed and counted', () => {
    const { rr, source } = setup(2);
    const connections = ['c1', 'c2', 'c3'].map((n) => source.connect(n));
    expect(connections.map((c) => c.closed)).toEqual([false, false, true]);
    expect(rr.stats()).toMatchObject({ queued: 2, dropped: 1 });
  });

  it('close hands queued connections back to the handle and closes its copies of those in flight', () => {
    const { rr, source } = setup();
    const a = fakeWorker();
    rr.attach(a).ready();
    const c1 = source.connect('c1');
    const c2 = source.connect('c2');
    rr.close();
    expect(c1.closed).toBe(true);
    expect(source.returned).toEqual([c2]);
    expect(a.listenerCount('message')).toBe(0);
    expect(rr.attach(fakeWorker())).toBeDefined();
  });
});
