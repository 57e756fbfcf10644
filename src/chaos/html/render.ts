// The chaos report as one self-contained HTML page: the runs' data embedded as JSON, uPlot (its JS and CSS read
// from its npm package when the page is written) and the page's own script inlined, so the file opens anywhere
// without network access. Several runs (the benchmark's systems) share one page, their charts on the same axes.
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { ChaosReport } from '../report.js';
import type { RestartSpan } from '../timeline.js';
import { quantile } from '../observe.js';
import { PAGE_SCRIPT } from './page-script.js';

export interface ReportRun {
  /** The heading of this run's charts and its column in the summary table. */
  title: string;
  report: ChaosReport;
}

/** The id of the `<script type="application/json">` element holding `{ runs: ReportRun[] }`. */
export const DATA_ELEMENT_ID = 'chaos-data';

const require = createRequire(import.meta.url);
let uplotAssets: { js: string; css: string } | undefined;

function uplot(): { js: string; css: string } {
  uplotAssets ??= {
    js: readFileSync(require.resolve('uplot/dist/uPlot.iife.min.js'), 'utf8'),
    css: readFileSync(require.resolve('uplot/dist/uPlot.min.css'), 'utf8'),
  };
  return uplotAssets;
}

export function renderHtmlReport(runs: readonly ReportRun[], title = 'arbor chaos report'): string {
  if (runs.length === 0) throw new Error('a chaos report needs at least one run');
  const { js, css } = uplot();
  const sections = runs.map((run, i) => runSection(run, i)).join('\n');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<style>${css}</style>
<style>${PAGE_CSS}</style>
</head>
<body>
<h1>${escapeHtml(title)}</h1>
<p class="note">Time 0 is the start of the HTTP load; the grey band is after the load stopped (requests still in flight
end there). Dashed red lines are faults, labelled with their kind and the worker they hit. Orange bars are restarts,
from the worker's exit to its replacement being ready. Every run on this page is drawn on the same axes.</p>
${summaryTable(runs)}
${sections}
<script type="application/json" id="${DATA_ELEMENT_ID}">${embedJson({ runs })}</script>
<script>${js}</script>
<script>${PAGE_SCRIPT}</script>
</body>
</html>
`;
}

export function writeHtmlReport(file: string, runs: readonly ReportRun[], title?: string): void {
  writeFileSync(file, renderHtmlReport(runs, title));
}

/** JSON that cannot end its <script> element early (`</script>`, `<!--`); JSON.parse reads it back unchanged. */
function embedJson(value: unknown): string {
  return JSON.stringify(value).replace(/</g, '\\u003c').replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');
}

function runSection(run: ReportRun, index: number): string {
  const { report } = run;
  const faults = report.timeline.faults
    .map((f) => {
      const what = f.hit.length > 0 ? f.hit.map((h) => `${h.path} (pid ${h.pid})`).join(', ') : `skipped: ${f.skipped ?? ''}`;
      return `<li><span class="t">${(f.atMs / 1000).toFixed(2)} s</span> ${escapeHtml(f.kind)} → ${escapeHtml(what)}</li>`;
    })
    .join('');
  return `<section class="run" id="run-${index}">
<h2>${escapeHtml(run.title)}</h2>
<p class="replay">replay: <code>${escapeHtml(report.replay)}</code></p>
<div class="charts"></div>
<details><summary>${report.timeline.faults.length} faults</summary><ol class="faults">${faults}</ol></details>
</section>`;
}

/** The text report's figures, one column per run. */
function summaryTable(runs: readonly ReportRun[]): string {
  const rows: [string, (r: ChaosReport) => string][] = [
    ['target', (r) => r.target],
    ['run', (r) => `${(r.durationMs / 1000).toFixed(1)} s against ${r.url}`],
    ['schedule', (r) => `seed ${r.seed}, ${r.rate} fault/s, mix ${r.mix}`],
    ['load', (r) => `concurrency ${r.concurrency}, timeout ${r.timeoutMs} ms`],
    ['requests sent', (r) => String(r.requests.sent)],
    ['answered (2xx)', (r) => String(r.requests.answered)],
    ['failed', (r) => String(r.requests.failed)],
    ['refused / reset / timeout', (r) => `${r.requests.errors.refused} / ${r.requests.errors.reset} / ${r.requests.errors.timeout}`],
    ['non-2xx / other', (r) => `${r.requests.errors.non2xx} / ${r.requests.errors.other}`],
    ['faults injected', (r) => `${r.faults.injected} of ${r.faults.planned} (skipped ${r.faults.skipped}), workers hit ${r.faults.workersHit}`],
    ['faults by kind', (r) => Object.entries(r.faults.byKind).map(([kind, n]) => `${kind} ${n}`).join(', ') || 'none'],
    ['workers', (r) => `${r.workers.atStart} at start, ${r.workers.atEnd} at end (${r.workers.settled ? 'settled' : 'NOT settled'})`],
    ['restarts (pid changes)', (r) => `${r.workers.restarts ?? '-'} (${r.workers.pidChanges})`],
    ['exit → ready', (r) => spanFigures(r.timeline.restarts)],
    ['intensity trips', (r) => String(r.workers.intensityTrips ?? '-')],
    ['fault → next 2xx', (r) => `median ${ms(r.recovery.medianMs)}, p95 ${ms(r.recovery.p95Ms)}, max ${ms(r.recovery.maxMs)}` +
      (r.recovery.unrecovered > 0 ? `; ${r.recovery.unrecovered} never recovered` : '')],
    ['supervisor', (r) => supervisorFigures(r)],
    ['orphans', (r) => (r.orphans.length === 0 ? 'none' : r.orphans.map((o) => `${o.pid} (${o.command})`).join(', '))],
    ['problems', (r) => (r.problems.length === 0 ? 'none' : r.problems.join('; '))],
  ];
  const head = runs.map((run) => `<th>${escapeHtml(run.title)}</th>`).join('');
  const body = rows
    .map(([label, cell]) => `<tr><th>${escapeHtml(label)}</th>${runs.map((run) => `<td>${escapeHtml(cell(run.report))}</td>`).join('')}</tr>`)
    .join('\n');
  return `<table class="summary"><thead><tr><th></th>${head}</tr></thead><tbody>\n${body}\n</tbody></table>`;
}

function spanFigures(spans: readonly RestartSpan[]): string {
  const done = spans.filter((s) => s.readyMs !== null).map((s) => s.readyMs! - s.exitMs);
  const open = spans.length - done.length;
  const figures = done.length === 0 ? 'none' : `${done.length} spans: median ${ms(quantile(done, 0.5))}, max ${ms(quantile(done, 1))}`;
  const source = spans[0]?.source === 'polls' ? ' (seen by polling)' : '';
  return `${figures}${open > 0 ? `, ${open} not ready by the end` : ''}${source}`;
}

function supervisorFigures(r: ChaosReport): string {
  const { start, end } = r.supervisor;
  if (start === null || end === null) return 'not measured';
  const MiB = 1024 * 1024;
  const fds = start.fds === null || end.fds === null ? '' : `, fds ${start.fds} → ${end.fds}`;
  return `pid ${start.pid}, rss ${(start.rss / MiB).toFixed(1)} → ${(end.rss / MiB).toFixed(1)} MiB${fds}`;
}

const ms = (value: number | null | undefined): string => (value === null || value === undefined ? '-' : `${Math.round(value)} ms`);

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

const PAGE_CSS = `
body { font: 14px/1.4 system-ui, sans-serif; margin: 20px; color: #222; max-width: 1260px; }
h1 { font-size: 20px; margin: 0 0 8px; }
h2 { font-size: 16px; margin: 24px 0 4px; border-top: 1px solid #ddd; padding-top: 12px; }
.note { color: #555; max-width: 900px; }
table.summary { border-collapse: collapse; margin: 12px 0; }
table.summary th, table.summary td { border: 1px solid #ddd; padding: 3px 8px; text-align: left; vertical-align: top; }
table.summary thead th { background: #f4f4f4; }
table.summary tbody th { font-weight: normal; color: #555; white-space: nowrap; }
.replay code { background: #f4f4f4; padding: 2px 4px; word-break: break-all; }
.chart { margin: 8px 0; }
.faults { font-family: ui-monospace, monospace; font-size: 12px; }
.faults .t { display: inline-block; width: 70px; color: #555; }
`;
