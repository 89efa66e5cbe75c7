// Runs test/integration in real VS Code: code-server 4.100.3's extension host, its workbench in
// headless Debian chromium (playwright-core), the tests passed as extensionTestsPath in the
// workbench `payload` (VS Code's own browser-integration-test method), the result read from
// window.codeAutomationExit. Screenshots of the workbench go to test-results/.
// Usage: node scripts/vscode-test.mjs [--vsix FILE]   (install a packaged .vsix instead of the dev folder)
import { spawn, spawnSync, execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import { format } from 'node:util';
import { bundleIntegrationTests, makeWorkspace, ROOT } from './integration-setup.mjs';

const TOOLS = process.env.LAYERWISE_TOOLS ?? join(process.env.HOME ?? '/root', '.cache', 'layerwise-test-tools');
const CODE_SERVER = join(TOOLS, 'code-server', 'node_modules', '.bin', 'code-server');
const { chromium } = createRequire(join(TOOLS, 'pw') + '/')('playwright-core');
const vsixArg = process.argv.indexOf('--vsix');
const VSIX = vsixArg > 0 ? resolve(process.argv[vsixArg + 1]) : null;

// The kernels a run must say it ran on: the native products where the package (or the dev
// folder's dist/) has them and this CPU runs them; WebAssembly from the universal package.
const avx512 = existsSync('/proc/cpuinfo') && /\bavx512f\b/.test(readFileSync('/proc/cpuinfo', 'utf8'));
const withNative = VSIX ? /linux-x64\.vsix$/.test(VSIX) : existsSync(join(ROOT, 'dist', 'layerwise-native.node'));
const KERNELS = withNative && avx512 ? 'native' : 'wasm';

const testsEntry = await bundleIntegrationTests();
const { scratch, ws } = makeWorkspace();
const env = {
  ...process.env,
  ...(VSIX
    ? { LAYERWISE_TEST_GREP: 'activates|streams to the run panel|export report', LAYERWISE_TEST_VSIX: '1' }
    : {}),
  XDG_CONFIG_HOME: join(scratch, 'xdg-config'),
  XDG_DATA_HOME: join(scratch, 'xdg-data'),
  TMPDIR: join(scratch, 'tmp'),
  LAYERWISE_TEST_WORKSPACE: ws,
  LAYERWISE_TEST_KERNELS: KERNELS,
};
for (const d of [
  env.XDG_CONFIG_HOME,
  env.XDG_DATA_HOME,
  env.TMPDIR,
  join(scratch, 'exts'),
  join(scratch, 'ud', 'User'),
])
  mkdirSync(d, { recursive: true });
writeFileSync(
  join(scratch, 'ud', 'User', 'settings.json'),
  JSON.stringify({
    'workbench.startupEditor': 'none',
    'security.workspace.trust.enabled': false,
    'extensions.autoUpdate': false,
    'telemetry.telemetryLevel': 'off',
    // tests edit files and revert them: a save in between (code-server's own default may auto-save)
    // would keep the edit on disk for the tests after
    'files.autoSave': 'off',
  }),
);
const common = ['--user-data-dir', join(scratch, 'ud'), '--extensions-dir', join(scratch, 'exts')];
if (VSIX) execFileSync(CODE_SERVER, [...common, '--install-extension', VSIX], { env, stdio: 'inherit' });

const port = await new Promise((res) => {
  const s = createServer();
  s.listen(0, '127.0.0.1', () => {
    const p = s.address().port;
    s.close(() => res(p));
  });
});
const server = spawn(
  CODE_SERVER,
  [
    '--bind-addr',
    `127.0.0.1:${port}`,
    '--auth',
    'none',
    ...common,
    '--disable-telemetry',
    '--disable-update-check',
    '--disable-workspace-trust',
    '--disable-getting-started-override',
    ws,
  ],
  { env, stdio: ['ignore', 'pipe', 'pipe'], detached: false },
);
let serverLog = '';
server.stdout.on('data', (d) => (serverLog += d));
server.stderr.on('data', (d) => (serverLog += d));

function descendants(pid) {
  const r = spawnSync('ps', ['-o', 'pid=', '--ppid', String(pid)], { encoding: 'utf8' });
  return r.stdout
    .split('\n')
    .map((s) => s.trim())
    .filter(Boolean)
    .flatMap((c) => [...descendants(Number(c)), Number(c)]);
}
function stopServer() {
  const all = [...descendants(server.pid), server.pid];
  for (const p of all) {
    try {
      process.kill(p, 'SIGTERM');
    } catch {
      /* gone */
    }
  }
  setTimeout(() => {
    for (const p of all) {
      try {
        process.kill(p, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
  }, 1000).unref();
}

let code = 1;
let browser;
try {
  for (let i = 0; ; i++) {
    try {
      if ((await fetch(`http://127.0.0.1:${port}/healthz`)).ok) break;
    } catch {
      /* not up yet */
    }
    if (i > 300) throw new Error(`code-server did not start:\n${serverLog}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  const remote = (p) => `vscode-remote://127.0.0.1:${port}${p}`;
  const payload = [
    ['extensionTestsPath', remote(testsEntry)],
    ['skipWelcome', 'true'],
  ];
  // VS Code runs extensionTestsPath only in an Extension Development Host. With --vsix, an empty
  // stub is the development extension, and Layerwise is the one installed from the package.
  let devPath = ROOT;
  if (VSIX) {
    devPath = join(scratch, 'test-host');
    mkdirSync(devPath);
    writeFileSync(
      join(devPath, 'package.json'),
      JSON.stringify({
        name: 'layerwise-test-host',
        publisher: 'layerwise',
        version: '0.0.0',
        engines: { vscode: '^1.100.0' },
      }),
    );
  }
  payload.unshift(['extensionDevelopmentPath', remote(devPath)]);
  const url = `http://127.0.0.1:${port}/?folder=${encodeURIComponent(ws)}&payload=${encodeURIComponent(JSON.stringify(payload))}`;
  browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  const page = await (await browser.newContext({ viewport: { width: 1400, height: 900 } })).newPage();
  let resolveExit;
  const exited = new Promise((r) => (resolveExit = r));
  await page.exposeFunction('codeAutomationExit', (c) => resolveExit(c));
  await page.exposeFunction('codeAutomationLog', (type, args) => {
    const line = Array.isArray(args) ? format(...args) : String(args);
    if (!/vsda|open-vsx|ERR_NAME_NOT_RESOLVED|Failed to load resource/.test(line)) console.log(line.slice(0, 2000));
  });
  // screenshots while the tests run: the panel filling in
  const shots = join(ROOT, 'test-results');
  mkdirSync(shots, { recursive: true });
  let n = 0;
  const shooter = setInterval(() => {
    void page
      .screenshot({ path: join(shots, `vscode-${VSIX ? 'vsix' : 'dev'}-${String(n++).padStart(2, '0')}.png`) })
      .catch(() => {});
  }, 4000);
  await page.goto(url);
  code = await Promise.race([exited, new Promise((r) => setTimeout(() => r('timeout'), 300000))]);
  clearInterval(shooter);
  await page.screenshot({ path: join(shots, `vscode-${VSIX ? 'vsix' : 'dev'}-final.png`) }).catch(() => {});
  console.log(`VS Code (code-server) tests: codeAutomationExit ${code}`);
} catch (e) {
  console.error(String(e?.stack ?? e));
} finally {
  await browser?.close().catch(() => {});
  stopServer();
  if (existsSync(scratch) && code === 0) rmSync(scratch, { recursive: true, force: true });
}
process.exit(code === 0 ? 0 : 1);
