// The launcher side of the bench protocol. Launcher → bench: { type: 'ready', port, pids },
// { type: 'event', name: 'exit' | 'fork' | 'ready', pid, t }. Bench → launcher: { type: 'stop' }.
// A launcher whose bench is gone (IPC closed) stops at once, so no configuration outlives the bench.
export const now = () => performance.timeOrigin + performance.now();

export function report(message) {
  if (process.connected) process.send(message);
}

export function event(name, pid, detail) {
  report({ type: 'event', name, pid, t: now(), ...(detail !== undefined ? { detail } : {}) });
}

/** `stop` runs once, when the bench asks or disappears; the process exits when it resolves (or after 3 s). */
export function onStop(stop) {
  let stopping = false;
  const run = () => {
    if (stopping) return;
    stopping = true;
    setTimeout(() => process.exit(0), 3000).unref();
    Promise.resolve()
      .then(stop)
      .finally(() => process.exit(0));
  };
  process.on('message', (message) => {
    if (message?.type === 'stop') run();
  });
  process.on('disconnect', run);
  process.on('SIGTERM', run);
}
