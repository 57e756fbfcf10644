// A tree for `arbor run examples/workers/spec.js`: two tickers, and a pool of jobs started at run time
// (`arbor start-child root/jobs <name>`). No listener, so no port is needed.
import { fileURLToPath } from 'node:url';
import { supervisor, worker } from 'arbor-otp';

const ticker = fileURLToPath(new URL('./ticker.js', import.meta.url));

export default supervisor({
  id: 'root',
  strategy: 'one_for_one',
  intensity: 5,
  period: 10_000,
  children: [
    worker({ id: 'ticker-a', module: ticker, args: ['a'] }),
    worker({ id: 'ticker-b', module: ticker, args: ['b'] }),
    supervisor({
      id: 'jobs',
      strategy: 'simple_one_for_one',
      intensity: 10,
      period: 10_000,
      // Each job is a ticker named by start-child's args; a job that stops normally stays stopped.
      template: worker({ id: 'job', module: ticker, restart: 'transient', args: ['job'] }),
    }),
  ],
});
