// Run by `npm run build` after tsc: makes `arbor-otp/worker` (dist/runtime/runtime.js) one self-contained file.
// Every worker imports it at start-up, and each extra module node has to resolve, read and compile there costs a
// cold start ~0.5 ms of CPU (5 files: ~4 ms; one: ~1.5 ms). What only some workers need stays a lazy import.
import { build } from 'esbuild';
import { fileURLToPath } from 'node:url';

const entry = fileURLToPath(new URL('../dist/runtime/runtime.js', import.meta.url));

await build({
  entryPoints: [entry],
  outfile: entry,
  allowOverwrite: true,
  bundle: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  // Loaded on demand by hot standby spares only.
  external: ['./warm-up.js', './death-watch.js'],
  // Chained to tsc's map, so stacks still point into src/.
  sourcemap: true,
  logLevel: 'warning',
});
