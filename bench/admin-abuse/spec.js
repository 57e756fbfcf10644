// The tree of bench:admin-abuse: `rooms` starts empty subtrees (a supervisor each, no process, so 10,000 fit on a
// small machine), `w` is the worker SIGKILLed again and again to time its restart.
import { fileURLToPath } from 'node:url';
import { supervisor, worker } from 'arbor-otp';

export default supervisor({
  id: 'root',
  intensity: 100_000,
  period: 1000,
  children: [
    supervisor({ id: 'rooms', strategy: 'simple_one_for_one', intensity: 1000, period: 1000, template: supervisor({ id: 'room', children: [] }) }),
    worker({ id: 'w', module: fileURLToPath(new URL('./worker.js', import.meta.url)), shutdown: 'brutal_kill' }),
  ],
});
