// A parked worker process: node has booted (most of a restart's cost) and waits, running no user code, until its
// supervisor tells it which worker to become. Then it takes that worker's argv and env and imports its module.
import { pathToFileURL } from 'node:url';

interface Become {
  type: 'arbor:become';
  module: string;
  args: string[];
  env: Record<string, string>;
}

function isBecome(raw: unknown): raw is Become {
  if (raw === null || typeof raw !== 'object') return false;
  const m = raw as Record<string, unknown>;
  return (
    m.type === 'arbor:become' &&
    typeof m.module === 'string' &&
    Array.isArray(m.args) && m.args.every((a) => typeof a === 'string') &&
    m.env !== null && typeof m.env === 'object' &&
    Object.values(m.env as object).every((v) => typeof v === 'string')
  );
}

// A parked process never outlives its supervisor.
const leave = () => process.exit(0);
process.once('disconnect', leave);

// `once`: after this message there is no 'message' listener until the worker's own code adds one, so node holds
// the messages that follow (the listener's handle) instead of dropping them.
process.once('message', (raw: unknown) => {
  if (!isBecome(raw)) process.exit(70);
  process.off('disconnect', leave);
  Object.assign(process.env, raw.env);
  process.argv = [process.argv[0]!, raw.module, ...raw.args];
  import(pathToFileURL(raw.module).href).catch((error: unknown) => {
    // As node would report a module that fails to load: the supervisor sees an abnormal exit before ready.
    console.error(error);
    process.exit(1);
  });
});
process.send?.({ type: 'arbor:parked' });
