// The supervisor's side of one task incarnation that runs in a task host (a pool of the root's `hosts`): placed in
// a host at start, then started, stopped, called and cast over the host's channel. Its exits are those of an inline
// task (./handle.ts) — the host runs it with the same code — plus `{ host_down }` when its host dies. The supervisor
// times its shutdown here: when `shutdown` ms pass, the task is abandoned (the host forgets it; its code may run on).
import { StartFailure, type ChildContext, type ChildHandle } from '../child.js';
import { CallError, type CallErrorCode } from '../call-error.js';
import type { FromHost } from '../host-protocol.js';
import type { ChaosFault } from '../protocol.js';
import { TaskIncarnation } from '../task-incarnation.js';
import type { ExitReason, HostedTaskSpec, Shutdown } from '../types.js';
import type { HostInstance, HostedPeer } from './host-instance.js';
import type { HostPool } from './host-pool.js';

const LEVELS: Record<number, 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal'> = {
  10: 'trace',
  20: 'debug',
  30: 'info',
  40: 'warn',
  50: 'error',
  60: 'fatal',
};
const CALL_CODES: readonly string[] = ['not_running', 'no_handler', 'timeout', 'handler_failed', 'exited', 'too_large'];

/** Where a task of a host pool runs: what whichChildren and status show. */
export interface HostPlacement {
  /** The pool's name. */
  name: string;
  /** Which incarnation of the pool's hosts it runs in (counting from 1), while it runs. */
  incarnation?: number;
  /** The host's pid (a process host). */
  pid?: number;
}

export class HostedTaskHandle extends TaskIncarnation implements ChildHandle, HostedPeer {
  readonly pid = undefined;
  private instance: HostInstance | undefined;
  private n = 0;
  private settleStart: ((failure?: StartFailure) => void) | undefined;
  private nextCall = 0;
  private readonly calls = new Map<number, { resolve: (value: unknown) => void; reject: (error: CallError) => void }>();

  constructor(
    private readonly spec: HostedTaskSpec,
    ctx: ChildContext,
    private readonly pool: HostPool | undefined,
  ) {
    super(ctx);
  }

  /** Its path in the tree (its host names it so to a reload). */
  get path(): string {
    return this.ctx.path;
  }

  /** The host it runs in, while it does. */
  get placement(): HostPlacement | undefined {
    const instance = this.instance;
    if (instance === undefined || this.phase === 'gone') return undefined;
    return {
      name: instance.name,
      incarnation: instance.incarnation,
      ...(instance.pid !== undefined ? { pid: instance.pid } : {}),
    };
  }

  start(): Promise<void> {
    if (this.phase !== 'idle' || this.stopRequested)
      return Promise.reject(new StartFailure({ startFailed: 'terminated before start' }));
    if (this.pool === undefined)
      return Promise.reject(new StartFailure({ startFailed: `no task hosts in this tree (host '${this.spec.host}')` }));
    let placed: { instance: HostInstance; n: number };
    try {
      placed = this.pool.place(this.spec.host, this);
    } catch (error) {
      return Promise.reject(new StartFailure({ startFailed: (error as Error).message }));
    }
    this.phase = 'starting';
    this.instance = placed.instance;
    this.n = placed.n;
    const started = new Promise<void>((resolve, reject) => {
      this.settleStart = (failure) => {
        this.settleStart = undefined;
        if (failure === undefined) resolve();
        else reject(failure);
      };
    });
    placed.instance.ready.then(
      () => {
        if (this.phase !== 'starting') return;
        const sent = this.instance!.send({
          t: 'start',
          n: this.n,
          path: this.ctx.path,
          id: this.spec.id,
          module: this.spec.module,
          export: this.spec.export ?? 'default',
          args: this.spec.args,
        });
        if (!sent) this.failStart({ startFailed: 'its host could not be reached' });
      },
      () => undefined, // hostDown() fails the start
    );
    return started;
  }

  protected get shutdown(): Shutdown {
    return this.spec.shutdown;
  }

  protected stopRunning(shutdown: number | 'infinity'): Promise<ExitReason> {
    if (this.phase === 'starting') {
      this.instance?.send({ t: 'abandon', n: this.n });
      this.failStart({ startFailed: 'terminated before start' });
      return this.settleNow('shutdown');
    }
    this.phase = 'stopping';
    this.instance?.send({ t: 'stop', n: this.n });
    return this.goneWithin(shutdown, () => this.instance?.send({ t: 'abandon', n: this.n }));
  }

  /** Abandons the task now: the host aborts its signal and forgets it; whatever it still runs is not reclaimed. */
  kill(): Promise<ExitReason> {
    this.stopRequested = true;
    if (this.phase === 'gone') return Promise.resolve(this.exitReason!);
    if (this.phase === 'starting') this.failStart({ startFailed: 'terminated before start' });
    this.instance?.send({ t: 'abandon', n: this.n });
    return this.settleNow({ abandoned: 'brutal_kill' });
  }

  /**
   * Chaos testing: `throw` and `exit` hit the task in its host, as for an inline task; `hang` and `memory` hit the
   * host itself (a busy loop, growing memory), so its heartbeat or memory limit takes it and every task in it down.
   */
  inject(fault: ChaosFault): boolean {
    if (!this.available) return false;
    switch (fault) {
      case 'throw':
      case 'exit':
        return this.instance!.send({ t: 'chaos', n: this.n, fault });
      case 'hang':
      case 'memory':
        return this.instance!.send({ t: 'chaos', fault });
      case 'sigterm-self':
        throw new CallError(
          'not_found',
          `'${this.ctx.path}' is a task in host '${this.spec.host}': a signal would hit the host, not the task`,
        );
    }
  }

  get available(): boolean {
    return this.phase === 'running';
  }

  get pendingCalls(): number {
    return this.calls.size;
  }

  call(message: unknown, timeoutMs: number): Promise<unknown> {
    if (!this.available) return Promise.reject(new CallError('not_running', `'${this.ctx.path}' is not running`));
    const c = ++this.nextCall;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => fail(new CallError('timeout', `'${this.ctx.path}' did not reply within ${timeoutMs} ms`)),
        timeoutMs,
      );
      const fail = (error: CallError): void => {
        clearTimeout(timer);
        this.calls.delete(c);
        reject(error);
      };
      this.calls.set(c, {
        resolve: (value) => {
          clearTimeout(timer);
          this.calls.delete(c);
          resolve(value);
        },
        reject: fail,
      });
      const sent = this.instance!.send({ t: 'call', n: this.n, c, message, timeout: timeoutMs });
      if (!sent) fail(new CallError('not_running', `'${this.ctx.path}': the message could not reach its host`));
    });
  }

  cast(message: unknown): void {
    if (!this.available) throw new CallError('not_running', `'${this.ctx.path}' is not running`);
    if (!this.instance!.send({ t: 'cast', n: this.n, message }))
      throw new CallError('not_running', `'${this.ctx.path}': the message could not reach its host`);
  }

  fromHost(message: Exclude<FromHost, { t: 'ready' | 'pong' }>): void {
    switch (message.t) {
      case 'started':
        if (this.phase !== 'starting') return;
        this.phase = 'running';
        this.settleStart?.();
        return;
      case 'start_failed':
        this.failStart({ startFailed: message.why });
        this.end({ startFailed: message.why });
        return;
      case 'exit':
        if (this.phase === 'starting') {
          this.failStart({ startFailed: `exited before it started: ${JSON.stringify(message.reason)}` });
          return void this.settleNow(message.reason);
        }
        this.end(message.reason);
        return;
      case 'reply': {
        const waiting = this.calls.get(message.c);
        if (waiting === undefined) return;
        if (message.ok) waiting.resolve(message.value);
        else {
          const code = (CALL_CODES.includes(message.code) ? message.code : 'handler_failed') as CallErrorCode;
          waiting.reject(new CallError(code, message.message || `'${this.ctx.path}': ${code}`));
        }
        return;
      }
      case 'send':
        if (this.phase === 'running' || this.phase === 'stopping')
          this.ctx.onWorkerMessage?.(message.message, undefined);
        return;
      case 'log':
        this.log(message.line);
        return;
    }
  }

  hostDown(why: string): void {
    if (this.phase === 'starting') {
      this.failStart({ host_down: why });
      this.end({ host_down: why });
      return;
    }
    this.end({ host_down: why });
  }

  /** A line of the task's `log`, from its host: logged by the tree's logger for this task, at its level. */
  private log(line: string): void {
    let record: Record<string, unknown>;
    try {
      record = JSON.parse(line) as Record<string, unknown>;
    } catch {
      this.ctx.logger.info({ event: 'task_log', line });
      return;
    }
    if (record === null || typeof record !== 'object' || Array.isArray(record)) return;
    const { level, msg, time: _time, arborTask: _task, pid: _pid, hostname: _hostname, ...fields } = record;
    const name = LEVELS[level as number] ?? 'info';
    if (typeof msg === 'string') this.ctx.logger[name](fields, msg);
    else this.ctx.logger[name](fields);
  }

  private failStart(reason: ExitReason): void {
    this.settleStart?.(new StartFailure(reason));
  }

  /** Its end: its host forgets it, pending calls fail. */
  protected release(reason: ExitReason): void {
    this.instance?.forget(this.n);
    for (const waiting of [...this.calls.values()])
      waiting.reject(new CallError('exited', `'${this.ctx.path}' exited before replying`, reason));
    this.calls.clear();
  }
}
