// arbor for the chaos bench: a shared listener on 127.0.0.1:$PORT and a pool of $WORKERS app.js workers
// (standby workers with ARBOR_STANDBY=1).
import { fileURLToPath } from 'node:url';
import { listener, supervisor, worker } from 'arbor-otp';

const size = Number(process.env.WORKERS ?? 1);

function standbyOption(value = '0') {
  if (value === '0') return false;
  if (value === '1') return true;
  const [mode, count = '1'] = value.split(':');
  return { mode, count: Number(count) };
}

export default supervisor({
  id: 'root',
  strategy: 'rest_for_one',
  children: [
    listener({ id: 'http', host: '127.0.0.1', port: Number(process.env.PORT), mode: 'shared' }),
    supervisor({
      id: 'pool',
      strategy: 'one_for_one',
      // The bench kills a worker every second on purpose: a pool that gave up would end the measurement.
      intensity: 1000,
      period: 10_000,
      children: Array.from({ length: size }, (_, i) =>
        worker({
          id: `web-${i + 1}`,
          module: fileURLToPath(new URL('./app.js', import.meta.url)),
          listen: 'http',
          shutdown: 2000,
          env: { ARBOR_CHAOS: '1' },
          // ARBOR_STANDBY=1: restarts take over a parked, already booted node process (warm); `hot`: one that has
          // loaded app.js too and waits in serve(); `hot:2`, `warm:2`: that many spares.
          standby: standbyOption(process.env.ARBOR_STANDBY),
        }),
      ),
    }),
  ],
});
