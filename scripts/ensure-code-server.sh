#!/bin/sh
# ensure-code-server.sh DIR  -- (from shared/vscode-in-ci, kept as is) install code-server (real VS Code server + web workbench) into DIR,
# outside any project's node_modules, so the project's own `npm ci` stays small and needs no apt packages.
# Idempotent: exits at once when DIR already holds a complete install of $CODE_SERVER_VERSION.
# Prints the path of the code-server launcher as the last line.
# Needs (only for this script, not for the project's npm ci): node 20, npm, cc/c++/make/python3
# (native modules: argon2, node-pty, @vscode/spdlog, native-watchdog, @parcel/watcher, kerberos),
# the gssapi headers (Debian: libkrb5-dev) for kerberos, and a ripgrep binary (Debian: ripgrep) or
# network access to GitHub for @vscode/ripgrep's postinstall download.
set -eu
DIR=${1:?usage: ensure-code-server.sh DIR}
VER=${CODE_SERVER_VERSION:-4.100.3}     # 4.100.x = last code-server line whose engines say node 20 (VS Code 1.100.3)
RG_PKG_VER=1.15.11                       # @vscode/ripgrep version used by that VS Code (lib/vscode/package-lock.json)
RG_TAG=v13.0.0-10                        # ripgrep-prebuilt tag it downloads
mkdir -p "$DIR"; DIR=$(cd "$DIR" && pwd)
BIN="$DIR/node_modules/.bin/code-server"
STAMP="$DIR/.installed-$VER"

installed_ver() { node -p "require('$DIR/node_modules/code-server/package.json').version" 2>/dev/null || true; }
if [ -f "$STAMP" ] && [ -x "$BIN" ] && [ "$(installed_ver)" = "$VER" ]; then
  echo "code-server $VER already installed in $DIR" >&2
  echo "$BIN"; exit 0
fi

# ---- prerequisites (fail early with a clear message instead of a node-gyp wall of text)
NODE_MAJOR=$(node -p 'process.versions.node.split(".")[0]')
[ "$NODE_MAJOR" = 20 ] || { echo "code-server $VER needs node 20 (have $(node -v))" >&2; exit 1; }
missing=""
for c in cc c++ make python3; do command -v $c >/dev/null || missing="$missing $c"; done
[ -f /usr/include/gssapi/gssapi.h ] || missing="$missing gssapi-headers(libkrb5-dev)"
[ -z "$missing" ] || { echo "missing:$missing  -> apt-get install build-essential python3 libkrb5-dev" >&2; exit 1; }

# ---- private temp dir; pre-seed @vscode/ripgrep's download cache ($TMPDIR/vscode-ripgrep-cache-<ver>)
#      with a local rg so its postinstall does not need api.github.com
export TMPDIR="$DIR/.tmp"; mkdir -p "$TMPDIR"
RGC="$TMPDIR/vscode-ripgrep-cache-$RG_PKG_VER"
ARCH=$(uname -m)   # x86_64 | aarch64
RGTGZ="$RGC/ripgrep-$RG_TAG-$ARCH-unknown-linux-musl.tar.gz"
if [ ! -f "$RGTGZ" ]; then
  RG=${RG_BIN:-$(command -v rg || true)}
  if [ -n "$RG" ]; then
    mkdir -p "$RGC" "$TMPDIR/rg"; cp "$RG" "$TMPDIR/rg/rg"; tar czf "$RGTGZ" -C "$TMPDIR/rg" rg
  else
    echo "warning: no rg found (apt-get install ripgrep or set RG_BIN); @vscode/ripgrep will try GitHub" >&2
  fi
fi

# ---- install
cd "$DIR"
[ -f package.json ] || echo '{"name":"code-server-cache","private":true}' > package.json
# unsafe_perm: code-server's postinstall.sh refuses to run as root without it (npm 11 warns "unknown config", harmless)
# yes: node-pty's postinstall runs `npx node-gyp`; nodedir: use the installed node headers (no download)
# prefer_offline: take everything from the npm cache when it is warm
# strict_allow_scripts=false: npm 11.19 runs dependency install scripts not listed in allowScripts with only a
#   warning ("install scripts not yet covered by allowScripts"); pin that, code-server needs its scripts
#   (postinstall.sh runs a nested `npm install` in lib/vscode that builds the native modules)
npm_config_strict_allow_scripts=false npm_config_unsafe_perm=true npm_config_yes=true npm_config_nodedir="${npm_config_nodedir:-/usr}" \
npm_config_prefer_offline=true npm_config_audit=false npm_config_fund=false npm_config_update_notifier=false \
  npm install --no-save "code-server@$VER" > "$DIR/install.log" 2>&1 || {
    echo "npm install code-server@$VER failed; tail of $DIR/install.log:" >&2; tail -40 "$DIR/install.log" >&2; exit 1; }

# ---- verify: native modules load, ripgrep present
V="$DIR/node_modules/code-server/lib/vscode"
( cd "$V" && node --input-type=module -e "
  import { createRequire } from 'node:module'; const r = createRequire(process.cwd() + '/');
  for (const m of ['node-pty', '@vscode/spdlog', 'native-watchdog', '@parcel/watcher', 'kerberos']) r(m);
" ) || { echo "native module check failed" >&2; exit 1; }
[ -x "$V/node_modules/@vscode/ripgrep/bin/rg" ] || { echo "ripgrep binary missing" >&2; exit 1; }
[ "$(installed_ver)" = "$VER" ] || { echo "installed version $(installed_ver) != $VER" >&2; exit 1; }
echo "code-server $(installed_ver) installed in $DIR" >&2
touch "$STAMP"
echo "$BIN"
