// Runs the fast tier: every test/**/*.test.ts outside test/webview and test/integration, under
// node's own test runner (TypeScript through tsx). Pass file paths to run only those.
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

const SLOW = new Set(['test/webview', 'test/integration']);
function find(dir) {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    if (statSync(p).isDirectory()) return SLOW.has(p) || n === 'fixtures' ? [] : find(p);
    return p.endsWith('.test.ts') ? [p] : [];
  });
}
const files = process.argv.length > 2 ? process.argv.slice(2) : find('test').sort();
const r = spawnSync(process.execPath, ['--expose-gc', '--import', 'tsx', '--test', '--test-concurrency=2', ...files], {
  stdio: 'inherit',
});
process.exit(r.status ?? 1);
