// The chaos report as one self-contained HTML page: the runs' data embedded as JSON, uPlot (its JS and CSS read
// from its npm package when the page is written) and the page's own script inlined, so the file opens anywhere
// without network access. Several runs (the benchmark's systems) share one page, their charts on the same axes.
import { readFileSync, writeFileSync } from 'node:fs';
import { arch, platform } from 'node:os';
import { createRequire } from 'node:module';
import { hasLightKinds, kindCounts, type ChaosReport } from '../report.js';
import type { RestartSpan } from '../timeline.js';
import { quantile } from '../observe.js';
import { PAGE_SCRIPT } from './page-script.js';

/** One run of a chaos HTML report, under its title. */
export interface ReportRun {
  /** The heading of this run's charts and its column in the summary table. */
  title: string;
  /** The run's report. */
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

/** One self-contained HTML page drawing these runs over time, on the same axes. */
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
<p class="meta">${escapeHtml(provenance(runs))}</p>
${runs.map((run) => verdictLine(run, runs.length > 1)).join('\n')}
<p class="note">Time 0 is the start of the HTTP load; the grey band is after the load stopped (requests still in flight
end there). Dashed red lines are faults, labelled with their kind and the worker they hit. Teal bars are restarts,
from the worker's exit to its replacement being ready (failed requests by kind use other colours: reset is orange).
Grey markers and list entries are faults that were skipped. Every run on this page is drawn on the same axes.</p>
${summaryTable(runs)}
${sections}
<script type="application/json" id="${DATA_ELEMENT_ID}">${embedJson({ runs })}</script>
<script>${js}</script>
<script>${PAGE_SCRIPT}</script>
</body>
</html>
`;
}

/** Writes `renderHtmlReport(runs, title)` to `file`. */
export function writeHtmlReport(file: string, runs: readonly ReportRun[], title?: string): void {
  writeFileSync(file, renderHtmlReport(runs, title));
}

/** JSON that cannot end its <script> element early (`</script>`, `<!--`); JSON.parse reads it back unchanged. */
function embedJson(value: unknown): string {
  return JSON.stringify(value)
    .replace(/</g, '\\u003c')
    .replace(/\u2028/g, '\\u2028')
    .replace(/\u2029/g, '\\u2029');
}

function runSection(run: ReportRun, index: number): string {
  const { report } = run;
  const faults = report.timeline.faults
    .map((f) => {
      const what =
        f.hit.length > 0
          ? f.hit.map((h) => `${h.path} (${h.pid !== null ? `pid ${h.pid}` : (h.kind ?? 'no pid')})`).join(', ')
          : `skipped: ${f.skipped ?? ''}`;
      return `<li${f.hit.length > 0 ? '' : ' class="skipped"'}><span class="t">${(f.atMs / 1000).toFixed(2)} s</span> ${escapeHtml(f.kind)} → ${escapeHtml(what)}</li>`;
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
    [
      'refused / reset / timeout',
      (r) => `${r.requests.errors.refused} / ${r.requests.errors.reset} / ${r.requests.errors.timeout}`,
    ],
    ['non-2xx / other', (r) => `${r.requests.errors.non2xx} / ${r.requests.errors.other}`],
    ['answered per second', (r) => perSecond(r)],
    ['latency p50 / p99', (r) => `${ms(r.timeline.latency?.p50)} / ${ms(r.timeline.latency?.p99)}`],
    [
      'faults injected',
      (r) =>
        `${r.faults.injected} of ${r.faults.planned} (skipped ${r.faults.skipped}), workers hit ${r.faults.workersHit}`,
    ],
    [
      'faults by kind',
      (r) =>
        Object.entries(r.faults.byKind)
          .map(([kind, n]) => `${kind} ${n}`)
          .join(', ') || 'none',
    ],
    ['workers hit by kind', (r) => kindCounts(r.faults.workersHitByKind ?? {})],
    [
      'workers',
      (r) =>
        `${r.workers.atStart} at start${hasLightKinds(r) ? ` (${kindCounts(r.workers.atStartByKind)})` : ''}, ` +
        `${r.workers.atEnd} at end (${r.workers.settled ? 'settled' : 'NOT settled'})`,
    ],
    ['restarts (pid changes)', (r) => `${r.workers.restarts ?? '-'} (${r.workers.pidChanges})`],
    ['exit → ready', (r) => spanFigures(r.timeline.restarts)],
    ['intensity trips', (r) => String(r.workers.intensityTrips ?? '-')],
    [
      'fault → next 2xx',
      (r) =>
        `median ${ms(r.recovery.medianMs)}, p95 ${ms(r.recovery.p95Ms)}, max ${ms(r.recovery.maxMs)}` +
        (r.recovery.unrecovered > 0 ? `; ${r.recovery.unrecovered} never recovered` : ''),
    ],
    ['supervisor', (r) => supervisorFigures(r)],
    ['orphans', (r) => (r.orphans.length === 0 ? 'none' : r.orphans.map((o) => `${o.pid} (${o.command})`).join(', '))],
    ['problems', (r) => (r.problems.length === 0 ? 'none' : r.problems.join('; '))],
  ];
  const head = runs.map((run) => `<th>${escapeHtml(run.title)}</th>`).join('');
  const body = rows
    .map(
      ([label, cell]) =>
        `<tr><th>${escapeHtml(label)}</th>${runs.map((run) => `<td>${escapeHtml(cell(run.report))}</td>`).join('')}</tr>`,
    )
    .join('\n');
  return `<table class="summary"><thead><tr><th></th>${head}</tr></thead><tbody>\n${body}\n</tbody></table>`;
}

function spanFigures(spans: readonly RestartSpan[]): string {
  const done = spans.filter((s) => s.readyMs !== null).map((s) => s.readyMs! - s.exitMs);
  const open = spans.length - done.length;
  const figures =
    done.length === 0
      ? 'none'
      : `${done.length} spans: median ${ms(quantile(done, 0.5))}, max ${ms(quantile(done, 1))}`;
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

/** What a run must show to pass: no connection refused, the pool back to its size, nothing leaked, every fault
 * followed by an answer, and no problem with the run itself. Failed requests in flight on a killed worker are
 * counted, not failed: a SIGKILL ends them whatever the supervisor does. */
export function verdict(r: ChaosReport): { pass: boolean; reasons: string[] } {
  const reasons: string[] = [];
  if (r.requests.errors.refused > 0) reasons.push(`${r.requests.errors.refused} connection(s) refused`);
  if (!r.workers.settled) reasons.push('the workers did not settle');
  if (r.orphans.length > 0) reasons.push(`${r.orphans.length} orphan process(es)`);
  if (r.recovery.unrecovered > 0) reasons.push(`${r.recovery.unrecovered} fault(s) never recovered from`);
  if (r.problems.length > 0) reasons.push(`${r.problems.length} problem(s) with the run`);
  return { pass: reasons.length === 0, reasons };
}

function verdictLine(run: ReportRun, named: boolean): string {
  const { pass, reasons } = verdict(run.report);
  const { requests } = run.report;
  const detail = pass
    ? `0 refused, workers settled, no orphans; ${requests.failed} of ${requests.sent} requests failed (${failureKinds(run.report)})`
    : reasons.join('; ');
  const who = named ? `${run.title}: ` : '';
  return `<p class="verdict ${pass ? 'pass' : 'fail'}"><strong>${pass ? 'PASS' : 'FAIL'}</strong> ${escapeHtml(who + detail)}</p>`;
}

function failureKinds(r: ChaosReport): string {
  const kinds = Object.entries(r.requests.errors)
    .filter(([, n]) => n > 0)
    .map(([kind, n]) => `${kind} ${n}`);
  return kinds.length > 0 ? kinds.join(', ') : 'none';
}

function perSecond(r: ChaosReport): string {
  const seconds = r.timeline.loadEndMs / 1000;
  return seconds > 0 ? `${Math.round(r.requests.answered / seconds)} /s over ${seconds.toFixed(1)} s` : '-';
}

/** When the (first) run started, and what ran it: arbor's version, node's, the platform. */
function provenance(runs: readonly ReportRun[]): string {
  const started = new Date(runs[0]!.report.timeline.startedAt)
    .toISOString()
    .replace('T', ' ')
    .replace(/\.\d+Z$/, ' UTC');
  return `run ${started} · arbor-otp ${arborVersion()} · Node ${process.version} · ${platform()} ${arch()}`;
}

function arborVersion(): string {
  try {
    // Two levels up from src/chaos/html or dist/chaos/html, then the package root.
    const manifest = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as {
      version?: string;
    };
    return manifest.version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

const ms = (value: number | null | undefined): string =>
  value === null || value === undefined ? '-' : `${Math.round(value)} ms`;

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
.faults .skipped, .faults .skipped .t { color: #9a9a9a; }
.meta { color: #555; margin: 0 0 8px; }
.verdict { font-size: 16px; margin: 6px 0; padding: 6px 10px; border-radius: 4px; max-width: 1000px; }
.verdict strong { margin-right: 6px; }
.verdict.pass { background: #e6f4ea; color: #135c25; }
.verdict.fail { background: #fce8e6; color: #8a1c12; }
`;
