#!/usr/bin/env bash
# Installs what the browser tiers need, idempotently, outside the project's node_modules:
#   Debian: chromium (headless browser), build tools + libkrb5-dev + ripgrep (code-server's native modules)
#   $LAYERWISE_TOOLS/code-server: code-server 4.100.3 (VS Code 1.100.3, the last release for Node 20)
#   $LAYERWISE_TOOLS/pw: playwright-core (the driver only; it drives Debian's chromium)
# Needs Debian (apt-get) and root or sudo for the Debian packages; says so and fails elsewhere.
# Prints nothing but progress; exits non-zero with a message when something cannot be installed.
set -euo pipefail
TOOLS=${LAYERWISE_TOOLS:-$HOME/.cache/layerwise-test-tools}
mkdir -p "$TOOLS"
need=()
[ -x /usr/bin/chromium ] || need+=(chromium)
[ -f /usr/include/gssapi/gssapi.h ] || need+=(libkrb5-dev)
command -v rg >/dev/null || need+=(ripgrep)
command -v c++ >/dev/null || need+=(build-essential)
command -v pkg-config >/dev/null || need+=(pkg-config)
command -v unzip >/dev/null || need+=(unzip)
if [ ${#need[@]} -gt 0 ]; then
  bash "$(dirname "$0")/apt-install.sh" "install them by hand (the browser tiers drive /usr/bin/chromium)" "${need[@]}" python3
fi
bash "$(dirname "$0")/ensure-code-server.sh" "$TOOLS/code-server" >/dev/null
if [ ! -f "$TOOLS/pw/node_modules/playwright-core/package.json" ]; then
  mkdir -p "$TOOLS/pw"
  [ -f "$TOOLS/pw/package.json" ] || echo '{"name":"layerwise-pw","private":true}' > "$TOOLS/pw/package.json"
  (cd "$TOOLS/pw" && npm install --no-audit --no-fund --silent playwright-core@1.65.1)
fi
echo "setup: browser test tools ready in $TOOLS"
