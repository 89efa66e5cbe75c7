// Runs test/webview/*.test.mjs: the webview bundle in real headless Chromium (Debian chromium via
// playwright-core from the browser-tools folder), fed with real event streams from the core.
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';

const ROOT = resolve(new URL('..', import.meta.url).pathname);
const files = readdirSync(join(ROOT, 'test', 'webview'))
  .filter((f) => f.endsWith('.test.mjs'))
  .map((f) => join(ROOT, 'test', 'webview', f));
const r = spawnSync(process.execPath, ['--test', ...files], { stdio: 'inherit', cwd: ROOT });
process.exit(r.status ?? 1);
