// Reads of the tree over the control socket (status, which, count) cost the supervisor's loop in proportion to the
// tree: a status of 10,000 dynamic subtrees is tens of milliseconds, and its JSON up to a megabyte. Clients are
// untrusted, so one serialised answer per request kind is shared by every request asking for it until the tree
// changes (any event of the tree), and a new one is built at most once per ten times what the last one cost:
// requests arriving meanwhile wait for it (their connection holds no other work), so however many clients read,
// these reads take at most about a tenth of the loop. A read after a change still sees the change; what changes
// without an event (uptimes, parked spares, a drain's progress) is at most MAX_AGE_MS old, or one rebuild's wait.
import type { Tree } from '../supervisor/tree.js';
import { boundedJson, type Bounds } from './bounded.js';

const COST_FACTOR = 10;
/** Answers kept at once (one per op and path asked for). */
const MAX_KEPT = 64;
/** An answer is rebuilt after this long even without an event, once its cost allows. */
const MAX_AGE_MS = 500;

export class SharedReads {
  private readonly kept = new Map<string, { text: string | undefined; builtAt: number }>();
  private followed: Tree | undefined;
  private readonly forget = (): void => this.kept.clear();
  /** performance.now() before which no new answer is built. */
  private readyAt = 0;

  /** The bounded JSON of `read()`'s result, shared while the tree does not change; undefined if it cannot be bounded. */
  async json(tree: Tree, key: string, read: () => unknown, bounds: Bounds): Promise<string | undefined> {
    this.follow(tree);
    for (;;) {
      const kept = this.kept.get(key);
      const now = performance.now();
      if (kept && now - kept.builtAt < MAX_AGE_MS) return kept.text;
      const wait = this.readyAt - now;
      if (wait <= 0) break;
      // Too soon to build again: an aged answer is still served rather than waited for.
      if (kept) return kept.text;
      await new Promise((resolve) => setTimeout(resolve, wait));
    }
    const started = performance.now();
    const text = boundedJson(read(), bounds); // a read that throws (not_found) answers that request alone
    const now = performance.now();
    this.readyAt = now + (now - started) * COST_FACTOR;
    if (this.kept.size >= MAX_KEPT) this.kept.clear();
    this.kept.set(key, { text, builtAt: now });
    return text;
  }

  close(): void {
    this.followed?.off('event', this.forget as (...args: unknown[]) => void);
    this.followed = undefined;
    this.kept.clear();
  }

  private follow(tree: Tree): void {
    if (this.followed === tree) return;
    this.close();
    tree.on('event', this.forget);
    this.followed = tree;
  }
}
