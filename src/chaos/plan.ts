// The fault schedule of a chaos run: which fault, when, and which worker — all drawn from one seeded PRNG, so a
// run printed with its seed can be replayed. The worker is drawn as a number in [0, 1) and resolved against the
// workers alive at that moment (sorted by path), so the same seed picks the same slot of the pool.

/** Faults a chaos run can inject. Signals are sent by the chaos process; the others go over IPC to the worker. */
export const FAULT_KINDS = ['sigkill', 'sigterm', 'throw', 'exit', 'hang', 'memory', 'kill-all'] as const;
/** A kind of fault: `sigkill`, `sigterm`, `throw`, `exit`, `hang`, `memory`, `kill-all`. */
export type FaultKind = (typeof FAULT_KINDS)[number];

/** One kind of fault in a mix, and how often it is drawn relative to the others. */
export interface MixEntry {
  /** The kind of fault. */
  kind: FaultKind;
  /** Its relative weight (`sigkill:3` is 3). */
  weight: number;
}
/** The kinds of fault a run draws from, with weights (`--mix sigkill:3,throw`). */
export type FaultMix = MixEntry[];

/** One fault of a schedule. */
export interface PlannedFault {
  /** 0-based position in the schedule. */
  index: number;
  /** ms after the start of the run. */
  at: number;
  /** The kind of fault. */
  kind: FaultKind;
  /** In [0, 1): which of the live candidate workers (sorted by path) gets the fault. */
  pick: number;
}

/** What `planFaults` draws a schedule from. */
export interface PlanOptions {
  /** The seed: the same seed gives the same schedule. */
  seed: number;
  /** Faults per second. */
  rate: number;
  /** How long the run lasts, in ms. */
  durationMs: number;
  /** The kinds of fault to draw from. */
  mix: FaultMix;
}

/** A command-line value that cannot be understood; the message names it. */
export class ChaosUsageError extends Error {
  override name = 'ChaosUsageError';
}

/** Limits that keep a run bounded whatever it is asked. */
export const MAX_RATE = 100;
export const MAX_DURATION_MS = 24 * 60 * 60 * 1000;
const MAX_WEIGHT = 1000;

/** The last part of a run has no faults, so the tree can recover before the end-of-run measurements. */
export function quietTailMs(durationMs: number): number {
  return Math.min(4000, Math.floor(durationMs / 4));
}

/** mulberry32: a tiny, fast, well-distributed 32-bit PRNG. Returns numbers in [0, 1). */
export function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A fresh seed, for runs not given one (printed in the report, so the run can be replayed). */
export function randomSeed(): number {
  return Math.floor(Math.random() * 2 ** 31);
}

/** `sigkill:3,throw,exit` → weighted entries; `all` (or empty) → every kind, weight 1. */
export function parseMix(text: string): FaultMix {
  const trimmed = text.trim();
  if (trimmed === '' || trimmed === 'all') return FAULT_KINDS.map((kind) => ({ kind, weight: 1 }));
  const mix: FaultMix = [];
  for (const part of trimmed.split(',')) {
    const [name = '', weightText, ...rest] = part.trim().split(':');
    if (!(FAULT_KINDS as readonly string[]).includes(name) || rest.length > 0) {
      throw new ChaosUsageError(
        `--mix: unknown fault '${part.trim()}'; expected ${FAULT_KINDS.join(', ')} (each with an optional :weight)`,
      );
    }
    const weight = weightText === undefined ? 1 : Number(weightText);
    if (!Number.isInteger(weight) || weight < 1 || weight > MAX_WEIGHT) {
      throw new ChaosUsageError(`--mix: the weight of ${name} must be an integer from 1 to ${MAX_WEIGHT}`);
    }
    if (mix.some((entry) => entry.kind === name)) throw new ChaosUsageError(`--mix: ${name} is listed twice`);
    mix.push({ kind: name as FaultKind, weight });
  }
  return mix;
}

export function formatMix(mix: FaultMix): string {
  return mix.map(({ kind, weight }) => (weight === 1 ? kind : `${kind}:${weight}`)).join(',');
}

/** `30s`, `2m`, `500ms`, or a number of ms. */
export function parseDuration(text: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(text.trim());
  if (!match) throw new ChaosUsageError(`--duration: '${text}' is not a duration (e.g. 30s, 2m, 1500)`);
  const value = Number(match[1]);
  const ms = Math.round(match[2] === 'm' ? value * 60_000 : match[2] === 's' ? value * 1000 : value);
  if (ms < 1000 || ms > MAX_DURATION_MS) throw new ChaosUsageError('--duration must be between 1s and 24h');
  return ms;
}

/**
 * The schedule: faults evenly spaced at `rate` per second, each moved by a seeded jitter of up to a quarter of the
 * interval (so faults do not beat in step with heartbeats or timers), none in the quiet tail.
 */
export function planFaults({ seed, rate, durationMs, mix }: PlanOptions): PlannedFault[] {
  if (!(rate > 0 && rate <= MAX_RATE)) throw new ChaosUsageError(`--rate must be above 0 and at most ${MAX_RATE}`);
  if (mix.length === 0) throw new ChaosUsageError('--mix names no fault');
  const random = mulberry32(seed);
  const interval = 1000 / rate;
  const window = durationMs - quietTailMs(durationMs);
  const totalWeight = mix.reduce((sum, entry) => sum + entry.weight, 0);
  const faults: PlannedFault[] = [];
  const count = Math.floor(window / interval);
  for (let index = 0; index < count; index++) {
    const jitter = (random() - 0.5) / 2;
    const at = Math.round((index + 0.5 + jitter) * interval);
    let draw = random() * totalWeight;
    const entry = mix.find((candidate) => (draw -= candidate.weight) < 0) ?? mix[mix.length - 1]!;
    faults.push({ index, at, kind: entry.kind, pick: random() });
  }
  return faults;
}
