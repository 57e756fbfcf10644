// Renders the results as markdown: machine, date, the tables, the targets, then notes.
import { fmt } from './stats.js';
import { table } from './table.js';

const ms = (x) => fmt(x, 1);
const isArbor = (name) => name.startsWith('arbor');
/** A reference row of the crash table (LISTENING_FLOOR), not a configuration with targets. */
const isFloor = (name) => name.startsWith('floor');

function loadRange(t) {
  const loads = t.rounds.flatMap((r) => Object.values(r.results).map((x) => x.loadavg1));
  return `${fmt(Math.min(...loads), 2)}–${fmt(Math.max(...loads), 2)}`;
}

function throughputSection(t, opts) {
  const rows = t.summary.map((s) => [
    s.name,
    String(s.workers),
    fmt(s.rps, 0),
    ms(s.p99),
    `${fmt(s.ratio, 2)}×`,
    s.perRound.map((x) => fmt(x, 0)).join(' / '),
    fmt(s.cpuPerRequest, 1),
    s.cpuPeer ? `${fmt(s.cpuRatio, 2)}× ${s.cpuPeer} (${s.cpuRatioPerRound.map((x) => fmt(x, 2)).join(' / ')})` : '',
    String(s.errors),
    String(s.unplannedExits),
  ]);
  return [
    `## 1. Throughput and latency (${opts.workers} workers, ${opts.connections} connections, pipelining 1, ` +
      `${opts.duration} s after ${opts.warmup} s warm-up, ${opts.rounds} rounds)`,
    '',
    table(['configuration', 'workers', 'req/s (median)', 'p99 ms (median)', '× best cluster (median of rounds)', 'req/s per round', 'server CPU µs / request (median)', 'CPU / request × cluster peer (median of rounds; per round)', 'errors', 'unplanned worker exits'], rows),
    '',
    '- "server CPU µs / request": user + system CPU time of every process of the configuration (launcher, ' +
      'supervisor or primary, workers; from /proc/<pid>/stat over the measured seconds, not the warm-up) divided by ' +
      'the requests answered. The load generator is not counted. It is what a request costs, and unlike req/s it ' +
      'hardly moves with the load other work puts on the machine. The ratio is taken within each round against ' +
      'the cluster mode that hands connections over the same way (shared ↔ SCHED_NONE, round_robin ↔ SCHED_RR).',
    '- The load generator (autocannon) runs in the bench process on the same cores as the servers: with 2 cores it ' +
      'competes with them, so absolute numbers are lower than on a dedicated client, and configurations that need ' +
      'an extra busy process (round-robin dispatchers) pay for it twice.',
    `- "× best cluster": within each round, req/s divided by that round's req/s of the better cluster mode ` +
      `(${t.bestMode ?? 'the better of the two in each round'}: the higher median over the rounds, chosen once; the ` +
      'better of two noisy samples in each round would be biased upwards); the median over rounds. Round orders: ' +
      t.rounds.map((r) => r.order.join(' → ')).join('; ') + '.',
    '- "unplanned worker exits": workers that exited during warm-up or measurement although nothing killed ' +
      'them (summed over rounds); should be 0.',
    `- 1-minute load average after each measurement: ${loadRange(t)} (other work on the machine shows here).`,
  ].join('\n');
}

function crashSection(c, opts) {
  const failed = (f) => Object.entries(f).map(([k, n]) => `${k} ${n}`).join(', ') || '0';
  const rows = c.results.map((r) => [
    r.name,
    String(r.crashes),
    ms(r.killToExit),
    ms(r.exitToReady),
    ms(r.exitToFirst),
    ms(r.killToFirst),
    `${fmt(r.readyRatio, 2)}×`,
    `${fmt(r.firstRatio, 2)}×`,
    `${fmt(r.exitToFirst / c.floor.forkIpcReady, 2)}×`,
    r.clusterPeer ? `${fmt(r.clusterRatio, 2)}×` : '',
    failed(r.immediate),
    failed(r.failedAttempts),
    String(r.unplannedExits),
  ]);
  const segmentLabels = {
    exitToProcessStart: 'exit → new process starts',
    processStartToEntry: 'process start → entry module runs',
    entryToRuntime: 'import arbor/worker',
    toAppLoaded: 'import app',
    appLoadedToListening: 'app loaded → listening (handle)',
    toWorkerReady: '→ worker ready',
    workerReadyToSupervisorReady: 'worker ready → supervisor sees it',
  };
  const clientLabels = {
    cpuToReady: 'replacement\'s own CPU, start → ready (ms of CPU)',
    exitToListening: 'exit seen → replacement listening',
    listeningToFirstAnswer: 'replacement listening → first answer',
  };
  const names = Object.keys(segmentLabels);
  const breakdownRows = names.map((s) => [segmentLabels[s], ...c.results.map((r) => ms(r.segments[s]))]);
  breakdownRows.push(['sum of segments = exit → ready event', ...c.results.map((r) => ms(names.reduce((a, s) => a + (Number.isFinite(r.segments[s]) ? r.segments[s] : 0), 0)))]);
  // The replacement's own CPU; then the path of a client's request sent at the kill: kill → exit seen (table above),
  // then the last two.
  for (const [s, label] of Object.entries(clientLabels)) breakdownRows.push([label, ...c.results.map((r) => ms(r.segments[s]))]);
  return [
    `## 2. Crash → serving (1 worker, ${opts.crashes} SIGKILLs each; medians in ms)`,
    '',
    `Floor (same run, ${opts.floorSamples} samples, median): \`node -e 0\` spawn → exit **${ms(c.floor.nodeE0)} ms**; ` +
      `\`node empty.js\` (an empty ESM file) ${ms(c.floor.emptyEsm)} ms; ` +
      `fork of an ESM module → its first IPC message ${ms(c.floor.forkIpcReady)} ms ` +
      `(${fmt(c.floor.forkIpcReady / c.floor.nodeE0, 2)}× node -e 0: the least any forked worker can cost).`,
    '',
    table(['configuration', 'crashes', 'kill → exit seen', 'exit → ready event', 'exit → first answered request', 'kill → first answered request (the client\'s clock)', 'ready / node -e 0', 'answered / node -e 0', 'answered / fork+IPC floor', 'answered / cluster re-fork (median of per-crash ratios)', 'request sent at the kill', 'failed attempts before first answer (total)', 'unplanned worker exits'], rows),
    '',
    'Where the time goes (medians, ms; from the worker start-up marks and the supervisor\'s events):',
    '',
    table(['segment', ...c.results.map((r) => r.name)], breakdownRows),
    '',
    '- "exit" is when the supervisor (arbor tree `child_exited` / cluster primary `exit`) saw the worker die; ' +
      '"ready event" is arbor `child_started` / cluster `listening` for the replacement, in the launcher process.',
    '- "first answered request": right after the SIGKILL the bench issues a GET on a new connection, then another ' +
      'every ~2 ms until one is answered (each may wait 3 s); the time is when the first response completes. ' +
      '"request sent at the kill" is what became of the first of them (ok = it waited in the backlog and the ' +
      'replacement answered it; still waiting = a later attempt was answered first, so it was lost or stuck). A request waiting in the backlog is answered when the ' +
      'replacement accepts it, which can precede the supervisor seeing `ready` (hence ≤ 1 ms negative segments: ' +
      'clocks of different processes).',
  ].join('\n');
}

function sparesSection(p, opts) {
  const mib = (x) => fmt(x / 2 ** 20, 1);
  const rows = p.results.map((r) => [
    r.name,
    String(r.rounds),
    ms(r.firstReady),
    ms(r.wholeAgain),
    String(r.incomplete),
    r.spares ? `${mib(r.spareRss)} / ${mib(r.sparePss)}` : '–',
    String(r.unplannedExits),
  ]);
  return [
    `## 4. All workers killed at once (${p.size}-worker pool, ${opts.spareRounds} all-kills each; medians in ms)`,
    '',
    table(['configuration', 'all-kills', 'kill → first replacement ready', `kill → all ${p.size} ready again`, 'rounds not whole in 20 s', 'memory per spare, MiB (RSS / PSS)', 'unplanned worker exits'], rows),
    '',
    '- Every worker of a one_for_one pool is SIGKILLed at once; "ready" is the supervisor\'s `child_started` of each ' +
      'replacement. Cold, the pool restarts one worker at a time, each paying node\'s start-up; with ' +
      `\`standby: { mode, count: ${p.size} }\` each restart is a takeover. The spares are refilled (one at a time) ` +
      'before the next all-kill.',
    '- Memory per spare: median over the parked spares before the first all-kill. PSS divides shared pages among ' +
      'the processes that map them, so it is what one more spare costs the machine; RSS counts them all.',
  ].join('\n');
}

function refusedSection(f, opts) {
  const rows = f.results.map((r) => [
    r.name,
    String(r.restarts),
    String(r.attempts),
    String(r.ok),
    String(r.refused),
    String(r.reset),
    String(r.timeout),
    String(r.other),
    fmt(r.refusedPerRestart, 1),
    String(r.lateOk),
    ms(r.okP99),
    String(r.unplannedExits),
  ]);
  return [
    `## 3. Refused connections during restarts (1 worker, ${opts.rate} new connections/s for ${opts.refusedDuration} s, ` +
      `SIGKILL every ≥${opts.killInterval} ms once the replacement is ready)`,
    '',
    table(['configuration', 'restarts', 'connections', 'ok', 'ECONNREFUSED', 'ECONNRESET', 'timeouts (3 s)', 'other', 'refused / restart', 'ok after ≥1 s', 'ok p99 ms', 'unplanned worker exits'], rows),
    '',
    '- Each connection carries one GET; "ok" means a complete 200 response. "ok after ≥1 s" counts connections ' +
      'that succeeded only after a SYN retransmit (backlog overflow) or a long wait (a queue that does not drain ' +
      'between restarts). results.json has a per-100 ms timeline of each run (outcomes, median and max latency, ' +
      'kill times). "restarts" counts the bench\'s ' +
      'SIGKILLs; "unplanned worker exits" counts workers that exited although the bench did not kill them.',
  ].join('\n');
}

function callsSection(c, opts) {
  const rows = c.summary.map((s) => [
    s.name,
    String(s.workers),
    fmt(s.callsPerSecond, 0),
    fmt(s.p50, 2),
    fmt(s.p99, 2),
    `${fmt(s.ratio, 2)}×`,
    `${fmt(s.p99Ratio, 2)}×`,
    fmt(s.cpuPerCall, 1),
    `${fmt(s.cpuRatio, 2)}×`,
    s.perRound.map((x) => fmt(x, 0)).join(' / '),
    String(s.errors),
  ]);
  return [
    `## 5. Calls to a pool (${opts.callWorkers} workers, ${c.callers} callers each waiting for its reply, ` +
      `${c.seconds} s after ${opts.warmup} s warm-up, ${opts.rounds} rounds)`,
    '',
    table(['configuration', 'workers', 'calls/s (median)', 'p50 ms', 'p99 ms', '× cluster calls/s (median of rounds)', '× cluster p99', 'CPU µs per call', '× cluster CPU', 'calls/s per round', 'wrong or failed replies'], rows),
    '',
    '- arbor: `tree.call(\'root/pool\', message)` from the process that embeds the tree, round-robin over its 2 ' +
      'workers, whose `onMessage` handler returns the message. cluster: the primary `worker.send`s `{ id, message }` ' +
      'to its workers in turn and matches each reply to its caller by id (no timeout, no size check). ' +
      'Messages are `{ caller, seq, payload: 64 bytes }`; every reply is checked to be the caller\'s own.',
    '- "fork worker.send, detached": the same hand-written round trips to workers forked with `detached: true`, ' +
      'each in a session and process group of its own, as arbor forks its workers: it separates that placement ' +
      'from arbor\'s own work per call.',
    '- "CPU µs per call": user + system time of the configuration\'s whole process tree (host and workers) over ' +
      'warm-up and measurement, divided by the calls made; a noisy machine moves it far less than calls/s.',
    '- Round orders: ' + c.rounds.map((r) => r.order.join(' → ')).join('; ') + '.',
  ].join('\n');
}

/** Checks of the project's targets: { name, value, target, met }. */
export function targets(results) {
  const out = [];
  for (const s of results.throughput?.summary ?? []) {
    if (isArbor(s.name)) out.push({ check: `throughput ${s.name}`, value: `${fmt(s.ratio, 2)}× best cluster`, target: '≥ 1.00×', met: s.ratio >= 1 });
  }
  const cpuTargets = { 'arbor shared': 1.0, 'arbor round_robin': 1.1 };
  for (const s of results.throughput?.summary ?? []) {
    const limit = cpuTargets[s.name];
    if (limit === undefined || !s.cpuPeer) continue;
    out.push({
      check: `CPU per request ${s.name} vs ${s.cpuPeer}`,
      value: `${fmt(s.cpuRatio, 2)}× (${fmt(s.cpuPerRequest, 1)} µs)`,
      target: `≤ ${limit.toFixed(2)}×`,
      met: s.cpuRatio <= limit,
    });
  }
  for (const r of results.crash?.results ?? []) {
    if (isArbor(r.name) && !isFloor(r.name)) {
      out.push({ check: `crash→serving ${r.name}`, value: `${fmt(r.firstRatio, 2)}× node -e 0 (${ms(r.exitToFirst)} ms)`, target: '≤ 1.15×', met: r.firstRatio <= 1.15 });
      if (r.clusterPeer) {
        out.push({ check: `cold crash→serving ${r.name} vs ${r.clusterPeer}`, value: `${fmt(r.clusterRatio, 2)}×`, target: '≤ 1.05×', met: r.clusterRatio <= 1.05 });
      }
      if (r.name.includes('hot standby')) {
        out.push({ check: `exit → first answer ${r.name}`, value: `${ms(r.exitToFirst)} ms`, target: '≤ 5 ms', met: r.exitToFirst <= 5 });
        // What a client sees: from the SIGKILL (not from the exit the supervisor sees) to its answer.
        out.push({ check: `kill → first answer ${r.name}`, value: `${ms(r.killToFirst)} ms`, target: '≤ 9 ms', met: r.killToFirst <= 9 });
        if (Number.isFinite(r.listeningFloorRatio)) {
          out.push({
            check: `kill → first answer ${r.name} vs a second worker already listening (median of per-round ratios)`,
            value: `${fmt(r.listeningFloorRatio, 2)}×`,
            target: '≤ 1.25×',
            met: r.listeningFloorRatio <= 1.25,
          });
        }
      }
    }
  }
  for (const r of results.refused?.results ?? []) {
    if (isArbor(r.name)) out.push({ check: `refused ${r.name}`, value: `${r.refused} refused in ${r.restarts} restarts`, target: '0', met: r.refused === 0 });
  }
  for (const s of results.calls?.summary ?? []) {
    if (isArbor(s.name)) {
      out.push({ check: `calls ${s.name}`, value: `${fmt(s.ratio, 2)}× cluster calls/s (p99 ${fmt(s.p99, 2)} ms, ${fmt(s.p99Ratio, 2)}× cluster; ${fmt(s.detachedRatio, 2)}× detached fork; CPU ${fmt(s.cpuRatio, 2)}× cluster)`, target: '≥ 0.80×', met: s.ratio >= 0.8 });
    }
  }
  return out;
}

export function render(results, opts) {
  const m = results.machine;
  const parts = [
    '# arbor bench',
    '',
    `- machine: ${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB, ${m.platform}, kernel ${m.kernel}`,
    `- node ${m.node}; load average at start ${m.loadavg.join(' ')}`,
    ...(m.extraCaCerts
      ? ['- NODE_EXTRA_CA_CERTS is set: every node process (worker, cluster worker, `node -e 0`) reads it at start']
      : []),
    ...(m.autogroup === undefined
      ? []
      : [`- Linux autogroup ${m.autogroup}; arbor's workers lead their process group in ${m.workerSessions} session`]),
    `- date: ${results.date}`,
  ];
  if (results.throughput) parts.push('', throughputSection(results.throughput, opts));
  if (results.crash) parts.push('', crashSection(results.crash, opts));
  if (results.refused) parts.push('', refusedSection(results.refused, opts));
  if (results.spares) parts.push('', sparesSection(results.spares, opts));
  if (results.calls) parts.push('', callsSection(results.calls, opts));
  const checks = results.targets;
  if (checks.length) {
    parts.push('', '## Targets', '', table(['check', 'measured', 'target', 'met'], checks.map((c) => [c.check, c.value, c.target, c.met ? 'yes' : '**NO**'])));
  }
  parts.push('', '## Notes', '', ...results.notes.map((n) => `- ${n}`));
  return parts.join('\n');
}
