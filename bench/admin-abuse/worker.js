// A worker that is ready at once and idles until it is killed.
import { ready } from 'arbor-otp/worker';

ready();
setInterval(() => {}, 1 << 30);
