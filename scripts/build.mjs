// One build for everything: the CLI, the training worker, the extension and the webview.
// Usage: node scripts/build.mjs [--watch] [--minify]
import * as esbuild from 'esbuild';
import { existsSync, readFileSync, chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { editorSchema } from './editor-schema.mjs';

const watch = process.argv.includes('--watch');
const minify = process.argv.includes('--minify');
const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));

execFileSync(process.execPath, ['scripts/build-wasm.mjs'], { stdio: 'inherit' });
execFileSync(process.execPath, ['scripts/build-native.mjs'], { stdio: 'inherit' });
mkdirSync('dist', { recursive: true });
writeFileSync(
  'dist/mlp.editor.schema.json',
  JSON.stringify(editorSchema(JSON.parse(readFileSync('schemas/mlp.schema.json', 'utf8')))),
);

const node = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  sourcemap: true,
  minify,
  define: { LAYERWISE_VERSION: JSON.stringify(pkg.version) },
  logLevel: 'warning',
};
const builds = [
  { ...node, entryPoints: ['src/cli/main.ts'], outfile: 'dist/cli.js', banner: { js: '#!/usr/bin/env node' } },
  { ...node, entryPoints: ['src/runner/worker.ts'], outfile: 'dist/worker.js' },
  { ...node, entryPoints: ['src/extension/extension.ts'], outfile: 'dist/extension.js', external: ['vscode'] },
  {
    entryPoints: ['webview/main.ts'],
    outfile: 'dist/webview.js',
    bundle: true,
    platform: 'browser',
    target: 'es2022',
    format: 'iife',
    sourcemap: true,
    minify: true,
    logLevel: 'warning', // always: it is parsed at every webview boot and inlined in reports
  },
].filter((b) => existsSync(b.entryPoints[0]));

if (watch) {
  for (const b of builds) await (await esbuild.context(b)).watch();
  console.log('watching…');
} else {
  const t0 = Date.now();
  await Promise.all(builds.map((b) => esbuild.build(b)));
  chmodSync('dist/cli.js', 0o755);
  console.log(`built ${builds.map((b) => b.outfile).join(', ')} in ${Date.now() - t0} ms`);
}
