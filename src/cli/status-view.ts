// The tree as `arbor status` prints it, shared with `arbor status --watch`, which adds figures to each child.
import type { ChildInfo, SupervisorStatus } from '../supervisor/tree.js';
import { formatReason, type ExitReason } from '../types.js';

export function formatUptime(ms: number | undefined): string {
  if (ms === undefined) return '-';
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

/** More fields for a child (its full path given), shown after its uptime. */
export type ChildFigures = (child: ChildInfo, path: string) => string[];

/** An indented tree: each supervisor with its machine state in brackets, each child with type, status, pid, restarts, uptime. */
export function renderStatus(status: SupervisorStatus, figures?: ChildFigures): string {
  const lines = [`${status.path}  supervisor ${status.strategy}  [${status.state}]`];
  const walk = (node: SupervisorStatus, indent: string): void => {
    node.children.forEach((child, index) => {
      const last = index === node.children.length - 1;
      const fields = [
        child.id,
        child.supervisor
          ? `supervisor ${child.supervisor.strategy}`
          : child.kind === 'thread'
            ? 'worker thread'
            : child.type,
        child.status,
        ...(child.supervisor ? [`[${child.supervisor.state}]`] : []),
        ...(child.pid !== undefined ? [`pid ${child.pid}`] : []),
        // A task in a host pool: the pool, and the host incarnation (its pid) it runs in.
        ...(child.host
          ? [
              `in host ${child.host.name}${child.host.incarnation !== undefined ? ` #${child.host.incarnation}` : ''}${child.host.pid !== undefined ? ` (pid ${child.host.pid})` : ''}`,
            ]
          : []),
        ...(child.listener
          ? [`${child.listener.address ?? '?'} ${child.listener.mode}, ${child.listener.serving} serving`]
          : []),
        `restarts ${child.restarts}`,
        `up ${formatUptime(child.uptime)}`,
        ...(child.restartIn !== undefined ? [`backoff: restart in ${(child.restartIn / 1000).toFixed(1)}s`] : []),
        ...(figures?.(child, `${node.path}/${child.id}`) ?? []),
        ...(child.lastExit !== undefined ? [`last exit ${briefReason(child.lastExit)}`] : []),
      ];
      lines.push(`${indent}${last && !node.draining ? '└─ ' : '├─ '}${fields.join('  ')}`);
      if (child.supervisor) walk(child.supervisor, `${indent}${last && !node.draining ? '   ' : '│  '}`);
    });
    // Replaced workers still finishing their requests, beside the children that replaced them.
    (node.draining ?? []).forEach((old, index, all) => {
      const branch = index === all.length - 1 ? '└─ ' : '├─ ';
      lines.push(
        `${indent}${branch}${old.child}  worker  draining  pid ${old.pid ?? '-'}  for ${(old.for / 1000).toFixed(1)}s (replaced)`,
      );
    });
    if (node.children.length === 0) lines.push(`${indent}└─ (no children)`);
  };
  walk(status, '');
  const reload = status.reload;
  if (reload) {
    const starting = reload.starting.length > 0 ? `, starting ${reload.starting.join(', ')}` : '';
    lines.push(
      `reload of ${reload.path} in progress: ${reload.replaced} of ${reload.workers} replaced${starting} (${(reload.running / 1000).toFixed(1)} s)`,
    );
  }
  for (const shelf of status.spares ?? []) {
    const pids = (list: number[]) => (list.length > 0 ? ` (pid ${list.join(', ')})` : '');
    const args = shelf.args.length > 0 ? ` ${clipText(shelf.args.join(' '), 80)}` : '';
    lines.push(
      `spares  ${shelf.mode}  ${shelf.parked.length} of ${shelf.count} parked${pids(shelf.parked)}` +
        `${shelf.booting.length > 0 ? `, ${shelf.booting.length} booting${pids(shelf.booting)}` : ''}  for ${clipText(shelf.module, 200)}${args}`,
    );
  }
  for (const pool of status.hosts ?? []) {
    const { heartbeat, memory, crash } = pool.restarts;
    const hosts = pool.hosts.map(
      (h) =>
        `${h.slot === undefined ? 'retired' : `slot ${h.slot}`} #${h.incarnation}${h.pid !== undefined ? ` pid ${h.pid}` : ''} ${h.tasks} task${h.tasks === 1 ? '' : 's'}${h.rss !== undefined ? ` ${(h.rss / 2 ** 20).toFixed(0)} MiB` : ''}`,
    );
    lines.push(
      `hosts  ${pool.name}  ${pool.kind}  ${pool.alive} of ${pool.size} up, ${pool.tasks} tasks` +
        `  restarts: heartbeat ${heartbeat}, memory ${memory}, crash ${crash}${hosts.length > 0 ? `  (${hosts.join('; ')})` : ''}`,
    );
  }
  return `${lines.join('\n')}\n`;
}

/** A reason on one line: a stack shows its first line only (`--json` keeps it all), long text is cut. */
export function briefReason(reason: ExitReason): string {
  if (typeof reason !== 'object' || reason === null || !('stack' in reason) || typeof reason.stack !== 'string') {
    return clipText(formatReason(reason), 300);
  }
  const firstLine = reason.stack.split('\n', 1)[0]!;
  return clipText(formatReason({ ...reason, stack: `${firstLine} …` }), 300);
}

const clipText = (text: string, max: number): string => (text.length > max ? `${text.slice(0, max)}…` : text);
