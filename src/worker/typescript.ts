// Workers written in TypeScript: a module ending in .ts, .mts or .cts runs through tsx, the loader `arbor run` uses
// for a .ts spec, preloaded (`--import`) into the worker and into its standby spares. Compiled JavaScript starts
// faster (tsx costs every start, restarts included, a few hundred ms of compiling): build for production.
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';

const TYPESCRIPT_MODULE = /\.[cm]?ts$/;

let loader: string | undefined;

/** tsx's loader, resolved from arbor's own dependencies, so the worker's project need not install it. */
function tsxLoader(): string {
  return (loader ??= pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href);
}

/** The execArgv that lets node run `modulePath`: tsx's loader for TypeScript, nothing for JavaScript. */
export function loaderExecArgv(modulePath: string): string[] {
  return TYPESCRIPT_MODULE.test(modulePath) ? ['--import', tsxLoader()] : [];
}
