// Builds the native dense products (native/kernels.c) into dist/layerwise-native.node with the
// machine's C compiler ($CC, else cc) against Node's own headers, on x86-64 Linux. Optional: where
// there is no compiler or no headers it says so and exits 0, and the WebAssembly kernels serve.
// Usage: node scripts/build-native.mjs [--quiet]
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

const quiet = process.argv.includes('--quiet');
const source = 'native/kernels.c';
const target = 'dist/layerwise-native.node';
const say = (s) => quiet || console.log(s);

if (process.platform !== 'linux' || process.arch !== 'x64') {
  say(`native kernels: not built on ${process.platform}-${process.arch} (x86-64 Linux only); WebAssembly serves`);
  process.exit(0);
}
const headers = [process.env.LAYERWISE_NODE_HEADERS, resolve(dirname(process.execPath), '..', 'include', 'node')]
  .filter(Boolean)
  .find((d) => existsSync(join(d, 'node_api.h')));
if (!headers) {
  say('native kernels: not built (no node_api.h next to this Node); WebAssembly serves');
  process.exit(0);
}
if (existsSync(target) && statSync(target).mtimeMs >= statSync(source).mtimeMs) process.exit(0);
mkdirSync('dist', { recursive: true });
const cc = process.env.CC || 'cc';
const flags = ['-O3', '-ffp-contract=off', '-fPIC', '-shared', '-Wall', `-I${headers}`];
try {
  execFileSync(cc, [...flags, source, '-lm', '-o', `${target}.tmp`], { stdio: ['ignore', 'ignore', 'pipe'] });
  renameSync(`${target}.tmp`, target);
  say(`native kernels: built ${target}`);
} catch (e) {
  const why =
    e.code === 'ENOENT'
      ? `no C compiler (${cc})`
      : String(e.stderr ?? e.message)
          .trim()
          .split('\n')[0];
  say(`native kernels: not built (${why}); WebAssembly serves`);
}
