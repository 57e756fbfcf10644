// Request/reply over node's IPC as users hand-write it: send { id, message } to each worker in turn, match the
// reply to its caller by id. `workers` are anything with send(message) and on('message').
export function roundTrips(workers) {
  const pending = new Map();
  let nextId = 0;
  let turn = 0;
  for (const w of workers) {
    w.on('message', (reply) => {
      const waiter = pending.get(reply?.id);
      if (waiter === undefined) return;
      pending.delete(reply.id);
      waiter(reply.message);
    });
  }
  return (message) =>
    new Promise((resolve) => {
      const id = ++nextId;
      pending.set(id, resolve);
      workers[turn++ % workers.length].send({ id, message });
    });
}

/** Resolves once the worker says its message listener is installed ('online' comes before an ES module runs). */
export const listening = (w) => new Promise((resolve) => w.once('message', resolve));
