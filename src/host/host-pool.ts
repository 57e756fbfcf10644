// The task hosts of one tree: per pool declared in the root's `hosts`, `size` slots, each holding one host
// incarnation at a time. A task is placed in the slot running the fewest tasks; a slot whose host went down (or
// never started) gets a fresh incarnation when a task next needs it — so the tasks of a dead host, restarted by
// their supervisors, land on a new host. The tree closes the pool when it stops: no host outlives it.
// A reload changes a pool in place (update: size, heartbeat, memory limit) or gives it new hosts (replace: kind,
// execArgv, resourceLimits). Hosts it no longer needs are retired, never killed: they take no new task and end
// with their last one.
import { readFileSync } from 'node:fs';
import type { Logger } from 'pino';
import type { HostKind, HostSpec } from '../types.js';
import type { OutputLog } from '../worker/output-log.js';
import { HostInstance, type HostDownCause, type HostedPeer } from './host-instance.js';

/** What status shows of one running host. */
export interface HostInfo {
  /** Its slot in the pool; absent for a retired host (a reload shrank or replaced the pool), ending with its tasks. */
  slot?: number;
  /** Which incarnation of the pool's hosts it is (counting from 1). */
  incarnation: number;
  /** Its pid, for a process host. */
  pid?: number;
  /** Tasks placed in it. */
  tasks: number;
  /** Its resident memory in bytes (a process host, where /proc tells). */
  rss?: number;
}

/** Why hosts of a pool went down, each time taking their tasks with them (`{ host_down }`). */
export interface HostRestarts {
  /** Killed for a missed heartbeat (a task blocking its loop). */
  heartbeat: number;
  /** Killed over `maxMemory` (or a thread over its heap limit). */
  memory: number;
  /** Exited, failed, did not start or broke the protocol. */
  crash: number;
}

/** What status shows of one host pool (the root's status, `hosts`). */
export interface HostPoolStatus {
  /** The pool's name. */
  name: string;
  /** Its hosts: `process` or `thread`. */
  kind: HostKind;
  /** Its slots (`size`). */
  size: number;
  /** Hosts running (or starting) now, retired ones included. */
  alive: number;
  /** Tasks placed in its hosts. */
  tasks: number;
  /** Every running host. */
  hosts: HostInfo[];
  /** Hosts that went down since the tree started, by reason: a slot gets a fresh host when a task next needs one. */
  restarts: HostRestarts;
}

class HostGroup {
  slots: Array<HostInstance | undefined>;
  /** Hosts out of the slots, ending with their last task. */
  readonly retired = new Set<HostInstance>();
  readonly restarts: HostRestarts = { heartbeat: 0, memory: 0, crash: 0 };
  private incarnations = 0;

  constructor(
    readonly name: string,
    public spec: HostSpec,
    private readonly logger: Logger,
    private readonly output: OutputLog | undefined,
  ) {
    this.slots = new Array<HostInstance | undefined>(spec.size ?? 1).fill(undefined);
  }

  /** The slot running the fewest tasks, its host started if it has none. */
  place(): HostInstance {
    let best = 0;
    for (let i = 1; i < this.slots.length; i++) if (load(this.slots[i]) < load(this.slots[best])) best = i;
    const existing = this.slots[best];
    if (existing !== undefined && existing.running) return existing;
    const instance = new HostInstance(
      this.name,
      ++this.incarnations,
      this.spec,
      this.logger,
      (gone, cause) => this.gone(gone, cause),
      this.output,
    );
    this.slots[best] = instance;
    return instance;
  }

  private gone(instance: HostInstance, cause: HostDownCause): void {
    const at = this.slots.indexOf(instance);
    if (at >= 0) this.slots[at] = undefined;
    this.retired.delete(instance);
    if (cause !== 'stopped') this.restarts[cause] += 1;
  }

  /** Hosts running in the slots, then the retired ones. */
  instances(): HostInstance[] {
    return [...this.slots.filter((i): i is HostInstance => i?.running === true), ...this.retired];
  }

  /** A new size, heartbeat or memory limit, for the hosts running now as for those to come. */
  update(spec: HostSpec): void {
    this.spec = spec;
    const size = spec.size ?? 1;
    if (size > this.slots.length) {
      this.slots.push(...new Array<HostInstance | undefined>(size - this.slots.length).fill(undefined));
    } else if (size < this.slots.length) {
      // The busiest slots stay; the others' hosts are retired, so no task is stopped for the shrink.
      const keep = new Set(
        this.slots
          .map((instance, slot) => ({ slot, load: load(instance) }))
          .sort((a, b) => b.load - a.load || a.slot - b.slot)
          .slice(0, size)
          .map((s) => s.slot),
      );
      for (const [slot, instance] of this.slots.entries())
        if (!keep.has(slot) && instance?.running) this.retire(instance);
      this.slots = this.slots.filter((_, slot) => keep.has(slot));
    }
    for (const instance of this.instances()) instance.retune(spec);
  }

  /** New hosts from now on (another kind, execArgv, resourceLimits): every running one is retired. */
  replace(spec: HostSpec): HostInstance[] {
    const old = this.instances().filter((i) => !i.retired);
    this.spec = spec;
    this.slots = new Array<HostInstance | undefined>(spec.size ?? 1).fill(undefined);
    for (const instance of old) this.retire(instance);
    return old;
  }

  retire(instance: HostInstance): void {
    this.retired.add(instance);
    instance.retire();
  }

  status(): HostPoolStatus {
    const hosts = this.instances().map((instance): HostInfo => {
      const slot = this.slots.indexOf(instance);
      const rss = instance.pid !== undefined ? readRssNow(instance.pid) : undefined;
      return {
        ...(slot >= 0 ? { slot } : {}),
        incarnation: instance.incarnation,
        ...(instance.pid !== undefined ? { pid: instance.pid } : {}),
        tasks: instance.tasks.size,
        ...(rss !== undefined ? { rss } : {}),
      };
    });
    return {
      name: this.name,
      kind: this.spec.kind ?? 'process',
      size: this.slots.length,
      alive: hosts.length,
      tasks: hosts.reduce((sum, h) => sum + h.tasks, 0),
      hosts,
      restarts: { ...this.restarts },
    };
  }
}

const load = (instance: HostInstance | undefined): number => (instance?.running ? instance.tasks.size : 0);

/** Resident memory from /proc, read at once (a status is built synchronously); undefined where it cannot be read. */
function readRssNow(pid: number): number | undefined {
  try {
    const kib = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
    return kib === undefined ? undefined : Number(kib) * 1024;
  } catch {
    return undefined;
  }
}

export class HostPool {
  private readonly groups = new Map<string, HostGroup>();
  private closed = false;
  /** Every incarnation not yet gone, for close(). */
  private readonly live = new Set<HostInstance>();

  constructor(
    hosts: Record<string, HostSpec> | undefined,
    private readonly logger: Logger,
    private readonly output?: OutputLog,
  ) {
    for (const [name, spec] of Object.entries(hosts ?? {})) this.add(name, spec);
  }

  names(): string[] {
    return [...this.groups.keys()];
  }

  /**
   * Places a task in the pool `name`: the host it goes to (perhaps still starting: wait for `ready`) and its
   * number there. Throws once the pool is closed or for an unknown name.
   */
  place(name: string, peer: HostedPeer): { instance: HostInstance; n: number } {
    if (this.closed) throw new Error('the tree is stopping: its task hosts are closed');
    const group = this.groups.get(name);
    if (group === undefined) throw new Error(`no host pool '${name}' in the root's hosts`);
    const instance = group.place();
    if (!this.live.has(instance)) {
      this.live.add(instance);
      // Forgotten once gone: close() waits only for what still runs.
      void instance.exited.then(() => this.live.delete(instance));
    }
    return { instance, n: instance.register(peer) };
  }

  /** A new pool (a reload added it): its hosts start when its first task does. */
  add(name: string, spec: HostSpec): void {
    this.groups.set(name, new HostGroup(name, spec, this.logger, this.output));
  }

  /** The pool's new size, heartbeat or memory limit, applied to its running hosts. Throws for an unknown pool. */
  update(name: string, spec: HostSpec): void {
    this.group(name).update(spec);
  }

  /**
   * The pool's hosts are replaced: new tasks go to new hosts of its new spec; every running host is retired and
   * ends with its last task. Returns the paths of the tasks still in the retired hosts.
   */
  replace(name: string, spec: HostSpec): string[] {
    return this.group(name)
      .replace(spec)
      .flatMap((instance) => [...instance.tasks.values()].map((peer) => peer.path));
  }

  /** The pool is gone: no task may start in it; its hosts are retired (each ends with its last task). */
  remove(name: string): void {
    const group = this.group(name);
    this.groups.delete(name);
    for (const instance of group.instances()) group.retire(instance);
  }

  /** The paths of the tasks running in the pool's hosts (retired ones included); none for an unknown pool. */
  tasksIn(name: string): string[] {
    const group = this.groups.get(name);
    if (group === undefined) return [];
    return group.instances().flatMap((instance) => [...instance.tasks.values()].map((peer) => peer.path));
  }

  /** Every pool, as status shows it. */
  status(): HostPoolStatus[] {
    return [...this.groups.values()].map((group) => group.status());
  }

  /** Ends every host (their tasks, if any are left, go `host_down`); resolves when all are gone. */
  async close(): Promise<void> {
    this.closed = true;
    const all = [...this.live];
    this.live.clear();
    await Promise.all(all.map((instance) => instance.close('the tree stopped')));
  }

  private group(name: string): HostGroup {
    const group = this.groups.get(name);
    if (group === undefined) throw new Error(`no host pool '${name}' in the root's hosts`);
    return group;
  }
}
