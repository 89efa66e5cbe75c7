// The .vsix holds only what runs: the bundles, schema, styles, icon, manifest, readme, license.
// No sources, source maps, tests, fixtures or node_modules.
import { execFileSync } from 'node:child_process';

// Usage: node scripts/check-vsix.mjs [FILE] [--native]   (--native: the linux-x64 package, which
// also holds the native kernels and says its target)
const file = process.argv[2] && !process.argv[2].startsWith('--') ? process.argv[2] : 'layerwise.vsix';
const native = process.argv.includes('--native');
const list = execFileSync('unzip', ['-Z1', file], { encoding: 'utf8' }).trim().split('\n');
const allowed =
  /^(extension\.vsixmanifest|\[Content_Types\]\.xml|extension\/(package\.json|readme\.md|changelog\.md|LICENSE\.txt|schemas\/mlp\.schema\.json|media\/(panel\.css|layerwise\.svg|icon\.png|walkthrough\/[a-z]+\.md)|dist\/((extension|worker|webview)\.js|mlp\.editor\.schema\.json)))$/;
const nativeFile = 'extension/dist/layerwise-native.node';
const extra = list.filter((f) => !allowed.test(f) && !(native && f === nativeFile));
const needed = [
  'extension/dist/extension.js',
  'extension/dist/worker.js',
  'extension/dist/webview.js',
  'extension/dist/mlp.editor.schema.json',
  'extension/schemas/mlp.schema.json',
  ...(native ? [nativeFile] : []),
].filter((f) => !list.includes(f));
const manifest = execFileSync('unzip', ['-p', file, 'extension.vsixmanifest'], { encoding: 'utf8' });
const target = /TargetPlatform="([^"]+)"/.exec(manifest)?.[1] ?? null;
if (extra.length || needed.length || target !== (native ? 'linux-x64' : null)) {
  console.error(`vsix: unexpected ${JSON.stringify(extra)}, missing ${JSON.stringify(needed)}, target ${target}`);
  process.exit(1);
}
console.log(`vsix: ${list.length} files, only what runs${native ? ', for linux-x64' : ''}`);
