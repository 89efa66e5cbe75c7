// Packages the linux-x64 .vsix: the universal package's files plus the native kernels
// (dist/layerwise-native.node, which the worker loads where the CPU has AVX-512F), marked for
// linux-x64 so VS Code installs it only there. Run after a build (npm run package:linux-x64).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

if (!existsSync('dist/layerwise-native.node')) {
  console.error('package:linux-x64: no dist/layerwise-native.node (the build says why it made none)');
  process.exit(1);
}
const dir = mkdtempSync(join(tmpdir(), 'layerwise-vsix-'));
const ignore = join(dir, 'vscodeignore');
writeFileSync(ignore, `${readFileSync('.vscodeignore', 'utf8').trimEnd()}\n!dist/layerwise-native.node\n`);
try {
  execFileSync(
    'npx',
    [
      'vsce',
      'package',
      '--no-dependencies',
      '--target',
      'linux-x64',
      '--ignoreFile',
      ignore,
      '--out',
      'layerwise-linux-x64.vsix',
    ],
    { stdio: 'inherit' },
  );
} finally {
  rmSync(dir, { recursive: true, force: true });
}
