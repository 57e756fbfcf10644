// node:util, loaded only when a value that is neither an Error nor a string must be shown (error paths): imported at
// start-up it would cost every worker start about 1 ms of CPU, for modules node has not loaded by then.

/** `util.inspect(value, { depth: 2 })`, once node:util is loaded. */
export async function inspectLater(value: unknown): Promise<string> {
  const { inspect } = await import('node:util');
  return inspect(value, { depth: 2 });
}
