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
  if ! command -v apt-get >/dev/null; then
    echo "setup: ${need[*]} missing, and this is not Debian (no apt-get): install them by hand (the browser tiers drive /usr/bin/chromium)" >&2
    exit 1
  fi
  SUDO=()
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "setup: installing ${need[*]} needs root or sudo" >&2; exit 1; }
    SUDO=(sudo)
  fi
  echo "setup: apt-get install ${need[*]}"
  "${SUDO[@]}" apt-get update -qq
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" python3 >/dev/null
fi
bash "$(dirname "$0")/ensure-code-server.sh" "$TOOLS/code-server" >/dev/null
if [ ! -f "$TOOLS/pw/node_modules/playwright-core/package.json" ]; then
  mkdir -p "$TOOLS/pw"
  [ -f "$TOOLS/pw/package.json" ] || echo '{"name":"layerwise-pw","private":true}' > "$TOOLS/pw/package.json"
  (cd "$TOOLS/pw" && npm install --no-audit --no-fund --silent playwright-core@1.65.1)
fi
echo "setup: browser test tools ready in $TOOLS"
