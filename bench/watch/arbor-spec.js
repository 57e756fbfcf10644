// The watch bench's tree: one listener on $PORT and one worker running app.js beside this spec (a dev setup).
import { listener, supervisor, worker } from '__ARBOR__';

export default supervisor({
  strategy: 'rest_for_one',
  children: [
    listener({ id: 'http', port: Number(process.env.PORT) }),
    worker({ id: 'web', module: './app.js', listen: 'http', env: { ARBOR_WORKER: '1' } }),
  ],
});
