// The spec module of `arbor run`: imported at start, and imported anew at every reload to read what changed.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { withModulesResolvedFrom } from '../supervisor/spec.js';

/** Reloads so far: each fresh import of a .js spec gets its own URL, since node caches a module by its URL. */
let imports = 0;

/**
 * Imports the spec module and returns its default export, called if it is a function. `fresh`: past node's module
 * cache — a .ts spec and the modules it imports are compiled and loaded anew; a .js/.mjs spec module itself is
 * (node never evicts an ES module, so what it imports stays as first loaded).
 */
export async function loadSpecModule(modulePath: string, options: { fresh?: boolean } = {}): Promise<unknown> {
  const file = resolve(modulePath);
  if (!existsSync(file)) throw new Error(`no such file: ${file}`);
  const url = pathToFileURL(file).href;
  let exported: unknown;
  if (/\.[cm]?ts$/.test(file)) {
    // Loaded only when needed: plain JavaScript specs start without the TypeScript loader. Each tsImport has a
    // namespace of its own, so it reads the files as they are now.
    const { tsImport } = await import('tsx/esm/api');
    if (options.fresh) forgetTypeScriptImports();
    exported = ((await tsImport(url, import.meta.url)) as { default?: unknown }).default;
    // A .ts file outside an ESM package is compiled as CommonJS: its `export default` is one level down.
    if (exported !== null && typeof exported === 'object' && '__esModule' in exported && 'default' in exported) {
      exported = exported.default;
    }
  } else {
    imports += 1;
    const specifier = options.fresh ? `${url}?arbor-reload=${imports}` : url;
    exported = ((await import(specifier)) as { default?: unknown }).default;
  }
  if (exported === undefined) throw new Error('the module has no default export (export default supervisor({ ... }))');
  const spec = typeof exported === 'function' ? await (exported as () => unknown)() : exported;
  // Relative worker modules are relative to the spec file, as its own imports are.
  return withModulesResolvedFrom(spec, dirname(file));
}

/**
 * A .ts spec outside an ESM package is compiled as CommonJS, and node's require cache would hand the new import its
 * dependencies as first loaded. The entries of earlier tsImport calls (keyed `…?namespace=<n>`) are dropped, so
 * the spec's own modules are read anew, and those copies freed.
 */
function forgetTypeScriptImports(): void {
  const cache = createRequire(import.meta.url).cache;
  for (const key of Object.keys(cache)) if (key.includes('?namespace=')) delete cache[key];
}
