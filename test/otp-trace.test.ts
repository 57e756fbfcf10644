// Scripted scenarios whose trace on arbor, for each kind of child (process, thread, task), must be real OTP's. A
// scenario is a supervisor (strategy, intensity, period, autoShutdown), its children (restart type, significant) and
// steps (a child crashes or exits normally); its trace is, per step, what the supervisor did in order (terminated,
// started) and then its children's states, or that it stopped itself (gave up, or shut down automatically).
// OTP's traces are recorded in fixtures/otp-traces.txt by fixtures/otp-trace.escript on a real OTP supervisor; where
// `escript` is installed the test runs it again and checks the recording (OTP_TRACE_RECORD=1 rewrites it).
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import {
  start,
  supervisor,
  type AutoShutdown,
  type RestartType,
  type Strategy,
  type Tree,
  type TreeEvent,
} from '../src/index.js';
import { DRIVERS, KINDS, nothingLeftRunning } from './support/kinds.js';
import { fixture, recorder } from './support/tree.js';

interface Scenario {
  name: string;
  strategy: Exclude<Strategy, 'simple_one_for_one'>;
  intensity: number;
  /** Seconds, as OTP's period. */
  period: number;
  autoShutdown: AutoShutdown;
  children: Array<{ id: string; restart: RestartType; significant?: boolean }>;
  steps: Array<['crash' | 'normal', string]>;
}

const permanent = (...ids: string[]) => ids.map((id) => ({ id, restart: 'permanent' as const }));
const base = { intensity: 10, period: 10, autoShutdown: 'never' as const };

const SCENARIOS: Scenario[] = [
  {
    name: 'one_for_one crash',
    strategy: 'one_for_one',
    ...base,
    children: permanent('a', 'b', 'c'),
    steps: [['crash', 'b']],
  },
  {
    name: 'rest_for_one crash in the middle',
    strategy: 'rest_for_one',
    ...base,
    children: permanent('c1', 'c2', 'c3', 'c4', 'c5'),
    steps: [['crash', 'c3']],
  },
  {
    name: 'one_for_all with a temporary sibling',
    strategy: 'one_for_all',
    ...base,
    children: [...permanent('c1', 'c2', 'c3'), { id: 't', restart: 'temporary' }],
    steps: [
      ['crash', 'c2'],
      ['crash', 'c3'],
    ],
  },
  {
    name: 'restart types',
    strategy: 'one_for_one',
    ...base,
    children: [
      { id: 'p', restart: 'permanent' },
      { id: 'tr', restart: 'transient' },
      { id: 'tr2', restart: 'transient' },
      { id: 'te', restart: 'temporary' },
      { id: 'te2', restart: 'temporary' },
    ],
    steps: [
      ['normal', 'p'],
      ['crash', 'p'],
      ['normal', 'tr'],
      ['crash', 'tr2'],
      ['normal', 'te'],
      ['crash', 'te2'],
    ],
  },
  {
    name: 'rest_for_one drops a temporary child after the one that crashed',
    strategy: 'rest_for_one',
    ...base,
    children: [...permanent('a'), { id: 't', restart: 'temporary' }, ...permanent('c')],
    steps: [['crash', 'a']],
  },
  {
    name: 'intensity exceeded: the supervisor gives up',
    strategy: 'one_for_one',
    ...base,
    intensity: 1,
    children: permanent('a', 'b', 'c'),
    steps: [
      ['crash', 'a'],
      ['crash', 'b'],
    ],
  },
  {
    name: 'one_for_all gives up',
    strategy: 'one_for_all',
    ...base,
    intensity: 0,
    children: permanent('a', 'b', 'c'),
    steps: [['crash', 'c']],
  },
  {
    name: 'any_significant: a significant child ending normally stops the supervisor',
    strategy: 'one_for_one',
    ...base,
    autoShutdown: 'any_significant',
    children: [{ id: 's', restart: 'transient', significant: true }, ...permanent('h')],
    steps: [
      ['crash', 's'],
      ['normal', 's'],
    ],
  },
  {
    name: 'all_significant: the last significant child ending stops the supervisor',
    strategy: 'one_for_one',
    ...base,
    autoShutdown: 'all_significant',
    children: [
      { id: 's1', restart: 'temporary', significant: true },
      { id: 's2', restart: 'temporary', significant: true },
      ...permanent('h'),
    ],
    steps: [
      ['crash', 's1'],
      ['normal', 's2'],
    ],
  },
];

const RECORDING = fixture('otp-traces.txt');
const hasEscript = spawnSync('escript', ['-h'], { stdio: 'ignore' }).error === undefined;

/** The scenarios as Erlang terms, for file:consult/1. */
const asTerms = (scenarios: Scenario[]): string =>
  scenarios
    .map(
      (s) =>
        `{${JSON.stringify(s.name)}, ${s.strategy}, ${s.intensity}, ${s.period}, ${s.autoShutdown}, ` +
        `[${s.children.map((c) => `{'${c.id}', ${c.restart}, ${c.significant === true}}`).join(', ')}], ` +
        `[${s.steps.map(([how, id]) => `{${how}, '${id}'}`).join(', ')}]}.\n`,
    )
    .join('');

/** `name\ttokens` lines → name → tokens. */
const parse = (text: string): Map<string, string[]> =>
  new Map(
    text
      .split('\n')
      .filter((line) => line.includes('\t'))
      .map((line) => {
        const [name, tokens] = line.split('\t') as [string, string];
        return [name, tokens.split(' ')];
      }),
  );

/** A trace cut into steps, each starting at its `exited:` token. */
function stepsOf(tokens: string[]): string[][] {
  const steps: string[][] = [];
  for (const token of tokens) {
    if (token.startsWith('exited:')) steps.push([]);
    steps.at(-1)!.push(token);
  }
  return steps;
}

describe.runIf(hasEscript)('the recording', () => {
  it('is what real OTP does (OTP_TRACE_RECORD=1 records it again)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'arbor-otp-trace-'));
    try {
      const terms = join(dir, 'scenarios.terms');
      writeFileSync(terms, asTerms(SCENARIOS));
      const out = execFileSync('escript', [fixture('otp-trace.escript'), terms], { encoding: 'utf8', timeout: 60_000 });
      if (process.env.OTP_TRACE_RECORD === '1') writeFileSync(RECORDING, out);
      expect(parse(out)).toEqual(parse(readFileSync(RECORDING, 'utf8')));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

const trees: Tree[] = [];
afterEach(async () => {
  for (const tree of trees.splice(0)) await tree.stop({ brutal: true }).catch(() => undefined);
});
afterAll(nothingLeftRunning);

const STORY = new Set(['child_exited', 'child_terminated', 'child_started']);
const token = (e: TreeEvent) => `${e.event.replace('child_', '')}:${(e as { child: string }).child}`;

describe.each(KINDS)('%s children', (kind) => {
  const d = DRIVERS[kind];
  const recorded = parse(readFileSync(RECORDING, 'utf8'));

  it.each(SCENARIOS)('$name: the trace of real OTP', async (scenario) => {
    const expected = recorded.get(scenario.name);
    if (!expected) throw new Error(`no recorded OTP trace for '${scenario.name}'`);
    const rec = recorder();
    const tree = await start(
      supervisor({
        strategy: scenario.strategy,
        intensity: scenario.intensity,
        period: scenario.period * 1000,
        autoShutdown: scenario.autoShutdown,
        children: scenario.children.map((c) =>
          d.child(c.id, { restart: c.restart, significant: c.significant === true, shutdown: 5000 }),
        ),
      }),
      { logger: rec.logger },
    );
    trees.push(tree);
    let stopped: string | undefined;
    void tree.done.then((reason) => (stopped = typeof reason === 'string' ? reason : JSON.stringify(reason)));
    const trace: string[] = [];
    for (const [index, [how, id]] of scenario.steps.entries()) {
      // How many events OTP's supervisor emitted for this step: wait for as many (or for the tree to stop), then
      // compare. Fewer ends in the deadline with the story so far; more shows up in the next step or at the end.
      const step = stepsOf(expected)[index] ?? [];
      const count = step.filter((t) => /^(exited|terminated|started):/.test(t)).length;
      const mark = rec.events.length;
      const story = () => rec.events.slice(mark).filter((e) => STORY.has(e.event) && e.supervisor === 'root');
      tree.cast(`root/${id}`, how);
      const deadline = Date.now() + 30_000;
      while (story().length < count || (step.some((t) => t.startsWith('stopped:')) && stopped === undefined)) {
        if (Date.now() > deadline) break;
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      trace.push(...story().map(token));
      if (stopped !== undefined) {
        trace.push(`stopped:${stopped}`);
        break;
      }
      const listed = new Map(tree.whichChildren().map((c) => [c.id, c.status]));
      const state = (child: string) =>
        !listed.has(child) ? 'absent' : listed.get(child) === 'running' ? 'running' : 'stopped';
      trace.push(`children:${scenario.children.map((c) => `${c.id}=${state(c.id)}`).join(',')}`);
    }
    expect(trace).toEqual(expected);
  });
});
