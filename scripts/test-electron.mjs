// The same integration tests in desktop VS Code, through @vscode/test-electron (it downloads VS
// Code, so it runs where the network allows; CI here uses code-server: scripts/vscode-test.mjs).
import { runTests } from '@vscode/test-electron';
import { bundleIntegrationTests, makeWorkspace, ROOT } from './integration-setup.mjs';

const extensionTestsPath = await bundleIntegrationTests();
const { ws } = makeWorkspace();
try {
  await runTests({
    extensionDevelopmentPath: ROOT,
    extensionTestsPath,
    launchArgs: [ws, '--disable-extensions', '--disable-workspace-trust'],
  });
} catch (e) {
  console.error(`desktop VS Code tests failed: ${e instanceof Error ? e.message : e}`);
  process.exit(1);
}
