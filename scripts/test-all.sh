#!/usr/bin/env bash
# Every test tier. The fast tier (core, model files, CLI against PyTorch fixtures) needs only
# node; the Python tier installs Debian's python3-torch and python3-pytest (scripts/setup-python.sh);
# the webview and VS Code tiers install what they need through scripts/setup-browser-tests.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
npm run --silent build
npx tsc --noEmit -p .
npx eslint .
npx knip
npx prettier --check .
node scripts/run-node-tests.mjs
# the Python package (layerwise_torch) under Debian's torch; the VS Code tier's log test runs it too
bash scripts/test-python.sh
# the browser tiers: the webview in headless Chromium, the extension in real VS Code (code-server)
bash scripts/setup-browser-tests.sh
node scripts/webview-test.mjs
node scripts/vscode-test.mjs
npm run --silent package >/dev/null
node scripts/check-vsix.mjs layerwise.vsix
node scripts/vscode-test.mjs --vsix layerwise.vsix
# the linux-x64 package, with the native kernels, where the build made them
if [ -e dist/layerwise-native.node ]; then
  npm run --silent package:linux-x64 >/dev/null
  node scripts/check-vsix.mjs layerwise-linux-x64.vsix --native
  node scripts/vscode-test.mjs --vsix layerwise-linux-x64.vsix
fi
