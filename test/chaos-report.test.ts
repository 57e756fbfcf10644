// The HTML chaos report: a short real `arbor chaos --json --report` run against the example service, the data
// embedded in the page checked against the JSON report, then the page opened in a real headless Chromium: it must
// render without console errors and its chart canvases must hold drawn pixels.
// Needs the build (`npm test` builds first): the CLI runs from dist/, as installed.
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChaosReport } from '../src/chaos/report.js';
import { renderHtmlReport, verdict } from '../src/chaos/html/render.js';
import { FAILURE_KINDS } from '../src/chaos/load.js';
import { BROWSER, NO_BROWSER, launchChromium } from './support/chromium.js';
import { CLI, arborChaos, repo, spawnArborRun, type ArborRun } from './support/arbor-run.js';

const EXAMPLE = join(repo, 'examples/http-service/spec.js');
const SEED = 20261130;
const DURATION = '4s';

let dir: string;
let arbor: ArborRun | undefined;
let report: ChaosReport;
let html: string;
let runEndedAt: number;

/** The little of the DOM the pixel count uses (the tests compile without the DOM library). */
interface PageWindow {
  document: {
    querySelectorAll(selector: string): Iterable<{
      width: number;
      height: number;
      closest(selector: string): { className: string } | null;
      getContext(
        kind: '2d',
      ): { getImageData(x: number, y: number, w: number, h: number): { data: Uint8ClampedArray } } | null;
    }>;
  };
}

/** The runs the page embeds, read back the way anyone would: the JSON inside its data element. */
function embeddedRuns(page: string): { title: string; report: ChaosReport }[] {
  const match = /<script type="application\/json" id="chaos-data">([^<]*)<\/script>/.exec(page);
  if (!match) throw new Error('no chaos-data element in the page');
  return (JSON.parse(match[1]!) as { runs: { title: string; report: ChaosReport }[] }).runs;
}

function killTree(run: ArborRun): void {
  const workers = run.lines.filter((l) => l.event === 'child_started' && l.pid !== undefined).map((l) => l.pid!);
  for (const pid of [-run.proc.pid!, ...workers]) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
}

beforeAll(async () => {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: build first (npx tsc -p tsconfig.json)`);
  dir = mkdtempSync(join(tmpdir(), 'arbor-chaos-report-'));
  arbor = spawnArborRun(EXAMPLE, dir, { PORT: '0', WORKERS: '2', ARBOR_CHAOS: '1' });
  const bound = await arbor.line((l) => l.event === 'listener_bound', 'the listener bound its port');
  await arbor.line((l) => l.event === 'supervisor_started' && l.supervisor === 'root', 'the root started');
  ({ report, endedAt: runEndedAt } = await arborChaos(
    ...['--url', `http://${bound.address}/`, '--control', arbor.control, '--duration', DURATION],
    ...['--rate', '2', '--mix', 'sigkill,throw,kill-all', '--seed', String(SEED)],
    ...['--json', '--report', join(dir, 'report.html')],
  ));
  html = readFileSync(join(dir, 'report.html'), 'utf8');
}, 90_000);

afterAll(() => {
  if (arbor) killTree(arbor);
  rmSync(dir, { recursive: true, force: true });
});

describe('arbor chaos --report', () => {
  it('is one self-contained page: no external scripts, styles or fetches', () => {
    expect(html.startsWith('<!doctype html>')).toBe(true);
    expect(html).not.toMatch(/<script[^>]+src=/i);
    expect(html).not.toMatch(/<link[^>]+href=/i);
    expect(html).not.toMatch(/\bfetch\(|XMLHttpRequest|import\(/);
    expect(html).toContain('var uPlot=');
    expect(html).toContain(report.replay.replace(/&/g, '&#38;'));
  });

  it('embeds the same run as the JSON report: totals per kind add up, every fault is there, restarts lie inside the run', () => {
    const runs = embeddedRuns(html);
    expect(runs).toHaveLength(1);
    const embedded = runs[0]!.report;
    expect(embedded).toEqual(report);

    const { buckets, faults, restarts, bucketMs, startedAt, loadEndMs } = embedded.timeline;
    const sum = (values: number[]): number => values.reduce((a, b) => a + b, 0);
    expect(bucketMs).toBe(100);
    expect(buckets.t.length).toBeGreaterThanOrEqual(loadEndMs / bucketMs);
    for (const column of [buckets.answered, buckets.p50, buckets.p99, ...FAILURE_KINDS.map((k) => buckets.failed[k])]) {
      expect(column).toHaveLength(buckets.t.length);
    }
    // The buckets count every request the load driver counted, each in one bucket.
    expect(sum(buckets.answered)).toBe(report.requests.answered);
    for (const kind of FAILURE_KINDS) expect(sum(buckets.failed[kind])).toBe(report.requests.errors[kind]);
    buckets.p50.forEach((p50, i) => {
      const p99 = buckets.p99[i];
      expect(p50 === null).toBe(buckets.answered[i] === 0);
      if (p50 !== null && p99 !== null && p99 !== undefined) expect(p50).toBeLessThanOrEqual(p99);
    });

    // Every fault, with its kind and the workers it hit.
    const hitFaults = faults.filter((f) => f.hit.length > 0);
    expect(hitFaults).toHaveLength(report.faults.injected);
    expect(faults.length - hitFaults.length).toBe(report.faults.skipped);
    const byKind: Record<string, number> = {};
    for (const f of hitFaults) byKind[f.kind] = (byKind[f.kind] ?? 0) + 1;
    expect(byKind).toEqual(report.faults.byKind);
    expect(hitFaults.reduce((n, f) => n + f.hit.length, 0)).toBe(report.faults.workersHit);
    for (const f of faults) expect(f.atMs).toBeGreaterThanOrEqual(0);
    expect(report.faults.injected).toBeGreaterThan(2);

    // One exit → ready span per restart, each inside the run, and each faulted worker's exit among them.
    expect(report.workers.settled).toBe(true);
    expect(report.workers.eventsMissed).toBe(0);
    expect(restarts).toHaveLength(report.workers.restarts!);
    const runLength = runEndedAt - startedAt;
    for (const span of restarts) {
      expect(span.source).toBe('events');
      expect(span.exitMs).toBeGreaterThanOrEqual(0);
      expect(span.readyMs).not.toBeNull();
      expect(span.readyMs!).toBeGreaterThanOrEqual(span.exitMs);
      expect(span.readyMs!).toBeLessThanOrEqual(runLength);
      expect(span.newPid).not.toBe(span.pid);
    }
    const exited = new Set(restarts.map((s) => s.pid));
    for (const f of hitFaults) for (const { pid } of f.hit) expect(exited).toContain(pid);
    // A span starts no earlier than the first fault that hit its worker (kill-all may hit one already dying).
    const firstHit = new Map<number | null, number>();
    for (const f of hitFaults) for (const { pid } of f.hit) if (!firstHit.has(pid)) firstHit.set(pid, f.atMs);
    for (const [pid, atMs] of firstHit)
      expect(restarts.find((s) => s.pid === pid)!.exitMs).toBeGreaterThanOrEqual(atMs - 1);
  });

  it('says pass or fail and why, answered requests per second, p50/p99 latency, the date and the versions', () => {
    const { pass, reasons } = verdict(report);
    // This run is a pass: 0 refused, the pool settled, nothing leaked, every fault recovered from.
    expect(report.requests.errors.refused).toBe(0);
    expect({ pass, reasons }).toEqual({ pass: true, reasons: [] });
    expect(html).toMatch(
      /<p class="verdict pass"><strong>PASS<\/strong> 0 refused, workers settled, no orphans; \d+ of \d+ requests failed/,
    );
    const failing = {
      ...report,
      requests: { ...report.requests, errors: { ...report.requests.errors, refused: 3 } },
      orphans: [{ pid: 1, command: 'x' }],
    };
    expect(verdict(failing as ChaosReport)).toEqual({
      pass: false,
      reasons: ['3 connection(s) refused', '1 orphan process(es)'],
    });
    expect(renderHtmlReport([{ title: 't', report: failing as ChaosReport }])).toContain(
      '<p class="verdict fail"><strong>FAIL</strong> 3 connection(s) refused; 1 orphan process(es)</p>',
    );
    const perSecond = Math.round(report.requests.answered / (report.timeline.loadEndMs / 1000));
    expect(html).toContain(`<th>answered per second</th><td>${perSecond} /s over`);
    expect(report.timeline.latency.p50).toBeGreaterThan(0);
    expect(report.timeline.latency.p99!).toBeGreaterThanOrEqual(report.timeline.latency.p50!);
    expect(html).toMatch(
      /<p class="meta">run \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC · arbor-otp \d+\.\d+\.\d+ · Node v\d+/,
    );
  });

  it.skipIf(BROWSER === undefined)(
    `renders in headless Chromium with no console error and drawn charts${BROWSER ? '' : NO_BROWSER}`,
    async () => {
      const context = await launchChromium(dir, { width: 1280, height: 900 });
      try {
        const page = await context.newPage();
        const problems: string[] = [];
        page.on('console', (message) => void (message.type() === 'error' && problems.push(message.text())));
        page.on('pageerror', (error) => problems.push(String(error)));
        const requested: string[] = [];
        page.on('request', (request) => requested.push(request.url()));
        await page.goto(`file://${join(dir, 'report.html')}`);
        await page.waitForSelector('body[data-rendered="1"]', { timeout: 20_000 });

        // Per canvas: how many pixels are drawn at all, and how many in colour (data, not grey axes and grid).
        const canvases = await page.evaluate(() =>
          [...(globalThis as unknown as PageWindow).document.querySelectorAll('.chart canvas')].map((canvas) => {
            const chart = canvas.closest('.chart')!.className;
            const pixels = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height).data;
            let drawn = 0;
            let coloured = 0;
            let orange = 0;
            let teal = 0;
            for (let i = 0; i < pixels.length; i += 4) {
              const [r, g, b, a] = [pixels[i]!, pixels[i + 1]!, pixels[i + 2]!, pixels[i + 3]!];
              if (a === 0) continue;
              drawn += 1;
              if (Math.max(r, g, b) - Math.min(r, g, b) > 40) coloured += 1;
              if (r > 200 && g > 90 && g < 170 && b < 80) orange += 1;
              if (r < 90 && g > 150 && b > 160) teal += 1;
            }
            return { chart, drawn, coloured, orange, teal };
          }),
        );
        const screenshot = join(dir, 'report.png');
        await page.screenshot({ path: screenshot, fullPage: true });
        if (process.env.ARBOR_REPORT_SCREENSHOT) copyFileSync(screenshot, process.env.ARBOR_REPORT_SCREENSHOT);

        expect(problems).toEqual([]);
        expect(requested.filter((url) => !url.startsWith('file://'))).toEqual([]);
        expect(canvases.map((c) => c.chart)).toEqual([
          'chart chart-requests',
          'chart chart-latency',
          'chart chart-restarts',
        ]);
        const [requests, latency, restarts] = canvases;
        expect(requests!.coloured).toBeGreaterThan(2000); // the answered area, failure bars, fault markers
        expect(latency!.coloured).toBeGreaterThan(500); // two lines over the run
        // Restart spans in their own colour: not the orange of reset requests.
        expect(restarts!.teal).toBeGreaterThan(20);
        expect(restarts!.orange).toBe(0);
        // The headline, the figures and where the run came from, as the page shows them.
        const shown = (await page.evaluate(
          "({ verdict: document.querySelector('.verdict').textContent, meta: document.querySelector('.meta').textContent, table: document.querySelector('table.summary').textContent })",
        )) as { verdict: string; meta: string; table: string };
        expect(shown.verdict.startsWith(verdict(report).pass ? 'PASS' : 'FAIL')).toBe(true);
        expect(shown.meta).toContain(new Date(report.timeline.startedAt).toISOString().slice(0, 10));
        expect(shown.meta).toContain(`Node ${process.version}`);
        expect(shown.table).toMatch(/answered per second\d+ \/s/);
        expect(shown.table).toContain(
          `latency p50 / p99${Math.round(report.timeline.latency.p50!)} ms / ${Math.round(report.timeline.latency.p99!)} ms`,
        );

        // Skipped faults are greyed out: the same run, with its first fault drawn as skipped (no worker hit).
        const [first, ...rest] = report.timeline.faults;
        const skippedRun = {
          ...report,
          timeline: { ...report.timeline, faults: [{ ...first!, hit: [], skipped: 'no worker running' }, ...rest] },
        };
        writeFileSync(join(dir, 'skipped.html'), renderHtmlReport([{ title: 'skipped', report: skippedRun }]));
        await page.goto(`file://${join(dir, 'skipped.html')}`);
        await page.waitForSelector('body[data-rendered="1"]', { timeout: 20_000 });
        const items = (await page.evaluate(
          "[...document.querySelectorAll('.faults li')].map((li) => ({ skipped: li.classList.contains('skipped'), color: getComputedStyle(li).color }))",
        )) as Array<{ skipped: boolean; color: string }>;
        // Grey exactly for the faults that hit nothing (the run itself may have skipped some too).
        const grey = 'rgb(154, 154, 154)';
        expect(items).toEqual(
          skippedRun.timeline.faults.map((f) =>
            f.hit.length === 0
              ? { skipped: true, color: grey }
              : { skipped: false, color: expect.not.stringMatching(/^rgb\(154, 154, 154\)$/) },
          ),
        );
        expect(items[0]).toEqual({ skipped: true, color: grey });
        expect(problems).toEqual([]);
        expect(statSync(screenshot).size).toBeGreaterThan(10_000);
      } finally {
        await context.close();
      }
    },
    60_000,
  );
});
