// Fails the build on dynamic code: eval, new Function, string timers, in src/ and webview/.
// Model files are data; nothing read from them, or anywhere else, is ever executed.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

const RULES = [
  [/\beval\s*\(/, 'eval()'],
  [/\bnew\s+Function\s*\(/, 'new Function()'],
  [/\b(setTimeout|setInterval)\s*\(\s*['"`]/, 'a string timer'],
  [/\bFunction\s*\(\s*['"`]/, 'Function("…")'],
];
function files(dir) {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? files(p) : /\.(ts|js|mjs)$/.test(p) ? [p] : [];
  });
}
let bad = 0;
for (const f of ['src', 'webview'].filter((d) => { try { return statSync(d).isDirectory(); } catch { return false; } }).flatMap(files)) {
  readFileSync(f, 'utf8').split('\n').forEach((line, i) => {
    if (/^\s*(\/\/|\*)/.test(line)) return;
    for (const [re, what] of RULES) if (re.test(line)) { console.error(`${f}:${i + 1}: dynamic code (${what}) is not allowed`); bad++; }
  });
}
if (bad) process.exit(1);
console.log('lint: no dynamic code');
