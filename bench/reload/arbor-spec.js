// arbor for the reload bench: a listener on 127.0.0.1:$PORT ($MODE: shared or round_robin) and a pool of
// $WORKERS workers running the deployed app ($APP), each with the same drain budget as the others ($ARBOR_DRAIN_BUDGET ms of shutdown).
import { listener, supervisor, worker } from 'arbor-otp';

const size = Number(process.env.WORKERS ?? 2);

export default supervisor({
  id: 'root',
  strategy: 'rest_for_one',
  children: [
    listener({ id: 'http', host: '127.0.0.1', port: Number(process.env.PORT), mode: process.env.MODE === 'round_robin' ? 'round_robin' : 'shared' }),
    supervisor({
      id: 'pool',
      intensity: 5,
      period: 10_000,
      children: Array.from({ length: size }, (_, i) =>
        worker({ id: `web-${i + 1}`, module: process.env.APP, listen: 'http', shutdown: Number(process.env.ARBOR_DRAIN_BUDGET ?? 3000), startTimeout: 10_000 }),
      ),
    }),
  ],
});
