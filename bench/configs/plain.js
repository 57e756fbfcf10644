// A single plain node process serving the bench app itself: no supervisor, no IPC, no socket sharing.
import { createApp } from '../worker-app.js';
import { onStop, report } from './ipc.js';

const server = createApp();
onStop(() => new Promise((resolve) => {
  server.close(() => resolve());
  server.closeAllConnections();
}));
server.listen(0, '127.0.0.1', () => report({ type: 'ready', port: server.address().port, pids: [process.pid] }));
