// What `arbor reload` prints: the spec's changes, then each worker replaced (or, --dry-run, what would be done).
import type { ReloadResult } from '../reload/index.js';

export function renderReload(result: ReloadResult): string {
  const lines: string[] = [];
  if (result.dryRun) {
    lines.push(`dry run of a reload of ${result.path}: nothing changed`);
    lines.push(result.changes.length > 0 ? 'the spec changes:' : 'the spec changes nothing here');
    for (const change of result.changes) lines.push(`  ${change}`);
    const workers = result.workers ?? [];
    lines.push(`then ${workers.length} worker(s) replaced by new processes, one supervisor's batch at a time:`);
    for (const worker of workers) lines.push(`  ${worker}`);
  } else {
    for (const change of result.changes) lines.push(`  ${change}`);
    if (result.changes.length > 0) lines.unshift(`applied the spec: ${result.changes.length} change(s)`);
    lines.push(
      `reloaded ${result.path}: ${result.replaced.length} worker(s) replaced in ${(result.took / 1000).toFixed(1)} s`,
    );
    for (const r of result.replaced) {
      lines.push(`  ${r.supervisor}/${r.child}  pid ${r.oldPid ?? '-'} → ${r.newPid ?? '-'}  ready in ${r.took} ms`);
    }
    for (const skipped of result.skipped) lines.push(`  skipped ${skipped}`);
  }
  for (const pending of result.pending ?? []) lines.push(`  not applied (outside ${result.path}): ${pending}`);
  for (const note of result.notes ?? []) lines.push(`  note: ${note}`);
  return `${lines.join('\n')}\n`;
}
