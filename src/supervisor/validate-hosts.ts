// Validation of task hosts: the root's `hosts` pools, and where each task says it runs (`host`, `run`, `module`).
// Called by validate.ts; every problem is reported with the path of the bad field, nothing starts on bad input.
import { existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { inspect } from 'node:util';

type Obj = Record<string, unknown>;
type Report = (path: string, message: string) => void;

const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);
const isPosInt = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) > 0;

/** More hosts than this in one pool is a typo, not a plan (each is a whole process or thread). */
export const MAX_HOSTS_PER_POOL = 256;
/** A host pool's name: it appears in paths and logs. */
const HOST_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$/;
const HOST_FIELDS = ['kind', 'size', 'heartbeat', 'maxMemory', 'resourceLimits', 'startTimeout', 'execArgv'];
const RESOURCE_LIMITS = ['maxOldGenerationSizeMb', 'maxYoungGenerationSizeMb', 'codeRangeSizeMb', 'stackSizeMb'];

function show(v: unknown): string {
  if (typeof v === 'string') return `'${v.length > 80 ? `${v.slice(0, 80)}…` : v}'`;
  if (typeof v === 'function') return 'a function';
  try {
    const text = inspect(v, { depth: 2, breakLength: Infinity, maxArrayLength: 10, maxStringLength: 80 });
    return text.length > 80 ? `${text.slice(0, 80)}…` : text;
  } catch {
    return 'an object';
  }
}

function unknownFields(spec: Obj, known: readonly string[], path: string, report: Report): void {
  for (const key of Object.keys(spec))
    if (!known.includes(key)) report(`${path}.${key.slice(0, 64)}`, `unknown field (known: ${known.join(', ')})`);
}

/** The root's `hosts`: returns the names of the pools that are declared (well-formed or not, so tasks are not blamed). */
export function validateHosts(hosts: unknown, path: string, report: Report): Set<string> {
  const names = new Set<string>();
  if (hosts === undefined) return names;
  if (!isObj(hosts)) {
    report(
      path,
      `must be an object of host pools by name ({ sessions: { kind: 'process', size: 2 } }), got ${show(hosts)}`,
    );
    return names;
  }
  for (const [name, spec] of Object.entries(hosts)) {
    const at = `${path}.${name.slice(0, 64)}`;
    names.add(name);
    if (name === 'inline')
      report(at, "'inline' is not a pool: it means the supervisor's own process; pick another name");
    else if (!HOST_NAME.test(name)) report(at, 'a host pool name is letters, digits, `_`, `.` and `-` (at most 64)');
    if (!isObj(spec)) {
      report(
        at,
        `must be { kind?, size?, heartbeat?, maxMemory?, resourceLimits?, startTimeout?, execArgv? }, got ${show(spec)}`,
      );
      continue;
    }
    unknownFields(spec, HOST_FIELDS, at, report);
    const kind = spec.kind ?? 'process';
    if (kind !== 'process' && kind !== 'thread')
      report(`${at}.kind`, `must be 'process' or 'thread', got ${show(spec.kind)}`);
    if (spec.size !== undefined && !(isPosInt(spec.size) && spec.size <= MAX_HOSTS_PER_POOL))
      report(`${at}.size`, `must be an integer from 1 to ${MAX_HOSTS_PER_POOL}, got ${show(spec.size)}`);
    if (spec.heartbeat !== undefined) {
      const hb = spec.heartbeat;
      if (!isObj(hb) || !isPosInt(hb.interval) || !isPosInt(hb.timeout) || Object.keys(hb).length !== 2)
        report(`${at}.heartbeat`, `must be { interval, timeout } in ms (integers > 0), got ${show(hb)}`);
    }
    if (spec.startTimeout !== undefined && !isPosInt(spec.startTimeout))
      report(`${at}.startTimeout`, `must be an integer > 0 (ms), got ${show(spec.startTimeout)}`);
    if (spec.maxMemory !== undefined) {
      if (kind === 'thread')
        report(`${at}.maxMemory`, "maxMemory measures a whole process; cap a thread host's heap with resourceLimits");
      else if (!isPosInt(spec.maxMemory))
        report(`${at}.maxMemory`, `must be a number of bytes (integer > 0), got ${show(spec.maxMemory)}`);
    }
    if (spec.resourceLimits !== undefined) {
      if (kind !== 'thread')
        report(
          `${at}.resourceLimits`,
          "only a thread host takes resourceLimits (kind: 'thread'); cap a process with maxMemory",
        );
      else if (!isObj(spec.resourceLimits))
        report(`${at}.resourceLimits`, `must be an object, got ${show(spec.resourceLimits)}`);
      else {
        unknownFields(spec.resourceLimits, RESOURCE_LIMITS, `${at}.resourceLimits`, report);
        for (const field of RESOURCE_LIMITS) {
          const value = spec.resourceLimits[field];
          if (value !== undefined && !isPosInt(value))
            report(`${at}.resourceLimits.${field}`, `must be an integer > 0 (MB), got ${show(value)}`);
        }
      }
    }
    if (spec.execArgv !== undefined) {
      if (kind === 'thread')
        report(`${at}.execArgv`, 'a thread host shares its process: execArgv is for process hosts');
      else if (!Array.isArray(spec.execArgv) || !spec.execArgv.every((a) => typeof a === 'string'))
        report(`${at}.execArgv`, 'must be an array of strings');
    }
  }
  return names;
}

/**
 * Where a task runs: `inline` takes a `run` function; a host pool takes a `module` (and `export`), since no closure
 * can cross into another process or thread.
 */
export function validateTaskHost(spec: Obj, path: string, hosts: ReadonlySet<string>, report: Report): void {
  const host = spec.host;
  if (typeof host !== 'string' || (host !== 'inline' && !hosts.has(host))) {
    const declared = [...hosts].map((h) => `'${h}'`);
    report(
      `${path}.host`,
      `must be 'inline' or a host pool declared in the root's hosts${declared.length > 0 ? ` (${declared.join(', ')})` : ' (none declared)'}, got ${show(host)}`,
    );
    return;
  }
  if (host === 'inline') {
    if (spec.module !== undefined || spec.export !== undefined)
      report(
        `${path}.${spec.module !== undefined ? 'module' : 'export'}`,
        "an inline task runs its `run` function in the supervisor's process; `module` is for a task in a host pool (host: '<pool>')",
      );
    if (typeof spec.run !== 'function')
      report(
        `${path}.run`,
        `must be a function (an async function run({ signal, id, args, ... })), got ${show(spec.run)}`,
      );
    return;
  }
  if (spec.run !== undefined)
    report(
      `${path}.run`,
      `a task in host pool '${host}' cannot take a function (no closure crosses into another process or thread): ` +
        'give `module` (and `export`), the file the host imports',
    );
  if (typeof spec.module !== 'string' || spec.module === '') {
    report(`${path}.module`, `must be the path of a JavaScript module the host imports, got ${show(spec.module)}`);
  } else {
    const file = resolve(process.cwd(), spec.module);
    if (!existsSync(file) || !statSync(file).isFile()) report(`${path}.module`, `module not found: ${file}`);
  }
  if (spec.export !== undefined && (typeof spec.export !== 'string' || spec.export === ''))
    report(`${path}.export`, `must be the name of an export of the module, got ${show(spec.export)}`);
}
