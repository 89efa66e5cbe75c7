// The .vsix holds only what runs: the bundles, schema, styles, icon, manifest, readme, license.
// No sources, source maps, tests, fixtures or node_modules.
import { execFileSync } from 'node:child_process';

const list = execFileSync('unzip', ['-Z1', process.argv[2] ?? 'layerwise.vsix'], { encoding: 'utf8' })
  .trim()
  .split('\n');
const allowed =
  /^(extension\.vsixmanifest|\[Content_Types\]\.xml|extension\/(package\.json|readme\.md|changelog\.md|LICENSE\.txt|schemas\/mlp\.schema\.json|media\/(panel\.css|layerwise\.svg|icon\.png|walkthrough\/[a-z]+\.md)|dist\/((extension|worker|webview)\.js|mlp\.editor\.schema\.json)))$/;
const extra = list.filter((f) => !allowed.test(f));
const needed = [
  'extension/dist/extension.js',
  'extension/dist/worker.js',
  'extension/dist/webview.js',
  'extension/dist/mlp.editor.schema.json',
  'extension/schemas/mlp.schema.json',
].filter((f) => !list.includes(f));
if (extra.length || needed.length) {
  console.error(`vsix: unexpected ${JSON.stringify(extra)}, missing ${JSON.stringify(needed)}`);
  process.exit(1);
}
console.log(`vsix: ${list.length} files, only what runs`);
