// Answers of the control socket are built from whatever the tree holds (exit reasons, stacks, details a worker
// chose), so their size is not ours to choose. boundedJson() serialises any value into at most `maxBytes` of JSON in
// one walk, without ever building the whole thing: long strings are cut with a marker, what does not fit is
// omitted with a marker, and what JSON cannot hold (cycles, BigInt, throwing getters or toJSON) becomes a marker.

export interface Bounds {
  /** Longest string kept whole, in characters; longer ones keep their start and a `…[+N chars]` marker. */
  maxString: number;
  /** Budget for the whole text, in bytes (UTF-8 upper bound). */
  maxBytes: number;
  /** Objects nested deeper than this are replaced by a marker. */
  maxDepth?: number;
}

/** A string longer than `max` characters, cut at `max` with a marker saying how much was dropped. */
export function clipString(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max)}…[+${text.length - max} chars]` : text;
}

class BudgetExhausted extends Error {}

/**
 * JSON text of `value` within `bounds.maxBytes`, or undefined when even its markers do not fit (a budget smaller
 * than a few dozen bytes). Never throws for any input.
 */
export function boundedJson(value: unknown, bounds: Bounds): string | undefined {
  const maxDepth = bounds.maxDepth ?? 32;
  // Space kept aside so the closing brackets and an omission marker at every level always fit.
  const reserve = Math.min(64 + maxDepth * 64, Math.floor(bounds.maxBytes / 4));
  let used = 0;
  const out: string[] = [];
  const seen = new Set<object>();
  const emit = (text: string): void => {
    used += Buffer.byteLength(text);
    out.push(text);
  };
  const fits = (text: string): boolean => used + Buffer.byteLength(text) + reserve <= bounds.maxBytes;

  const walk = (v: unknown, depth: number): void => {
    if (used + reserve > bounds.maxBytes) throw new BudgetExhausted();
    if (typeof v === 'object' && v !== null && typeof (v as { toJSON?: unknown }).toJSON === 'function') {
      try {
        v = (v as { toJSON: () => unknown }).toJSON();
      } catch {
        v = '[unserializable]';
      }
    }
    if (v === null || typeof v === 'boolean') return emit(String(v));
    if (typeof v === 'number') return emit(Number.isFinite(v) ? String(v) : `"${String(v)}"`);
    if (typeof v === 'bigint') return emit(`"${v}n"`);
    if (typeof v === 'string') {
      const text = JSON.stringify(clipString(v, bounds.maxString));
      if (fits(text)) return emit(text);
      const room = Math.floor((bounds.maxBytes - used - reserve) / 3) - 40; // UTF-8: at most 3 bytes a unit
      if (room <= 0) throw new BudgetExhausted();
      return emit(JSON.stringify(clipString(v, Math.min(room, bounds.maxString))));
    }
    if (typeof v !== 'object' || v === undefined) return emit('null'); // functions, symbols, undefined in arrays
    if (seen.has(v)) return emit('"[cycle]"');
    if (depth >= maxDepth) return emit('"[too deep]"');
    seen.add(v);
    try {
      if (Array.isArray(v)) walkArray(v, depth);
      else walkObject(v as Record<string, unknown>, depth);
    } finally {
      seen.delete(v);
    }
  };

  const walkArray = (items: unknown[], depth: number): void => {
    emit('[');
    for (let i = 0; i < items.length; i++) {
      const mark = out.length;
      const before = used;
      try {
        if (i > 0) emit(',');
        walk(items[i], depth + 1);
      } catch (error) {
        if (!(error instanceof BudgetExhausted)) throw error;
        out.length = mark;
        used = before;
        emit(`${i > 0 ? ',' : ''}"[${items.length - i} more omitted]"`);
        break;
      }
    }
    emit(']');
  };

  const walkObject = (object: Record<string, unknown>, depth: number): void => {
    emit('{');
    let keys: string[];
    try {
      keys = Object.keys(object);
    } catch {
      keys = [];
    }
    let written = 0;
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i]!;
      let field: unknown;
      try {
        field = object[key];
      } catch {
        field = '[unserializable]';
      }
      if (field === undefined || typeof field === 'function' || typeof field === 'symbol') continue;
      const mark = out.length;
      const before = used;
      try {
        const name = JSON.stringify(clipString(key, 256));
        if (!fits(name)) throw new BudgetExhausted();
        emit(`${written > 0 ? ',' : ''}${name}:`);
        walk(field, depth + 1);
        written += 1;
      } catch (error) {
        if (!(error instanceof BudgetExhausted)) throw error;
        out.length = mark;
        used = before;
        emit(`${written > 0 ? ',' : ''}"…":"[${keys.length - i} more fields omitted]"`);
        break;
      }
    }
    emit('}');
  };

  try {
    walk(value, 0);
  } catch {
    return undefined;
  }
  const text = out.join('');
  return Buffer.byteLength(text) <= bounds.maxBytes ? text : undefined;
}
