// A thread child for bench:light: ready at once; cast `crash` → an uncaught exception (the thread ends).
import { onMessage, ready } from 'arbor-otp/worker';

onMessage((message) => {
  if (message === 'crash') {
    setImmediate(() => {
      throw new Error('crash');
    });
  }
});
await ready();
