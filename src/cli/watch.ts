// `arbor status --watch`: the live tree redrawn in place every second, like top or pm2 monit — states, pids,
// restarts, uptime, each worker's RSS and CPU, each listener's queued/dropped connections, and the last events.
// On a terminal it draws on the alternate screen and restores the terminal on Ctrl-C; otherwise (a pipe, a log)
// it prints one plain frame after another.
import { setTimeout as sleep } from 'node:timers/promises';
import { ControlError, type ControlClient } from '../control/client.js';
import { EVENT_LOG_CAPACITY, EVENTS_PER_PAGE, type EventsPage, type LoggedEvent } from '../control/event-log.js';
import type { ChildInfo, SupervisorStatus } from '../supervisor/tree.js';
import { formatReason } from '../types.js';
import { renderStatus } from './status-view.js';
import { cpuPercent, readListenQueue, readProcSample, type ListenQueue, type ProcSample } from './watch-proc.js';

export interface WatchOptions {
  client: ControlClient;
  /** Only this supervisor's subtree. */
  path?: string;
  out: NodeJS.WriteStream;
  /** Redraw in place (a terminal) or print frames one after another. */
  tty: boolean;
  intervalMs?: number;
  /** How many recent events each frame shows. Default 5. */
  eventsShown?: number;
}

/** What one frame shows, gathered by the watch loop. */
export interface WatchFrame {
  status: SupervisorStatus;
  /** Worker pid → its latest sample, and CPU % since the one before. */
  procs: ReadonlyMap<number, { sample: ProcSample; cpu: number | undefined }>;
  /** Listener address → the kernel's accept queue (shared mode). */
  listenQueues: ReadonlyMap<string, ListenQueue>;
  events: readonly LoggedEvent[];
  /** Wall-clock time of the frame. */
  now: Date;
  controlPath: string;
}

const ESC = '\x1b[';
const ENTER_SCREEN = `${ESC}?1049h${ESC}?25l`; // alternate screen, cursor hidden
const LEAVE_SCREEN = `${ESC}?25h${ESC}?1049l`;
const HOME = `${ESC}H`;
const CLEAR_LINE_END = `${ESC}K`;
const CLEAR_BELOW = `${ESC}J`;
const MiB = 1024 * 1024;

/** Runs until SIGINT/SIGTERM (exit 0) or until the tree cannot be reached (exit 1). */
export async function watchStatus(options: WatchOptions): Promise<number> {
  const { client, out, tty } = options;
  const intervalMs = options.intervalMs ?? 1000;
  const shown = options.eventsShown ?? 5;
  const stop = new AbortController();
  const onSignal = (): void => stop.abort();
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  if (tty) out.write(ENTER_SCREEN);
  const samples = new Map<number, ProcSample>();
  const recent: LoggedEvent[] = [];
  let cursor = 0;
  let screenLeft = !tty;
  const leaveScreen = (): void => {
    if (!screenLeft) out.write(LEAVE_SCREEN);
    screenLeft = true;
  };
  try {
    while (!stop.signal.aborted) {
      const status = (await client.request('status', options.path ? { path: options.path } : {})) as SupervisorStatus;
      cursor = await readEvents(client, cursor, recent, shown);
      const procs = sampleWorkers(status, samples);
      const frame = renderWatchFrame({
        status,
        procs,
        listenQueues: listenQueues(status),
        events: recent,
        now: new Date(),
        controlPath: client.socketPath,
      });
      out.write(tty ? drawInPlace(frame, out.columns) : `${frame}\n\n`);
      await sleep(intervalMs, undefined, { signal: stop.signal }).catch(() => {});
    }
    return 0;
  } catch (error) {
    if (!(error instanceof ControlError)) throw error;
    leaveScreen(); // first, so the message lands on the normal screen
    process.stderr.write(`${error.code}: ${error.message}\n`);
    return 1;
  } finally {
    leaveScreen();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

/** Reads every event after `cursor` (bounded by the log's size), keeps the last `keep` in `recent`; returns the new cursor. */
async function readEvents(client: ControlClient, cursor: number, recent: LoggedEvent[], keep: number): Promise<number> {
  for (let page = 0; page <= EVENT_LOG_CAPACITY / EVENTS_PER_PAGE; page++) {
    const answer = (await client.request('events', { since: cursor })) as EventsPage;
    cursor = answer.next;
    recent.push(...answer.events);
    recent.splice(0, Math.max(0, recent.length - keep));
    if (answer.events.length < EVENTS_PER_PAGE) break;
  }
  return cursor;
}

function sampleWorkers(
  status: SupervisorStatus,
  samples: Map<number, ProcSample>,
): Map<number, { sample: ProcSample; cpu: number | undefined }> {
  const procs = new Map<number, { sample: ProcSample; cpu: number | undefined }>();
  for (const child of allChildren(status)) {
    if (child.type !== 'worker' || child.pid === undefined) continue;
    const sample = readProcSample(child.pid);
    if (!sample) continue;
    procs.set(child.pid, { sample, cpu: cpuPercent(samples.get(child.pid), sample) });
  }
  samples.clear();
  for (const [pid, { sample }] of procs) samples.set(pid, sample);
  return procs;
}

function listenQueues(status: SupervisorStatus): Map<string, ListenQueue> {
  const queues = new Map<string, ListenQueue>();
  for (const child of allChildren(status)) {
    const address = child.listener?.address;
    if (child.listener?.mode !== 'shared' || address === undefined) continue;
    const queue = readListenQueue(address);
    if (queue) queues.set(address, queue);
  }
  return queues;
}

function allChildren(status: SupervisorStatus): ChildInfo[] {
  return status.children.flatMap((child) => [child, ...(child.supervisor ? allChildren(child.supervisor) : [])]);
}

/** One frame as plain text lines: a header, the tree with live figures, the recent events. */
export function renderWatchFrame(frame: WatchFrame): string {
  const time = clock(frame.now);
  const tree = renderStatus(frame.status, (child) => figuresOf(child, frame)).trimEnd();
  const events =
    frame.events.length === 0
      ? ['  (none yet)']
      : frame.events.map((e) => `  ${clock(new Date(e.time), true)}  ${describeEvent(e)}`);
  return [
    `arbor status --watch  ${frame.controlPath}  ${time}  (Ctrl-C to quit)`,
    '',
    tree,
    '',
    'recent events',
    ...events,
  ].join('\n');
}

function figuresOf(child: ChildInfo, frame: WatchFrame): string[] {
  if (child.type === 'worker' && child.pid !== undefined) {
    const proc = frame.procs.get(child.pid);
    if (!proc) return ['rss -', 'cpu -'];
    return [
      `rss ${(proc.sample.rss / MiB).toFixed(1)} MiB`,
      `cpu ${proc.cpu === undefined ? '-' : `${proc.cpu.toFixed(1)}%`}`,
    ];
  }
  if (child.listener) {
    const c = child.listener.connections;
    if (c) return [`queued ${c.queued}`, `dropped ${c.dropped}`]; // round_robin: the listener's own queue
    const kernel = child.listener.address === undefined ? undefined : frame.listenQueues.get(child.listener.address);
    return [`queued ${kernel?.queued ?? '-'}`, 'dropped -']; // shared: the kernel's accept queue
  }
  return [];
}

function describeEvent(e: LoggedEvent): string {
  const parts: string[] = [e.event.padEnd(16)];
  if ('child' in e) parts.push(`${e.supervisor}/${e.child}`);
  else parts.push(e.supervisor);
  if ('pid' in e && e.pid !== undefined) parts.push(`pid ${e.pid}`);
  if ('reason' in e) parts.push(formatReason(e.reason));
  if ('action' in e) parts.push(e.action);
  if ('restarts' in e) parts.push(`restarts ${e.restarts}`);
  return parts.join('  ');
}

function clock(date: Date, ms = false): string {
  const time = date.toTimeString().slice(0, 8);
  return ms ? `${time}.${String(date.getMilliseconds()).padStart(3, '0')}` : time;
}

/** The frame drawn over the previous one: each line cut to the terminal's width and cleared to its end. */
function drawInPlace(frame: string, columns: number | undefined): string {
  const width = columns && columns > 10 ? columns : Infinity;
  const lines = frame.split('\n').map((line) => `${[...line].slice(0, width).join('')}${CLEAR_LINE_END}`);
  return `${HOME}${lines.join('\n')}\n${CLEAR_BELOW}`;
}
