// A token bucket: at most `perSecond` messages a second on average, bursts of up to `perSecond`. Pure: the caller
// passes the time, so both sides of the IPC channel (and tests) use it the same way.
export interface Bucket {
  tokens: number;
  at: number;
}

export function fullBucket(perSecond: number, now: number): Bucket {
  return { tokens: perSecond, at: now };
}

/** Takes one token if there is one: true when the message may pass. Mutates the bucket. */
export function take(bucket: Bucket, perSecond: number, now: number): boolean {
  const elapsed = Math.max(0, now - bucket.at);
  bucket.tokens = Math.min(perSecond, bucket.tokens + (elapsed * perSecond) / 1000);
  bucket.at = now;
  if (bucket.tokens < 1) return false;
  bucket.tokens -= 1;
  return true;
}
