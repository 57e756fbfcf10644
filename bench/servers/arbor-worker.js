// An arbor worker: serves the bench app on the socket its supervisor's listener hands it (shared or round_robin).
// Imports are dynamic only so that the start-up marks can see how long each one takes.
const entry = performance.timeOrigin + performance.now();
const { startMarks } = await import('./marks.js');
const marks = startMarks(entry);
const { serve } = await import('arbor-otp/worker');
marks.mark('runtimeLoaded');
const { createApp } = await import('../worker-app.js');
marks.mark('appLoaded');

const server = createApp();
server.once('listening', () => marks.mark('listening'));
await serve(server);
marks.mark('ready');
marks.flush();
