// The HTTP load of a chaos run: `concurrency` loops, each sending one GET after another until the deadline. Every
// request opens a NEW connection (no agent, no keep-alive): that is what shows a refused connection while a
// worker restarts, where a pooled connection would hide it.
import http from 'node:http';

/** The ways a request of a chaos run can fail, as counted in its report. */
export const FAILURE_KINDS = ['refused', 'reset', 'timeout', 'non2xx', 'other'] as const;
/** How a request failed: refused, reset, timeout, non2xx (an answer that was not 2xx), other. */
export type FailureKind = (typeof FAILURE_KINDS)[number];

export interface LoadCounts {
  sent: number;
  /** Answered with a 2xx status and a complete body. */
  answered: number;
  errors: Record<FailureKind, number>;
  inFlight: number;
}

/** One finished request, as its observers see it (times from performance.now()). */
export interface RequestOutcome {
  startedAt: number;
  endedAt: number;
  failure: FailureKind | undefined;
}

export interface LoadOptions {
  url: URL;
  concurrency: number;
  /** A request not answered within this many ms is abandoned and counted as a timeout. */
  timeoutMs: number;
  onOutcome?: (outcome: RequestOutcome) => void;
}

/** How many messages of unexpected errors the report keeps, to explain an `other` count. */
const MAX_SAMPLES = 5;

export class LoadDriver {
  readonly counts: LoadCounts = {
    sent: 0,
    answered: 0,
    errors: { refused: 0, reset: 0, timeout: 0, non2xx: 0, other: 0 },
    inFlight: 0,
  };
  /** A few messages of `other` errors and of non-2xx statuses. */
  readonly samples: string[] = [];
  private stopped = false;

  constructor(private readonly options: LoadOptions) {
    if (options.url.protocol !== 'http:')
      throw new Error(`the load driver speaks http only, not ${options.url.protocol}`);
  }

  /** Sends requests until `deadline` (a performance.now() time) or stop(); resolves once none is in flight. */
  async run(deadline: number): Promise<void> {
    const loop = async (): Promise<void> => {
      while (!this.stopped && performance.now() < deadline) await this.requestOnce();
    };
    await Promise.all(Array.from({ length: this.options.concurrency }, loop));
  }

  /** No new request after this; those in flight finish or time out. */
  stop(): void {
    this.stopped = true;
  }

  private async requestOnce(): Promise<void> {
    const startedAt = performance.now();
    this.counts.sent += 1;
    this.counts.inFlight += 1;
    const failure = await this.get();
    this.counts.inFlight -= 1;
    if (failure === undefined) this.counts.answered += 1;
    else this.counts.errors[failure] += 1;
    this.options.onOutcome?.({ startedAt, endedAt: performance.now(), failure });
  }

  /** One GET on a new connection: resolves with undefined for a complete 2xx answer, else with what went wrong. */
  private get(): Promise<FailureKind | undefined> {
    const { url, timeoutMs } = this.options;
    return new Promise((resolve) => {
      let settled = false;
      const settle = (failure: FailureKind | undefined): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve(failure);
      };
      const request = http.get(url, { agent: false, headers: { connection: 'close' } }, (response) => {
        const status = response.statusCode ?? 0;
        response.on('error', (error) => settle(this.classify(error)));
        response.on('end', () => {
          if (status >= 200 && status < 300) return settle(undefined);
          this.sample(`HTTP ${status}`);
          settle('non2xx');
        });
        response.resume();
      });
      request.on('error', (error) => settle(this.classify(error)));
      const timer = setTimeout(() => {
        settle('timeout');
        request.destroy();
      }, timeoutMs);
    });
  }

  private classify(error: NodeJS.ErrnoException): FailureKind {
    if (error.code === 'ECONNREFUSED') return 'refused';
    if (
      error.code === 'ECONNRESET' ||
      error.code === 'EPIPE' ||
      error.message === 'socket hang up' ||
      error.message === 'aborted'
    ) {
      return 'reset';
    }
    this.sample(`${error.code ?? 'error'}: ${error.message}`);
    return 'other';
  }

  private sample(text: string): void {
    if (this.samples.length < MAX_SAMPLES && !this.samples.includes(text)) this.samples.push(text);
  }
}
