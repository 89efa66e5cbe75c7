/** Runs the built CLI (dist/cli.js) and collects its output. */
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';

export const ROOT = path.resolve(__dirname, '..', '..');
export const CLI = path.join(ROOT, 'dist', 'cli.js');

interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
  events: Record<string, unknown>[];
}

export function runCli(
  args: string[],
  opts: { cwd?: string; timeoutMs?: number; env?: Record<string, string> } = {},
): CliRun {
  const r = spawnSync(process.execPath, [CLI, ...args], {
    cwd: opts.cwd ?? ROOT,
    env: { ...process.env, ...opts.env },
    encoding: 'utf8',
    timeout: opts.timeoutMs ?? 60000,
    maxBuffer: 256 * 1024 * 1024,
  });
  const events = args.includes('--json')
    ? r.stdout
        .split('\n')
        .filter((l) => l.trim() !== '')
        .map((l) => JSON.parse(l) as Record<string, unknown>)
    : [];
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, events };
}
