// Latency quantiles of a whole chaos run in bounded memory: a histogram with logarithmic buckets, each 1% wider
// than the one before, so any quantile it answers is within 1% of the exact one, whatever the request count.

/** Each bucket's upper bound is this factor times its lower bound. */
const GROWTH = 1.01;
/** Latencies at or below this (ms) share the first bucket. */
const FLOOR_MS = 0.01;
const LOG_GROWTH = Math.log(GROWTH);

export class LatencyHistogram {
  private readonly counts = new Map<number, number>();
  private total = 0;

  get count(): number {
    return this.total;
  }

  record(ms: number): void {
    if (!Number.isFinite(ms)) return;
    const bucket = ms <= FLOOR_MS ? 0 : Math.ceil(Math.log(ms / FLOOR_MS) / LOG_GROWTH);
    this.counts.set(bucket, (this.counts.get(bucket) ?? 0) + 1);
    this.total += 1;
  }

  /** The latency below which a fraction `q` of the recorded ones fall (nearest rank), within 1%; null when empty. */
  quantile(q: number): number | null {
    if (this.total === 0) return null;
    const rank = Math.max(1, Math.ceil(q * this.total));
    let seen = 0;
    for (const bucket of [...this.counts.keys()].sort((a, b) => a - b)) {
      seen += this.counts.get(bucket)!;
      if (seen >= rank) return bucket === 0 ? FLOOR_MS : FLOOR_MS * GROWTH ** bucket;
    }
    return null;
  }
}
