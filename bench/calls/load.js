// A closed loop of `callers` concurrent callers, each making one call after another for `seconds`: calls/s and
// latency percentiles. `call(message)` is whatever the configuration measures (tree.call, or cluster round trips).
import { percentile } from '../lib/stats.js';

const now = () => performance.now();

export async function closedLoop(call, { seconds, callers, warmup }) {
  const run = async (ms, latencies) => {
    const end = now() + ms;
    let calls = 0;
    let errors = 0;
    await Promise.all(Array.from({ length: callers }, async (_, caller) => {
      for (let seq = 0; now() < end; seq++) {
        const message = { caller, seq, payload: 'x'.repeat(64) };
        const t0 = now();
        try {
          const reply = await call(message);
          if (reply?.caller !== caller || reply?.seq !== seq) errors++;
        } catch {
          errors++;
        }
        latencies?.push(now() - t0);
        calls++;
      }
    }));
    return { calls, errors };
  };
  const warm = warmup > 0 ? await run(warmup * 1000) : { calls: 0 };
  const latencies = [];
  const started = now();
  const { calls, errors } = await run(seconds * 1000, latencies);
  const elapsed = (now() - started) / 1000;
  return {
    callsPerSecond: calls / elapsed, calls, errors, p50: percentile(latencies, 50), p99: percentile(latencies, 99),
    /** Warm-up included: what the CPU measured around the whole run is divided by. */
    totalCalls: calls + warm.calls,
  };
}

/** Launcher side: measures when the bench asks ({ type: 'measure', seconds, callers, warmup }) and reports the result. */
export function answerMeasure(call) {
  process.on('message', async (m) => {
    if (m?.type !== 'measure') return;
    const result = await closedLoop(call, m);
    process.send({ type: 'result', result });
  });
}
