// The script of the HTML report, run by the browser: reads the embedded runs and draws, for each, three uPlot
// charts on one time axis shared by every run of the page (same x range, same y ranges, cursors in sync):
// requests per bucket with failures stacked, latency p50/p99, and restart spans per worker; faults are drawn as
// markers on all three. Plain ES2017, no template literals: it lives inside one.
export const PAGE_SCRIPT = `
(function () {
  'use strict';
  var data = JSON.parse(document.getElementById('chaos-data').textContent);
  var runs = data.runs;
  var KINDS = ['refused', 'reset', 'timeout', 'non2xx', 'other'];
  var KIND_COLORS = { refused: '#d62728', reset: '#ff7f0e', timeout: '#9467bd', non2xx: '#8c564b', other: '#7f7f7f' };
  var FAULT_COLOR = 'rgba(214, 39, 40, 0.75)';
  // Restarts are not failed requests: a colour none of KIND_COLORS uses (reset is orange).
  var RESTART_COLOR = 'rgba(23, 190, 207, 0.85)', RESTART_OPEN_COLOR = 'rgba(214, 39, 40, 0.8)';
  var SKIPPED_COLOR = 'rgba(154, 154, 154, 0.6)';

  function secs(ms) { return ms / 1000; }
  function maxOf(values) { var m = 0; for (var i = 0; i < values.length; i++) if (values[i] != null && values[i] > m) m = values[i]; return m; }
  function minPositive(values) { var m = Infinity; for (var i = 0; i < values.length; i++) if (values[i] != null && values[i] > 0 && values[i] < m) m = values[i]; return m; }
  function shortName(path) { var parts = path.split('/'); return parts[parts.length - 1]; }

  // Stacked failures: cumulative sums in KINDS order; the last is the total.
  function stacks(buckets) {
    var sums = [], running = buckets.t.map(function () { return 0; });
    KINDS.forEach(function (kind) {
      running = running.map(function (v, i) { return v + buckets.failed[kind][i]; });
      sums.push(running);
    });
    return sums;
  }

  // Shared ranges, so every run is drawn on the same axes.
  var xMax = 1, answeredMax = 1, failedMax = 1, latencyMax = 1, latencyMin = Infinity;
  runs.forEach(function (run) {
    var tl = run.report.timeline, b = tl.buckets;
    xMax = Math.max(xMax, secs(tl.loadEndMs), secs((b.t.length ? b.t[b.t.length - 1] : 0) + tl.bucketMs));
    tl.restarts.forEach(function (s) { xMax = Math.max(xMax, secs(s.readyMs == null ? s.exitMs : s.readyMs)); });
    answeredMax = Math.max(answeredMax, maxOf(b.answered));
    var st = stacks(b);
    failedMax = Math.max(failedMax, maxOf(st[st.length - 1]));
    latencyMax = Math.max(latencyMax, maxOf(b.p99));
    latencyMin = Math.min(latencyMin, minPositive(b.p50));
  });
  xMax = Math.ceil(xMax);
  if (!isFinite(latencyMin)) latencyMin = 0.1;
  latencyMin = Math.pow(10, Math.floor(Math.log10(Math.max(latencyMin, 0.1))));
  latencyMax = Math.pow(10, Math.ceil(Math.log10(latencyMax)));

  function width(el) { return Math.max(480, Math.min(1200, el.clientWidth || 900)); }

  // Vertical markers at each fault; labels (kind, target) on the charts that ask for them.
  function faultMarkers(faults, labelled) {
    return {
      hooks: {
        draw: [function (u) {
          var ctx = u.ctx, top = u.bbox.top, height = u.bbox.height;
          ctx.save();
          ctx.font = (10 * devicePixelRatio) + 'px sans-serif';
          faults.forEach(function (f, i) {
            var x = Math.round(u.valToPos(secs(f.atMs), 'x', true));
            ctx.strokeStyle = f.hit.length ? FAULT_COLOR : SKIPPED_COLOR;
            ctx.setLineDash([4 * devicePixelRatio, 3 * devicePixelRatio]);
            ctx.lineWidth = devicePixelRatio;
            ctx.beginPath(); ctx.moveTo(x, top); ctx.lineTo(x, top + height); ctx.stroke();
            if (labelled) {
              var label = f.kind + (f.hit.length ? ' ' + f.hit.map(function (h) { return shortName(h.path); }).join(',') : ' (skipped)');
              ctx.fillStyle = f.hit.length ? '#333' : '#9a9a9a';
              ctx.fillText(label, x + 3 * devicePixelRatio, top + (10 + (i % 3) * 11) * devicePixelRatio);
            }
          });
          ctx.restore();
        }],
      },
    };
  }

  function loadEndMarker(loadEndMs) {
    return {
      hooks: {
        draw: [function (u) {
          var ctx = u.ctx, x = u.valToPos(secs(loadEndMs), 'x', true);
          ctx.save();
          ctx.fillStyle = 'rgba(0,0,0,0.05)';
          ctx.fillRect(x, u.bbox.top, u.bbox.left + u.bbox.width - x, u.bbox.height);
          ctx.restore();
        }],
      },
    };
  }

  var sync = uPlot.sync('chaos');
  var xScale = { time: false, range: function () { return [0, xMax]; } };
  var xAxis = { label: 'seconds since the load started', values: function (u, splits) { return splits.map(function (s) { return s + ' s'; }); } };
  // Every chart has the same axis widths, so the plotting areas line up across charts and runs.
  var LEFT = 80, RIGHT = 60;
  function rightGutter(scale) { return { scale: scale, side: 1, size: RIGHT, label: ' ', grid: { show: false }, ticks: { show: false }, values: function () { return []; } }; }
  function cursor() { return { sync: { key: sync.key, setSeries: false }, drag: { x: false, y: false } }; }

  function requestsChart(run, el) {
    var tl = run.report.timeline, b = tl.buckets, st = stacks(b);
    var x = b.t.map(secs);
    var series = [{ label: 'time (s)' }, { label: 'answered', stroke: '#1f77b4', fill: 'rgba(31,119,180,0.12)', width: 1.5, scale: 'req', points: { show: false } }];
    var columns = [x, b.answered];
    // Drawn from the total down, so each kind's bar shows above the ones before it.
    for (var k = KINDS.length - 1; k >= 0; k--) {
      (function (kind, cumulative) {
        series.push({
          label: kind, scale: 'fail', stroke: KIND_COLORS[kind], fill: KIND_COLORS[kind], width: 0,
          paths: uPlot.paths.bars({ size: [1, Infinity], align: 1 }), points: { show: false },
          value: function (u, v, si, idx) { return idx == null ? '-' : b.failed[kind][idx]; },
        });
        columns.push(cumulative);
      })(KINDS[k], st[k]);
    }
    return new uPlot({
      title: 'requests per ' + tl.bucketMs + ' ms: answered (left), failed by kind, stacked (right)',
      width: width(el), height: 260, cursor: cursor(),
      scales: { x: xScale, req: { range: [0, answeredMax * 1.05] }, fail: { range: [0, failedMax * 1.1] } },
      axes: [xAxis, { scale: 'req', label: 'answered', size: LEFT }, { scale: 'fail', side: 1, size: RIGHT, label: 'failed', grid: { show: false } }],
      series: series,
      plugins: [faultMarkers(tl.faults, true), loadEndMarker(tl.loadEndMs)],
    }, columns, el);
  }

  function latencyChart(run, el) {
    var tl = run.report.timeline, b = tl.buckets;
    return new uPlot({
      title: 'latency of answered requests per ' + tl.bucketMs + ' ms (ms, log scale)',
      width: width(el), height: 200, cursor: cursor(),
      scales: { x: xScale, ms: { distr: 3, range: [latencyMin, latencyMax] } },
      axes: [xAxis, { scale: 'ms', label: 'ms', size: LEFT }, rightGutter('ms')],
      series: [
        { label: 'time (s)' },
        { label: 'p50', stroke: '#2ca02c', width: 1.5, scale: 'ms', spanGaps: false, points: { show: false } },
        { label: 'p99', stroke: '#d62728', width: 1.5, scale: 'ms', spanGaps: false, points: { show: false } },
      ],
      plugins: [faultMarkers(tl.faults, false), loadEndMarker(tl.loadEndMs)],
    }, [b.t.map(secs), b.p50, b.p99], el);
  }

  function restartsChart(run, el) {
    var tl = run.report.timeline;
    var lanes = [];
    tl.restarts.forEach(function (s) { if (lanes.indexOf(s.path) < 0) lanes.push(s.path); });
    tl.faults.forEach(function (f) { f.hit.forEach(function (h) { if (lanes.indexOf(h.path) < 0) lanes.push(h.path); }); });
    lanes.sort();
    var spans = {
      hooks: {
        draw: [function (u) {
          var ctx = u.ctx;
          ctx.save();
          tl.restarts.forEach(function (s) {
            var lane = lanes.indexOf(s.path);
            var x0 = u.valToPos(secs(s.exitMs), 'x', true);
            var x1 = u.valToPos(secs(s.readyMs == null ? xMax * 1000 : s.readyMs), 'x', true);
            var yTop = u.valToPos(lane + 0.35, 'y', true), yBottom = u.valToPos(lane - 0.35, 'y', true);
            ctx.fillStyle = s.readyMs == null ? RESTART_OPEN_COLOR : RESTART_COLOR;
            ctx.fillRect(x0, yTop, Math.max(2 * devicePixelRatio, x1 - x0), yBottom - yTop);
          });
          ctx.restore();
        }],
      },
    };
    var x = [0, xMax];
    return new uPlot({
      title: 'restarts per worker: exit → ready' + (tl.restarts.length && tl.restarts[0].source === 'polls' ? ' (seen by polling, ±250 ms)' : ''),
      width: width(el), height: 90 + 30 * Math.max(1, lanes.length), cursor: cursor(), legend: { show: false },
      scales: { x: xScale, y: { range: [-0.6, Math.max(1, lanes.length) - 0.4] } },
      axes: [xAxis, {
        size: LEFT, label: 'worker',
        splits: function () { return lanes.map(function (_, i) { return i; }); },
        values: function (u, splits) { return splits.map(function (s) { return lanes[s] ? shortName(lanes[s]) : ''; }); },
      }, rightGutter('y')],
      series: [{ label: 'time (s)' }, { label: 'none', show: false }],
      plugins: [spans, faultMarkers(tl.faults, false)],
    }, [x, [null, null]], el);
  }

  runs.forEach(function (run, i) {
    var section = document.getElementById('run-' + i);
    ['requests', 'latency', 'restarts'].forEach(function (name) {
      var el = document.createElement('div');
      el.className = 'chart chart-' + name;
      section.querySelector('.charts').appendChild(el);
      if (name === 'requests') requestsChart(run, el);
      else if (name === 'latency') latencyChart(run, el);
      else restartsChart(run, el);
    });
  });
  document.body.setAttribute('data-rendered', String(runs.length));
})();
`;
