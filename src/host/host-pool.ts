// The task hosts of one tree: per pool declared in the root's `hosts`, `size` slots, each holding one host
// incarnation at a time. A task is placed in the slot running the fewest tasks; a slot whose host went down (or
// never started) gets a fresh incarnation when a task next needs it — so the tasks of a dead host, restarted by
// their supervisors, land on a new host. The tree closes the pool when it stops: no host outlives it.
import type { Logger } from 'pino';
import type { HostKind, HostSpec } from '../types.js';
import type { OutputLog } from '../worker/output-log.js';
import { HostInstance, type HostedPeer } from './host-instance.js';

/** What status shows of one host slot. */
export interface HostSlotInfo {
  /** The pool's name. */
  host: string;
  kind: HostKind;
  /** The slot's position in the pool. */
  slot: number;
  /** Which incarnation of the pool's hosts runs in it (counting from 1), if one does. */
  incarnation?: number;
  /** Its pid, for a process host. */
  pid?: number;
  /** Tasks placed in it. */
  tasks: number;
}

class HostGroup {
  readonly slots: Array<HostInstance | undefined>;
  private incarnations = 0;

  constructor(
    readonly name: string,
    readonly spec: HostSpec,
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
      (gone) => {
        const at = this.slots.indexOf(gone);
        if (at >= 0) this.slots[at] = undefined;
      },
      this.output,
    );
    this.slots[best] = instance;
    return instance;
  }
}

const load = (instance: HostInstance | undefined): number => (instance?.running ? instance.tasks.size : 0);

export class HostPool {
  private readonly groups = new Map<string, HostGroup>();
  private closed = false;
  /** Every incarnation not yet gone, for close(). */
  private readonly live = new Set<HostInstance>();

  constructor(hosts: Record<string, HostSpec> | undefined, logger: Logger, output?: OutputLog) {
    for (const [name, spec] of Object.entries(hosts ?? {}))
      this.groups.set(name, new HostGroup(name, spec, logger, output));
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

  /** Every host slot of every pool. */
  describe(): HostSlotInfo[] {
    const slots: HostSlotInfo[] = [];
    for (const group of this.groups.values())
      group.slots.forEach((instance, slot) =>
        slots.push({
          host: group.name,
          kind: group.spec.kind ?? 'process',
          slot,
          ...(instance?.running
            ? {
                incarnation: instance.incarnation,
                ...(instance.pid !== undefined ? { pid: instance.pid } : {}),
                tasks: instance.tasks.size,
              }
            : { tasks: 0 }),
        }),
      );
    return slots;
  }

  /** Ends every host (their tasks, if any are left, go `host_down`); resolves when all are gone. */
  async close(): Promise<void> {
    this.closed = true;
    const all = [...this.live];
    this.live.clear();
    await Promise.all(all.map((instance) => instance.close('the tree stopped')));
  }
}
