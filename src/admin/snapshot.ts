// One status snapshot of the tree shared by every request of the admin endpoint, rebuilt at most once per
// interval: reading the status of a large tree costs the supervisor's loop (≈0.1–0.25 s for 10,000 dynamic
// subtrees), so however many clients ask, the endpoint spends at most about a tenth of the loop on it. The answers
// built from a snapshot (/metrics text, /tree pages) are kept with it and shared, one build each, however many
// requests wait for them.
import type { SupervisorStatus } from '../supervisor/tree.js';

/** A snapshot is rebuilt at most once per this many times its own cost, so the admin plane takes ≤ ~10% of the loop. */
const COST_FACTOR = 10;
/** Answers kept per snapshot (the /metrics text, /tree pages): the newest wins. */
const MAX_ANSWERS = 16;

export interface Snapshot {
  status: SupervisorStatus | undefined;
  /** performance.now() when it was read. */
  at: number;
  generation: number;
}

export class SnapshotCache {
  private current: Snapshot | undefined;
  private interval: number;
  private readonly answers = new Map<string, Promise<Buffer>>();

  constructor(
    private readonly read: () => SupervisorStatus | undefined,
    private readonly minIntervalMs: number,
  ) {
    this.interval = minIntervalMs;
  }

  /** The current snapshot: the last one if it is younger than the interval, else a new one. */
  snapshot(now = performance.now()): Snapshot {
    if (this.current && now - this.current.at < this.interval) return this.current;
    const started = performance.now();
    const status = this.read();
    const cost = performance.now() - started;
    this.interval = Math.max(this.minIntervalMs, cost * COST_FACTOR);
    this.current = { status, at: performance.now(), generation: (this.current?.generation ?? 0) + 1 };
    this.answers.clear();
    return this.current;
  }

  /** The answer named `key` built from the current snapshot, built once and shared by every request asking for it. */
  answer(key: string, build: (snapshot: Snapshot) => Promise<Buffer> | Buffer): Promise<Buffer> {
    const snapshot = this.snapshot();
    const kept = this.answers.get(key);
    if (kept) return kept;
    const built = Promise.resolve().then(() => build(snapshot));
    if (this.answers.size >= MAX_ANSWERS) this.answers.delete(this.answers.keys().next().value!);
    this.answers.set(key, built);
    built.catch(() => this.answers.get(key) === built && this.answers.delete(key));
    return built;
  }

  /** Forgets the snapshot: the next request reads the status again (the tree changed phase). */
  invalidate(): void {
    this.current = undefined;
    this.answers.clear();
  }

  get intervalMs(): number {
    return this.interval;
  }
}
