// Model-based test of dynamic subtrees (DESIGN.md §3 "Dynamic children") on real children of each kind (forked
// processes, threads, tasks: test/support/kinds.ts): a simple_one_for_one pool whose template is a supervisor of two
// workers. fast-check generates calls, worker deaths
// and the restart type of the rooms; each step is applied to a running tree and to a small model of OTP, where a
// dynamic child that is a supervisor is a child like any other: it handles its workers' exits itself, and when it
// gives up it exits with `shutdown`, which its pool handles by the child's restart type.
import fc from 'fast-check';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { supervisor, type RestartType } from '../src/index.js';
import { DRIVERS, KINDS, nothingLeftRunning, type KindDriver } from './support/kinds.js';
import {
  argsOf,
  assertOptions,
  childEvent as event,
  closeAll,
  EVENT_TIMEOUT,
  identity,
  incarnationsAgree,
  nth,
  PROPERTY_TIMEOUT,
  refusal,
  RUNS,
  runAgainstModel,
  type World,
} from './support/model-world.js';

afterEach(closeAll);
afterAll(nothingLeftRunning);

// The model. A room runs its two workers (permanent, under one_for_one, intensity 1 in a long period): a worker's
// first exit in a room's incarnation is restarted inside the room; the second makes the room give up. The pool
// then restarts the room (a new incarnation, with the same args) when rooms are permanent, and removes it when
// they are transient or temporary (`shutdown` is a normal exit). Ids are `room-<n>`; terminate_child of a room
// already gone answers ok, of an id never handed out not_found; restart_child and delete_child are refused.

const WORKERS = ['chat', 'presence'] as const;

interface Room {
  id: string;
  args: string[];
  /** Worker exits in this incarnation of the room: the next one makes it give up. */
  exits: number;
  /** Times the pool restarted it. */
  restarts: number;
}

interface RoomsModel {
  restart: RestartType;
  rooms: Room[];
  /** Rooms started so far: the next id is `room-${starts + 1}`. */
  starts: number;
}

type RoomsCommand = fc.AsyncCommand<RoomsModel, World>;

const roomsSpec = (d: KindDriver, restart: RestartType) =>
  supervisor({
    id: 'rooms',
    strategy: 'simple_one_for_one',
    intensity: 100,
    period: 5000,
    template: supervisor({
      id: 'room',
      restart,
      intensity: 1,
      period: 600_000,
      children: WORKERS.map((id) => d.child(id, { args: [id] })),
    }),
  });

const roomPath = (w: World, room: string) => `${w.path}/${room}`;
const workersOf = (w: World, room: string) => w.tree.whichChildren(roomPath(w, room));

async function roomsAgree(m: RoomsModel, w: World): Promise<void> {
  const rooms = w.tree.whichChildren(w.path);
  expect(
    rooms.map((r) => ({
      id: r.id,
      type: r.type,
      status: r.status,
      pid: r.pid,
      restarts: r.restarts,
      restart: r.restart,
    })),
  ).toEqual(
    m.rooms.map((r) => ({
      id: r.id,
      type: 'supervisor',
      status: 'running',
      pid: undefined,
      restarts: r.restarts,
      restart: m.restart,
    })),
  );
  const n = m.rooms.length;
  expect(w.tree.countChildren(w.path)).toEqual({ specs: 1, active: n, supervisors: n, workers: 0, listeners: 0 });
  for (const room of m.rooms) {
    const workers = workersOf(w, room.id);
    expect(workers.map((c) => [c.id, c.type, c.status])).toEqual(WORKERS.map((id) => [id, w.kind.type, 'running']));
    // startChild's args reach every worker of the subtree, after the worker's own.
    for (const child of workers)
      expect(await argsOf(w, `${roomPath(w, room.id)}/${child.id}`)).toEqual([child.id, ...room.args]);
  }
  // Exactly the workers of the listed rooms are alive: none of a room terminated or given up is left behind.
  incarnationsAgree(
    w,
    m.rooms.flatMap((r) => workersOf(w, r.id)),
  );
  expect(w.tree.status(w.path).children.map((c) => c.supervisor?.path)).toEqual(m.rooms.map((r) => roomPath(w, r.id)));
}

/** The incarnation tokens of the workers of `rooms`, in order. */
const tokensOf = (w: World, rooms: Room[]) =>
  Promise.all(rooms.flatMap((r) => WORKERS.map((id) => identity(w, `${roomPath(w, r.id)}/${id}`))));

class StartRoom implements RoomsCommand {
  constructor(readonly args: string[]) {}
  check = () => true;
  async run(m: RoomsModel, w: World): Promise<void> {
    const id = `room-${m.starts + 1}`;
    expect(await w.tree.startChild(w.path, this.args)).toMatchObject({ id, type: 'supervisor', status: 'running' });
    m.starts += 1;
    m.rooms.push({ id, args: this.args, exits: 0, restarts: 0 });
    await roomsAgree(m, w);
  }
  toString = () => `startChild(${JSON.stringify(this.args)})`;
}

class TerminateRoom implements RoomsCommand {
  constructor(readonly k: number) {}
  check = (m: Readonly<RoomsModel>) => m.rooms.length > 0;
  async run(m: RoomsModel, w: World): Promise<void> {
    const room = nth(m.rooms, this.k);
    await w.tree.terminateChild(w.path, room.id);
    m.rooms = m.rooms.filter((r) => r !== room);
    await roomsAgree(m, w);
  }
  toString = () => `terminateChild(#${this.k})`;
}

/** terminateChild of a room already gone (ok), or of the next id, never handed out (not_found). */
class TerminateGoneRoom implements RoomsCommand {
  constructor(
    readonly k: number,
    readonly handedOut: boolean,
  ) {}
  check = (m: Readonly<RoomsModel>) => !this.handedOut || goneRooms(m).length > 0;
  async run(m: RoomsModel, w: World): Promise<void> {
    if (this.handedOut) await w.tree.terminateChild(w.path, nth(goneRooms(m), this.k));
    else expect(await refusal(() => w.tree.terminateChild(w.path, `room-${m.starts + 1}`))).toBe('not_found');
    await roomsAgree(m, w);
  }
  toString = () => (this.handedOut ? `terminateChild(gone #${this.k})` : 'terminateChild(next id)');
}

const goneRooms = (m: Readonly<RoomsModel>): string[] =>
  Array.from({ length: m.starts }, (_, i) => `room-${i + 1}`).filter((id) => !m.rooms.some((r) => r.id === id));

class RefusedOnRoom implements RoomsCommand {
  constructor(
    readonly call: 'restartChild' | 'deleteChild',
    readonly k: number,
  ) {}
  check = (m: Readonly<RoomsModel>) => m.rooms.length > 0;
  async run(m: RoomsModel, w: World): Promise<void> {
    expect(await refusal(() => w.tree[this.call](w.path, nth(m.rooms, this.k).id))).toBe('simple_one_for_one');
    await roomsAgree(m, w);
  }
  toString = () => `${this.call}(#${this.k})`;
}

/** A worker inside a room dies: killed (abnormal; see KindDriver.kill) or exiting normally (permanent: restarted). */
class WorkerDies implements RoomsCommand {
  constructor(
    readonly k: number,
    readonly worker: (typeof WORKERS)[number],
    readonly how: 'crash' | 'exitNormally',
  ) {}
  check = (m: Readonly<RoomsModel>) => m.rooms.length > 0;
  async run(m: RoomsModel, w: World): Promise<void> {
    const room = nth(m.rooms, this.k);
    const inRoom = roomPath(w, room.id);
    const others = m.rooms.filter((r) => r !== room);
    const elsewhere = await tokensOf(w, others);
    const sibling = WORKERS.find((id) => id !== this.worker)!;
    const siblingToken = await identity(w, `${inRoom}/${sibling}`);
    const givesUp = room.exits >= 1;
    const exit = w.rec.next(
      event('child_exited', inRoom, this.worker),
      `${this.worker} exited in ${room.id}`,
      EVENT_TIMEOUT,
    );
    // Waiters only for what the model expects: one left waiting would fail the run when it times out.
    const roomExit = givesUp
      ? w.rec.next(event('child_exited', w.path, room.id), `${room.id} exited`, EVENT_TIMEOUT)
      : undefined;
    const back = !givesUp
      ? w.rec.next(event('child_started', inRoom, this.worker), `${this.worker} restarted in ${room.id}`, EVENT_TIMEOUT)
      : m.restart === 'permanent'
        ? w.rec.next(event('child_started', w.path, room.id), `${room.id} restarted`, EVENT_TIMEOUT)
        : roomExit;
    if (this.how === 'crash') w.kind.kill(w.tree, inRoom, this.worker);
    else w.tree.cast(`${inRoom}/${this.worker}`, 'normal');
    expect(await exit).toMatchObject({
      reason: this.how === 'crash' ? w.kind.killReason : 'normal',
      action: givesUp ? 'give_up' : 'restart',
    });
    await back;
    if (!givesUp) {
      room.exits += 1;
      expect(await identity(w, `${inRoom}/${sibling}`), 'the sibling worker is left alone').toBe(siblingToken);
    } else {
      const removed = m.restart !== 'permanent';
      expect(await roomExit).toMatchObject({ reason: 'shutdown', action: removed ? 'remove' : 'restart' });
      if (removed) m.rooms = m.rooms.filter((r) => r !== room);
      else Object.assign(room, { exits: 0, restarts: room.restarts + 1 });
    }
    // Only that room reacted: every other room's workers are the same incarnations.
    expect(await tokensOf(w, others)).toEqual(elsewhere);
    await roomsAgree(m, w);
  }
  toString = () => `${this.how}(#${this.k} ${this.worker})`;
}

/** Each run starts with two rooms, so that commands on existing rooms apply from the first one. */
async function twoRooms(w: World, restart: RestartType): Promise<RoomsModel> {
  await w.tree.startChild(w.path, ['lobby']);
  await w.tree.startChild(w.path);
  return {
    restart,
    starts: 2,
    rooms: [
      { id: 'room-1', args: ['lobby'], exits: 0, restarts: 0 },
      { id: 'room-2', args: [], exits: 0, restarts: 0 },
    ],
  };
}

const extraArgs = fc.array(fc.stringMatching(/^[a-z0-9][a-z0-9=.-]{0,7}$/), { maxLength: 2 });
const pick = fc.nat({ max: 15 });

const roomsCommands = fc.commands<RoomsModel, World, false>(
  [
    extraArgs.map((args) => new StartRoom(args)),
    pick.map((k) => new TerminateRoom(k)),
    fc.tuple(pick, fc.boolean()).map(([k, handedOut]) => new TerminateGoneRoom(k, handedOut)),
    fc
      .tuple(fc.constantFrom('restartChild' as const, 'deleteChild' as const), pick)
      .map(([call, k]) => new RefusedOnRoom(call, k)),
    fc.tuple(pick, fc.constantFrom(...WORKERS)).map(([k, id]) => new WorkerDies(k, id, 'crash')),
    fc.tuple(pick, fc.constantFrom(...WORKERS)).map(([k, id]) => new WorkerDies(k, id, 'crash')),
    fc.tuple(pick, fc.constantFrom(...WORKERS)).map(([k, id]) => new WorkerDies(k, id, 'exitNormally')),
  ],
  { maxCommands: RUNS.maxCommands },
);

describe.each(KINDS)('dynamic subtrees against an OTP model, on real %s children', (kind) => {
  const d = DRIVERS[kind];

  it(
    'a pool of rooms: startChild, terminateChild (twice too), refused calls, workers dying, rooms giving up',
    async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.constantFrom<RestartType>('permanent', 'transient', 'temporary'),
          roomsCommands,
          (restart, cmds) =>
            runAgainstModel<RoomsModel>(d, roomsSpec(d, restart), (w) => twoRooms(w, restart), roomsAgree, cmds),
        ),
        assertOptions(d),
      );
    },
    PROPERTY_TIMEOUT,
  );
});
