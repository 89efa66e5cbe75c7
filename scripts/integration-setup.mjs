// Shared by the VS Code test runners (code-server here, desktop VS Code through
// @vscode/test-electron): bundles test/integration and lays out a scratch workspace.
import { cpSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import * as esbuild from 'esbuild';

export const ROOT = resolve(new URL('..', import.meta.url).pathname);

/** Bundles each test file on its own (vscode and mocha external); returns the tests entry. */
export async function bundleIntegrationTests() {
  const out = join(ROOT, 'dist-test', 'integration');
  rmSync(out, { recursive: true, force: true });
  const files = readdirSync(join(ROOT, 'test', 'integration')).filter((f) => f.endsWith('.test.ts'));
  await esbuild.build({
    entryPoints: files.map((f) => join(ROOT, 'test', 'integration', f)),
    outdir: out,
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    external: ['vscode', 'mocha'],
    sourcemap: 'inline',
    logLevel: 'warning',
  });
  cpSync(join(ROOT, 'test', 'integration', 'index.cjs'), join(out, 'index.js'));
  return join(out, 'index.js');
}

/** A scratch folder with a workspace holding the examples and the blow-up fixture. */
export function makeWorkspace() {
  const scratch = mkdtempSync(join(tmpdir(), 'layerwise-vscode-'));
  const ws = join(scratch, 'workspace');
  mkdirSync(ws);
  cpSync(join(ROOT, 'examples'), join(ws, 'examples'), { recursive: true });
  cpSync(join(ROOT, 'test', 'fixtures', 'torch', 'blowup_non_finite'), join(ws, 'blowup'), { recursive: true });
  return { scratch, ws };
}
