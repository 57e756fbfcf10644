// A job worker: computes a job in steps, reporting progress to the service with send(); the reply to the
// service's call is the result. A job may ask it to crash mid-way (to show what the service does about that).
import { onMessage, ready, send } from 'arbor-otp/worker';

const step = () => new Promise((resolve) => setTimeout(resolve, 10));

onMessage(async (job) => {
  let sum = 0;
  for (let i = 1; i <= job.size; i++) {
    await step();
    sum += i;
    send({ id: job.id, percent: Math.round((i / job.size) * 100) });
    if (job.crash && i === Math.ceil(job.size / 2)) crash(job.crash);
  }
  return { id: job.id, sum, pid: process.pid };
});
ready();

function crash(how) {
  if (how === 'sigkill') process.kill(process.pid, 'SIGKILL');
  if (how === 'exit') process.exit(3);
  setImmediate(() => {
    throw new Error('job worker crashed mid-job');
  });
}
