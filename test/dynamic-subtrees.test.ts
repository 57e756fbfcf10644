// Dynamic supervisors (DESIGN.md §3 "Dynamic children"): a simple_one_for_one pool whose template is a supervisor,
// so each startChild starts a whole subtree — one room of two workers here — on real processes.
import { readFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  CallError,
  listener,
  start,
  supervisor,
  worker,
  type RestartType,
  type Tree,
  type TreeEvent,
} from '../src/index.js';
import { arborCommand, spawnArborRun, type ArborRun } from './support/arbor-run.js';
import { get, pidOf } from './support/http.js';
import { fixture, isAlive, reap, recorder, type Recorder } from './support/tree.js';

const CONTROLLED = fixture('controlled.mjs');
const EVENT_TIMEOUT = 30_000;

const trees: Array<{ tree: Tree; rec: Recorder }> = [];
const runs: ArborRun[] = [];
const dirs: string[] = [];

afterEach(async () => {
  for (const { tree, rec } of trees.splice(0)) {
    await tree.stop({ brutal: true }).catch(() => undefined);
    reap(rec.of('child_started').map((e) => e.pid));
  }
  for (const run of runs.splice(0)) {
    try {
      process.kill(-run.proc.pid!, 'SIGKILL');
    } catch {
      // Already gone.
    }
    reap(run.lines.map((l) => l.pid));
  }
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** root → rooms (simple_one_for_one) → room-n (one_for_one, gives up at its second restart) → chat, presence. */
function roomsTree(restart: RestartType = 'permanent', room: Parameters<typeof supervisor>[0] = {}) {
  return supervisor({
    intensity: 0,
    children: [
      supervisor({
        id: 'rooms',
        strategy: 'simple_one_for_one',
        intensity: 10,
        period: 60_000,
        template: supervisor({
          id: 'room',
          restart,
          intensity: 1,
          period: 60_000,
          children: [
            worker({ id: 'chat', module: CONTROLLED, args: ['chat'] }),
            worker({ id: 'presence', module: CONTROLLED, args: ['presence'] }),
          ],
          ...room,
        }),
      }),
    ],
  });
}

async function open(spec: ReturnType<typeof roomsTree>) {
  const rec = recorder();
  const tree = await start(spec, { logger: rec.logger });
  trees.push({ tree, rec });
  return { tree, rec };
}

const pidsIn = (tree: Tree, room: string) => tree.whichChildren(`root/rooms/${room}`).map((c) => c.pid!);
const commandLine = (pid: number) => readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').slice(0, -1);
const exitOf = (supervisor: string, child: string) => (e: TreeEvent) =>
  e.event === 'child_exited' && e.supervisor === supervisor && e.child === child;
const startOf = (supervisor: string, child: string) => (e: TreeEvent) =>
  e.event === 'child_started' && e.supervisor === supervisor && e.child === child;

async function refusal(call: Promise<unknown>): Promise<string> {
  try {
    await call;
  } catch (error) {
    if (error instanceof CallError) return error.code;
    throw error;
  }
  throw new Error('the call succeeded');
}

describe('a pool of dynamic subtrees', () => {
  it("starts whole rooms; a crash inside one is that room's business; a room that gives up is restarted; terminate is idempotent; stop leaves nothing", async () => {
    const { tree, rec } = await open(roomsTree('permanent'));
    for (const args of [['lobby'], ['kitchen'], ['attic']]) {
      expect(await tree.startChild('root/rooms', args)).toMatchObject({
        type: 'supervisor',
        status: 'running',
        pid: undefined,
      });
    }
    expect(tree.whichChildren('root/rooms').map((c) => c.id)).toEqual(['room-1', 'room-2', 'room-3']);
    expect(tree.countChildren('root/rooms')).toEqual({ specs: 1, active: 3, supervisors: 3, workers: 0, listeners: 0 });
    expect(tree.countChildren('root/rooms/room-2')).toEqual({
      specs: 2,
      active: 2,
      supervisors: 0,
      workers: 2,
      listeners: 0,
    });
    // startChild's args reach every worker of the subtree, after the template's own.
    const [chat2, presence2] = pidsIn(tree, 'room-2');
    expect(commandLine(chat2!).slice(-2)).toEqual(['chat', 'kitchen']);
    expect(commandLine(presence2!).slice(-2)).toEqual(['presence', 'kitchen']);
    const status = tree.status();
    expect(
      status.children[0]!.supervisor!.children.map((room) => [
        room.id,
        room.supervisor!.path,
        room.supervisor!.children.map((c) => c.id),
      ]),
    ).toEqual(['room-1', 'room-2', 'room-3'].map((id) => [id, `root/rooms/${id}`, ['chat', 'presence']]));

    // A crash inside room-2: its own one_for_one restarts chat; the pool and the other rooms see nothing.
    const others = [...pidsIn(tree, 'room-1'), ...pidsIn(tree, 'room-3')];
    const back = rec.next(startOf('root/rooms/room-2', 'chat'), 'chat restarted in room-2', EVENT_TIMEOUT);
    process.kill(chat2!, 'SIGKILL');
    await back;
    expect(pidsIn(tree, 'room-2')[1]).toBe(presence2);
    expect([...pidsIn(tree, 'room-1'), ...pidsIn(tree, 'room-3')]).toEqual(others);
    expect(rec.events.filter((e) => e.event === 'child_exited' && e.supervisor === 'root/rooms')).toEqual([]);

    // A second crash within its period: room-2 gives up, exits `shutdown`, and the pool restarts it (permanent).
    const gaveUp = rec.next(exitOf('root/rooms', 'room-2'), 'room-2 exited', EVENT_TIMEOUT);
    const restarted = rec.next(startOf('root/rooms', 'room-2'), 'room-2 restarted', EVENT_TIMEOUT);
    const before = pidsIn(tree, 'room-2');
    process.kill(before[0]!, 'SIGKILL');
    expect(await gaveUp).toMatchObject({ reason: 'shutdown', action: 'restart' });
    await restarted;
    expect(rec.of('max_intensity_reached').map((e) => e.supervisor)).toEqual(['root/rooms/room-2']);
    expect(before.filter(isAlive)).toEqual([]);
    expect(tree.whichChildren('root/rooms').map((c) => [c.id, c.restarts])).toEqual([
      ['room-1', 0],
      ['room-2', 1],
      ['room-3', 0],
    ]);
    expect(commandLine(pidsIn(tree, 'room-2')[0]!).slice(-2)).toEqual(['chat', 'kitchen']);

    // Paths address inside a room.
    const chat3 = pidsIn(tree, 'room-3')[0]!;
    await tree.terminateChild('root/rooms/room-3', 'chat');
    expect(isAlive(chat3)).toBe(false);
    expect(tree.whichChildren('root/rooms/room-3').map((c) => c.status)).toEqual(['stopped', 'running']);
    await tree.restartChild('root/rooms/room-3', 'chat');

    // terminateChild of a room: its workers stop; a second time answers ok too; an id never handed out does not.
    const room1 = pidsIn(tree, 'room-1');
    await tree.terminateChild('root/rooms', 'room-1');
    expect(room1.filter(isAlive)).toEqual([]);
    await expect(tree.terminateChild('root/rooms', 'room-1')).resolves.toBeUndefined();
    expect(await refusal(tree.terminateChild('root/rooms', 'room-4'))).toBe('not_found');
    expect(await refusal(tree.terminateChild('root/rooms', 'chat'))).toBe('not_found');
    expect(tree.countChildren('root/rooms')).toEqual({ specs: 1, active: 2, supervisors: 2, workers: 0, listeners: 0 });

    const everyWorker = rec.of('child_started').flatMap((e) => (e.pid === undefined ? [] : [e.pid]));
    expect(await tree.stop()).toBe('normal');
    expect(everyWorker.filter(isAlive)).toEqual([]);
  }, 120_000);

  it.each([['transient'], ['temporary']] as const)(
    'a %s room that gives up is removed from the pool, and terminating it answers ok',
    async (restart) => {
      const { tree, rec } = await open(roomsTree(restart));
      await tree.startChild('root/rooms', ['lobby']);
      const exited = rec.next(exitOf('root/rooms', 'room-1'), 'room-1 exited', EVENT_TIMEOUT);
      for (let crash = 0; crash < 2; crash++) {
        const chat = pidsIn(tree, 'room-1')[0]!;
        const restartedOrGone =
          crash === 0 ? rec.next(startOf('root/rooms/room-1', 'chat'), 'chat restarted', EVENT_TIMEOUT) : exited;
        process.kill(chat, 'SIGKILL');
        await restartedOrGone;
      }
      expect(await exited).toMatchObject({ reason: 'shutdown', action: 'remove' });
      expect(tree.whichChildren('root/rooms')).toEqual([]);
      await expect(tree.terminateChild('root/rooms', 'room-1')).resolves.toBeUndefined();
      expect(await tree.stop()).toBe('normal');
    },
    60_000,
  );

  it('a room that cannot start: startChild rejects, its started workers are stopped, the pool stays empty', async () => {
    const { tree, rec } = await open(
      roomsTree('permanent', {
        children: [
          worker({ id: 'chat', module: CONTROLLED }),
          worker({ id: 'presence', module: fixture('crash-before-ready.mjs') }),
        ],
      }),
    );
    await expect(tree.startChild('root/rooms', ['lobby'])).rejects.toThrow(/crash before ready/);
    const chat = rec.of('child_started').find((e) => e.supervisor === 'root/rooms/room-1' && e.child === 'chat')!;
    expect(isAlive(chat.pid)).toBe(false);
    expect(tree.whichChildren('root/rooms')).toEqual([]);
    expect(tree.countChildren('root/rooms')).toMatchObject({ active: 0, supervisors: 0 });
    // Its number was handed out all the same.
    await expect(tree.terminateChild('root/rooms', 'room-1')).resolves.toBeUndefined();
    expect(await refusal(tree.terminateChild('root/rooms', 'room-2'))).toBe('not_found');
    expect(await tree.stop()).toBe('normal');
  }, 60_000);

  it("a room's worker serves a listener of the pool's parent, started after the pool", async () => {
    const { tree } = await open(
      supervisor({
        strategy: 'one_for_all',
        children: [
          supervisor({
            id: 'rooms',
            strategy: 'simple_one_for_one',
            template: supervisor({
              id: 'room',
              children: [worker({ id: 'web', module: fixture('http-echo.mjs'), listen: 'http' })],
            }),
          }),
          listener({ id: 'http', port: 0 }),
        ],
      }),
    );
    await tree.startChild('root/rooms', ['lobby']);
    const port = Number(
      tree
        .whichChildren('root')
        .find((c) => c.id === 'http')!
        .listener!.address!.split(':')
        .at(-1),
    );
    expect(pidOf(await get(port))).toBe(pidsIn(tree, 'room-1')[0]);
    expect(await tree.stop()).toBe('normal');
  }, 60_000);

  it('stop: every room is asked to stop at once, not one after another', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'arbor-rooms-'));
    dirs.push(dir);
    const marker = join(dir, 'stopping');
    const { tree, rec } = await open(
      roomsTree('permanent', {
        children: [worker({ id: 'stubborn', module: fixture('stop-marker.mjs'), shutdown: 'infinity' })],
      }),
    );
    for (let n = 0; n < 3; n++) await tree.startChild('root/rooms', [marker]);
    const pids = rec
      .of('child_started')
      .filter((e) => e.child === 'stubborn')
      .map((e) => e.pid!);
    const stopped = tree.stop();
    // Each worker's stop never finishes by itself: a pool stopping rooms in turn would stall at the first one.
    const deadline = Date.now() + EVENT_TIMEOUT;
    const asked = () =>
      new Set(readFileSync(marker, { encoding: 'utf8', flag: 'a+' }).split('\n').filter(Boolean).map(Number));
    while (asked().size < 3 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 25));
    expect([...asked()].sort()).toEqual([...pids].sort());
    for (const pid of pids) process.kill(pid, 'SIGKILL');
    expect(await stopped).toBe('normal');
  }, 60_000);
});

describe('arbor start-child and status with dynamic subtrees', () => {
  it('starts a room by path, shows it with its workers, and addresses a worker inside it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'arbor-rooms-cli-'));
    dirs.push(dir);
    const arbor = spawnArborRun(fixture('rooms-spec.mjs'), dir);
    runs.push(arbor);
    await arbor.line((l) => l.event === 'supervisor_started' && l.supervisor === 'root', 'the root started');

    expect(await arborCommand('start-child', 'root/rooms', 'lobby', '--control', arbor.control)).toMatchObject({
      code: 0,
      stdout: 'started root/rooms/room-1\n',
    });
    const chat = await arbor.line(
      (l) => l.event === 'child_started' && l.supervisor === 'root/rooms/room-1' && l.child === 'chat',
      'chat started',
    );
    const status = await arborCommand('status', '--control', arbor.control);
    expect(status.stdout.replace(/pid \d+/g, 'pid N').replace(/up \d+s/g, 'up Ns')).toBe(
      [
        'root  supervisor one_for_one  [running]',
        '└─ rooms  supervisor simple_one_for_one  running  [running]  restarts 0  up Ns',
        '   └─ room-1  supervisor one_for_one  running  [running]  restarts 0  up Ns',
        '      ├─ chat  worker  running  pid N  restarts 0  up Ns',
        '      └─ presence  worker  running  pid N  restarts 0  up Ns',
        '',
      ].join('\n'),
    );

    const restart = await arborCommand('restart', 'root/rooms/room-1/chat', '--control', arbor.control);
    expect(restart.code).toBe(0);
    expect(isAlive(chat.pid)).toBe(false);
    for (let n = 0; n < 2; n++) {
      expect(await arborCommand('stop-child', 'root/rooms/room-1', '--control', arbor.control)).toMatchObject({
        code: 0,
      });
    }
    process.kill(arbor.proc.pid!, 'SIGTERM');
    expect(await arbor.exited).toMatchObject({ code: 0 });
    expect(
      arbor.lines.flatMap((l) => (l.event === 'child_started' && l.pid !== undefined ? [l.pid] : [])).filter(isAlive),
    ).toEqual([]);
  }, 60_000);
});
