// A TCP service where every connection is a supervised task: a line-based session (`echo`), one task per
// connection under a simple_one_for_one supervisor. A session that crashes (its handler throws, here on the line
// `crash`) is restarted on the same connection when sessions are `transient` (the client sees the restart and goes
// on), or dropped with its connection when they are `temporary`. `bye` ends a session normally; so does the
// client closing. SIGTERM/SIGINT stop the tree: every session is told, then closed.
//
//   node examples/sessions/service.js [port] [transient|temporary]
import { createServer } from 'node:net';
import { start, supervisor, task } from 'arbor-otp';

const port = Number(process.argv[2] ?? 7070);
const restart = process.argv[3] ?? 'transient';
if (restart !== 'transient' && restart !== 'temporary') throw new Error(`restart must be transient or temporary, got ${restart}`);

/** The open connections, by connection id: a restarted session takes its connection back from here. */
const connections = new Map();

/** One session: reads lines from its connection until the client leaves, says `bye`, or the tree stops. */
async function session({ args, signal, log, bind }) {
  const connectionId = args[0];
  const entry = connections.get(connectionId);
  if (entry === undefined || entry.socket.destroyed) return; // the client left meanwhile: nothing to serve
  const { socket } = entry;
  socket.write(entry.restarts > 0 ? `restarted after: ${entry.lastCrash}\n` : `hello, session ${connectionId}\n`);
  let buffered = '';
  await new Promise((resolve) => {
    // The socket was accepted by the host's server, so its callbacks run in the host's context: bound, they are
    // this session's, and a throw in one ends this session instead of the whole service.
    const onData = bind((chunk) => {
      buffered += chunk;
      for (let nl = buffered.indexOf('\n'); nl >= 0; nl = buffered.indexOf('\n')) {
        const line = buffered.slice(0, nl).trim();
        buffered = buffered.slice(nl + 1);
        // A bug in a callback: the throw escapes the task's own code, and arbor ends this session with it.
        if (line === 'crash') throw new Error(`session ${connectionId} crashed on purpose`);
        if (line === 'bye') {
          socket.end('bye\n');
          return done();
        }
        socket.write(`echo: ${line}\n`);
      }
    });
    const done = () => {
      socket.off('data', onData);
      socket.off('close', done);
      signal.removeEventListener('abort', done);
      resolve();
    };
    socket.setEncoding('utf8');
    socket.on('data', onData);
    socket.on('close', done);
    // Stopped by the tree (shutdown), or given up on: let go of the connection's listeners.
    signal.addEventListener('abort', done);
  });
  log.debug({ connectionId }, 'session ended');
}

const tree = await start(supervisor({
  children: [supervisor({
    id: 'sessions',
    strategy: 'simple_one_for_one',
    intensity: 50,
    period: 1000,
    template: task({ id: 'session', restart, shutdown: 1000, run: session }),
  })],
}), {
  logger: false,
  on: {
    child_exited: (e) => {
      const entry = [...connections.values()].find((c) => c.child === e.child);
      console.log(`exited   ${e.supervisor}/${e.child} ${JSON.stringify(e.reason.error ?? e.reason)} → ${e.action}`);
      if (entry === undefined) return;
      if (e.action === 'restart') {
        entry.restarts += 1;
        entry.lastCrash = e.reason.error ?? JSON.stringify(e.reason);
      } else if (e.action === 'remove' || e.action === 'keep_stopped') {
        // The session is over: a crashed temporary one is dropped with its connection.
        if (e.reason !== 'normal') entry.socket.end(`session dropped: ${e.reason.error ?? JSON.stringify(e.reason)}\n`);
        connections.delete(entry.id);
      }
    },
  },
});

let nextId = 0;
const server = createServer(async (socket) => {
  const id = String(++nextId);
  socket.on('error', () => undefined); // a client resetting its connection is the session's end, not ours
  const entry = { id, socket, restarts: 0, lastCrash: undefined, child: undefined };
  connections.set(id, entry);
  const info = await tree.startChild('root/sessions', [id]);
  entry.child = info.id;
  console.log(`started  root/sessions/${info.id} for connection ${id}`);
});
server.listen(port, '127.0.0.1', () => console.log(`listening on 127.0.0.1:${server.address().port} (sessions ${restart})`));

const stop = async () => {
  server.close();
  for (const { socket } of connections.values()) socket.write('server shutting down\n');
  const reason = await tree.stop();
  for (const { socket } of connections.values()) socket.end();
  console.log(`stopped (${reason})`);
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
