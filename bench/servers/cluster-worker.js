// A node cluster worker: serves the bench app on $PORT; the cluster primary shares the socket (RR or NONE).
const entry = performance.timeOrigin + performance.now();
const { startMarks } = await import('./marks.js');
const marks = startMarks(entry);
const { createApp } = await import('../worker-app.js');
marks.mark('appLoaded');

const server = createApp();
server.listen(Number(process.env.PORT), '127.0.0.1', () => {
  marks.mark('listening');
  marks.mark('ready');
  marks.flush();
});
// Profiled (bench/profile), a worker must exit, not be killed, for node to write its profile.
if (process.execArgv.some((a) => a.startsWith('--cpu-prof'))) process.on('SIGTERM', () => process.exit(0));
