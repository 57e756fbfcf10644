// Messages between a tree and its workers, on real processes: call/cast round trips, every CallError, replies
// that only ever reach their own caller, and limits a worker cannot talk its way past.
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import {
  CallError,
  start,
  supervisor,
  worker,
  type SupervisorSpec,
  type Tree,
  type TreeEvent,
  type WorkerOptions,
} from '../src/index.js';
import { eventually, fixture, isAlive, reap, recorder, type Recorder } from './support/tree.js';

const dir = mkdtempSync(join(tmpdir(), 'arbor-messaging-'));
const running: Array<{ tree: Tree; rec: Recorder }> = [];

afterEach(async () => {
  for (const { tree, rec } of running.splice(0)) {
    await tree.stop({ brutal: true }).catch(() => undefined);
    reap(rec.of('child_started').map((e) => e.pid));
  }
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const answering = (id: string, extra: Partial<WorkerOptions> = {}) =>
  worker({ id, module: fixture('messages.mjs'), shutdown: 2000, ...extra });

async function run(spec: SupervisorSpec) {
  const rec = recorder();
  const tree = await start(spec, { logger: rec.logger });
  running.push({ tree, rec });
  return { tree, rec };
}

/** Resolves with the CallError a promise rejects with. */
async function callError(promise: Promise<unknown>): Promise<CallError> {
  const error = await promise.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(error).toBeInstanceOf(CallError);
  return error as CallError;
}

const pidOf = (tree: Tree, path: string, id: string) => tree.whichChildren(path).find((c) => c.id === id)!.pid!;

describe('call and cast', () => {
  it('a call resolves with the handler’s reply; a cast reaches the handler, whose send() is a worker_message event', async () => {
    const { tree, rec } = await run(supervisor({ children: [answering('w')] }));
    const pid = pidOf(tree, 'root', 'w');
    await expect(tree.call('root/w', { op: 'echo', value: { n: 1, s: 'é' } })).resolves.toEqual({
      value: { n: 1, s: 'é' },
      pid,
    });
    await expect(tree.call('root/w', { op: 'slow', ms: 20, value: 'later' })).resolves.toBe('later');

    const heard = new Promise<TreeEvent>((resolve) => tree.once('worker_message', resolve));
    tree.cast('root/w', { op: 'notify', value: 7 });
    expect(await heard).toEqual({
      event: 'worker_message',
      supervisor: 'root',
      child: 'w',
      path: 'root/w',
      pid,
      message: { notified: 7 },
    });
    // Logged at debug, with the sender.
    await rec.waitFor((e) => e.event === 'worker_message', 'the worker_message log line');
  });

  it('errors: not_found, not_running, no_handler, handler_failed, timeout — and the worker goes on answering', async () => {
    const { tree } = await run(
      supervisor({
        children: [
          answering('w'),
          answering('mute', { env: { FIXTURE_NO_HANDLER: '1' } }),
          answering('gone', { restart: 'transient' }),
        ],
      }),
    );
    expect((await callError(tree.call('root/nobody', { op: 'echo' }))).code).toBe('not_found');
    expect((await callError(tree.call('elsewhere/w', { op: 'echo' }))).code).toBe('not_found');
    expect(() => tree.cast('root/nobody', {})).toThrow(/not_found/);

    await tree.terminateChild('root', 'gone');
    expect((await callError(tree.call('root/gone', { op: 'echo' }))).code).toBe('not_running');
    expect(() => tree.cast('root/gone', { op: 'notify' })).toThrow(CallError);

    const mute = await callError(tree.call('root/mute', { op: 'echo' }));
    expect(mute.code).toBe('no_handler');

    const failed = await callError(tree.call('root/w', { op: 'throw', message: 'bad job' }));
    expect(failed.code).toBe('handler_failed');
    expect(failed.message).toContain('bad job');
    // A thrown value that is not an Error arrives as its inspection.
    const thrown = await callError(tree.call('root/w', { op: 'throwValue', value: { reason: 'no stock', left: 0 } }));
    expect(thrown.code).toBe('handler_failed');
    expect(thrown.message).toContain("{ reason: 'no stock', left: 0 }");

    const started = Date.now();
    const late = await callError(tree.call('root/w', { op: 'hang' }, { timeout: 300 }));
    expect(late.code).toBe('timeout');
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);

    await expect(tree.call('root/w', { op: 'echo', value: 'still here' })).resolves.toMatchObject({
      value: 'still here',
    });
    expect(tree.whichChildren().find((c) => c.id === 'w')!.restarts).toBe(0);
    let invalid: Promise<unknown> | undefined;
    expect(() => (invalid = tree.call('root/w', {}, { timeout: -1 }))).not.toThrow(); // a rejection, never a throw
    await expect(invalid).rejects.toThrow(TypeError);
  });

  it('a worker SIGKILLed mid-call: the caller gets exited, with the exit reason', async () => {
    const { tree, rec } = await run(supervisor({ intensity: 5, children: [answering('w')] }));
    const pid = pidOf(tree, 'root', 'w');
    const pending = [
      tree.call('root/w', { op: 'hang' }, { timeout: 30_000 }),
      tree.call('root/w', { op: 'slow', ms: 20_000 }, { timeout: 30_000 }),
    ];
    // Answered in order after them: both calls are in the worker's hands.
    await tree.call('root/w', { op: 'echo', value: 1 });
    process.kill(pid, 'SIGKILL');
    for (const call of pending) {
      const error = await callError(call);
      expect(error.code).toBe('exited');
      expect(error.reason).toEqual({ signal: 'SIGKILL' });
    }
    await rec.waitFor((e) => e.event === 'child_started' && e.pid !== pid, 'the replacement');
    await expect(tree.call('root/w', { op: 'echo', value: 1 })).resolves.toMatchObject({ value: 1 });
  });

  it('stopping the tree ends the calls in flight with exited: shutdown, and a stopped tree takes no more', async () => {
    const { tree } = await run(supervisor({ children: [answering('w')] }));
    const pending = tree.call('root/w', { op: 'hang' }, { timeout: 30_000 });
    await tree.stop();
    const error = await callError(pending);
    expect(error.code).toBe('exited');
    expect(error.reason).toBe('shutdown');
    expect((await callError(tree.call('root/w', { op: 'echo' }))).code).toBe('not_found');
  });

  it('replies reach only their own caller: a restarted worker, or a sibling, cannot answer another incarnation’s call', async () => {
    const trace = join(dir, 'calls.jsonl');
    const { tree, rec } = await run(
      supervisor({
        intensity: 5,
        children: [
          answering('a', { env: { FIXTURE_TRACE_FILE: trace } }),
          answering('b', { env: { FIXTURE_TRACE_FILE: trace } }),
        ],
      }),
    );
    const idsOf = (op: string) =>
      !existsSync(trace)
        ? []
        : readFileSync(trace, 'utf8')
            .trim()
            .split('\n')
            .map((l) => JSON.parse(l) as { id: number; op: string })
            .filter((c) => c.op === op)
            .map((c) => c.id);

    // A call to a's first incarnation, which dies without answering.
    const first = tree.call('root/a', { op: 'hang' }, { timeout: 30_000 });
    await eventually(() => idsOf('hang').length === 1, 'the first call to arrive');
    const oldPid = pidOf(tree, 'root', 'a');
    process.kill(oldPid, 'SIGKILL');
    expect((await callError(first)).code).toBe('exited');
    await rec.waitFor((e) => e.event === 'child_started' && e.child === 'a' && e.pid !== oldPid, 'a restarted');

    // A call to the new incarnation, then forged replies for both ids: from the new a itself for the old id,
    // and from sibling b for the new one.
    const second = tree.call('root/a', { op: 'hang' }, { timeout: 1500 });
    await eventually(() => idsOf('hang').length === 2, 'the second call to arrive');
    const [oldId, newId] = idsOf('hang');
    expect(newId).not.toBe(oldId);
    await expect(tree.call('root/a', { op: 'forge', ids: [oldId] })).resolves.toBe('ok');
    await expect(tree.call('root/b', { op: 'forge', ids: [newId, oldId] })).resolves.toBe('ok');
    // The second call still belongs to nobody but its own worker: it times out instead of taking 'forged'.
    expect((await callError(second)).code).toBe('timeout');
  });

  it('calls made in one tick reach the worker as one IPC line; batches a worker makes are taken in order, or refused whole', async () => {
    const trace = join(dir, 'batched.jsonl');
    const { tree, rec } = await run(supervisor({ children: [answering('w', { env: { FIXTURE_TRACE_FILE: trace } })] }));
    const linesBefore = (await tree.call('root/w', { op: 'lines' })) as number;
    const replies = await Promise.all(
      Array.from({ length: 100 }, (_, seq) => tree.call('root/w', { op: 'echo', value: seq })),
    );
    expect(replies.map((r) => (r as { value: number }).value)).toEqual(Array.from({ length: 100 }, (_, seq) => seq));
    const linesAfter = (await tree.call('root/w', { op: 'lines' })) as number;
    // The 100 calls and the second `lines` call: far fewer lines than messages (one, unless the tick was split).
    expect(linesAfter - linesBefore).toBeLessThanOrEqual(5);

    // A batch of sends made by hand arrives as the worker_message events of its elements, in order.
    const heard: unknown[] = [];
    tree.on('worker_message', (e) => heard.push(e.message));
    const sends = ['one', 'two', 'three'].map((message) => ({ type: 'arbor:send', message }));
    await tree.call('root/w', { op: 'raw', lines: [{ type: 'arbor:batch', messages: sends }] });
    expect(heard).toEqual(['one', 'two', 'three']);
    // send(undefined) travels in the same line as the reply of the call that made it: both arrive.
    await expect(tree.call('root/w', { op: 'sendNothing' })).resolves.toBe('sent nothing');
    expect(heard).toEqual(['one', 'two', 'three', undefined]);

    // A malformed batch is ignored whole, even its well-formed forged reply to a pending call.
    const pending = tree.call('root/w', { op: 'slow', ms: 1000, value: 'real' }, { timeout: 30_000 });
    const idOf = (op: string) =>
      existsSync(trace)
        ? readFileSync(trace, 'utf8')
            .trim()
            .split('\n')
            .map((l) => JSON.parse(l) as { id: number; op: string })
            .find((c) => c.op === op)?.id
        : undefined;
    await eventually(() => idOf('slow') !== undefined, 'the slow call to arrive');
    const forged = { type: 'arbor:reply', id: idOf('slow'), ok: true, value: 'forged' };
    await tree.call('root/w', {
      op: 'raw',
      lines: [
        { type: 'arbor:batch', messages: [forged, { type: 'arbor:ready' }] },
        { type: 'arbor:batch', messages: [{ type: 'arbor:batch', messages: [forged] }] },
      ],
    });
    await expect(pending).resolves.toBe('real');
    // The first ignored line is logged at once, the next in the summary that closes its 5 s window.
    const ignored = () =>
      rec.events
        .filter((e) => (e.event as string) === 'ipc_ignored')
        .reduce((sum, e) => sum + (e as unknown as { messages: number }).messages, 0);
    await eventually(() => ignored() === 2, 'both ignored batches reported', 20_000);
    expect(tree.whichChildren()[0]!.restarts).toBe(0);
  });

  it('10,000 calls to a 2-worker pool: every reply is the caller’s own, in order, and both workers answer', async () => {
    const { tree } = await run(
      supervisor({ children: [supervisor({ id: 'pool', children: [answering('w1'), answering('w2')] })] }),
    );
    const CALLERS = 20;
    const PER_CALLER = 500;
    const pids = new Set<number>();
    const callers = Array.from({ length: CALLERS }, async (_, caller) => {
      const replies: number[] = [];
      for (let seq = 0; seq < PER_CALLER; seq++) {
        const reply = (await tree.call('root/pool', { op: 'echo', value: { caller, seq } }, { timeout: 30_000 })) as {
          value: { caller: number; seq: number };
          pid: number;
        };
        expect(reply.value.caller).toBe(caller);
        replies.push(reply.value.seq);
        pids.add(reply.pid);
      }
      return replies;
    });
    const all = await Promise.all(callers);
    for (const replies of all) expect(replies).toEqual(Array.from({ length: PER_CALLER }, (_, i) => i));
    expect(all.flat()).toHaveLength(10_000);
    expect([...pids].sort()).toEqual([pidOf(tree, 'root/pool', 'w1'), pidOf(tree, 'root/pool', 'w2')].sort());
  });

  it('pools: round_robin alternates, least_busy avoids a busy worker, a stopped pool is not_running', async () => {
    const { tree } = await run(
      supervisor({ children: [supervisor({ id: 'pool', children: [answering('w1'), answering('w2')] })] }),
    );
    const pid = async (pick: 'round_robin' | 'least_busy' | 'random') =>
      ((await tree.call('root/pool', { op: 'echo' }, { pick })) as { pid: number }).pid;
    const rr = [await pid('round_robin'), await pid('round_robin'), await pid('round_robin'), await pid('round_robin')];
    expect(rr[0]).not.toBe(rr[1]);
    expect(rr[2]).toBe(rr[0]);
    expect(rr[3]).toBe(rr[1]);
    const busy = tree.call('root/pool/w1', { op: 'slow', ms: 2000 }, { timeout: 10_000 });
    for (let i = 0; i < 4; i++) expect(await pid('least_busy')).toBe(pidOf(tree, 'root/pool', 'w2'));
    expect([pidOf(tree, 'root/pool', 'w1'), pidOf(tree, 'root/pool', 'w2')]).toContain(await pid('random'));
    await busy;
    await tree.terminateChild('root/pool', 'w1');
    await tree.terminateChild('root/pool', 'w2');
    expect((await callError(tree.call('root/pool', { op: 'echo' }))).code).toBe('not_running');
    expect((await callError(tree.call('root', { op: 'echo' }))).code).toBe('not_found'); // root has no workers
  });

  it('dynamic children are addressable by path, and their pool by the supervisor’s', async () => {
    const { tree } = await run(
      supervisor({
        children: [
          supervisor({
            id: 'jobs',
            strategy: 'simple_one_for_one',
            template: answering('job', { restart: 'temporary' }),
          }),
        ],
      }),
    );
    expect((await callError(tree.call('root/jobs', { op: 'echo' }))).code).toBe('not_running');
    const job = await tree.startChild('root/jobs', []);
    expect(job.id).toBe('job-1');
    await expect(tree.call('root/jobs/job-1', { op: 'echo', value: 'hi' })).resolves.toEqual({
      value: 'hi',
      pid: job.pid,
    });
    await expect(tree.call('root/jobs', { op: 'echo', value: 'any' })).resolves.toEqual({ value: 'any', pid: job.pid });
  });
});

describe('limits: a worker cannot exhaust its supervisor through messages', () => {
  it('a message over maxMessageBytes is refused either way, too_large, and the worker is unharmed', async () => {
    const { tree } = await run(supervisor({ children: [answering('w', { maxMessageBytes: 10_000 })] }));
    const pid = pidOf(tree, 'root', 'w');
    const out = await callError(tree.call('root/w', { op: 'echo', value: 'x'.repeat(20_000) }));
    expect(out.code).toBe('too_large');
    expect(() => tree.cast('root/w', { op: 'notify', value: 'x'.repeat(20_000) })).toThrow(/too_large/);
    const back = await callError(tree.call('root/w', { op: 'big', bytes: 20_000 }));
    expect(back.code).toBe('too_large');
    // send() over the limit throws in the worker: the call that tried it fails, nothing reaches the tree.
    const sent = await callError(tree.call('root/w', { op: 'send', count: 1, bytes: 20_000 }));
    expect(sent.code).toBe('handler_failed');
    expect(sent.message).toMatch(/limit 10000/);
    await expect(tree.call('root/w', { op: 'echo', value: 'fine' })).resolves.toEqual({ value: 'fine', pid });
  });

  it('a worker that floods past the runtime’s checks is cut to its rate and size by the supervisor, which logs the drops', async () => {
    const { tree, rec } = await run(
      supervisor({ children: [answering('w', { maxMessageBytes: 10_000, maxMessageRate: 100 })] }),
    );
    const pid = pidOf(tree, 'root', 'w');
    let heard = 0;
    tree.on('worker_message', () => heard++);
    const started = Date.now();
    await tree.call('root/w', { op: 'flood', count: 20, bytes: 50_000 }, { timeout: 30_000 });
    await tree.call('root/w', { op: 'flood', count: 5000, bytes: 10 }, { timeout: 30_000 });
    await tree.call('root/w', { op: 'echo' }); // replies follow the flood on the channel: it has all arrived
    const elapsedS = (Date.now() - started) / 1000;
    // The bucket: a burst of 100, then 100/s. None of the oversized ones.
    expect(heard).toBeGreaterThan(50);
    expect(heard).toBeLessThanOrEqual(100 + Math.ceil(100 * elapsedS) + 1);
    const dropped = (await rec.waitFor(
      (e) => (e as { event: string }).event === 'worker_messages_dropped',
      'the drop report',
    )) as unknown as { rate: number; too_large: number };
    expect(dropped.too_large).toBe(20);
    expect(dropped.rate).toBeGreaterThan(4000);
    expect(isAlive(pid)).toBe(true);
    expect(tree.whichChildren()[0]!.restarts).toBe(0);
  });

  it('send() in the worker stays within the rate: it returns false for what would be dropped', async () => {
    const { tree } = await run(supervisor({ children: [answering('w', { maxMessageRate: 50 })] }));
    const sent = (await tree.call('root/w', { op: 'send', count: 200, value: 'tick' })) as number;
    expect(sent).toBeGreaterThanOrEqual(50);
    expect(sent).toBeLessThan(60);
  });
});
