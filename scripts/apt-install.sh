#!/usr/bin/env bash
# Installs Debian packages for the test and bench scripts: apt-get, through sudo when not root.
# Usage: apt-install.sh "what to do elsewhere" PACKAGE...  Fails with a clear message off Debian
# (no apt-get) or without root and sudo.
set -euo pipefail
elsewhere=$1
shift
if ! command -v apt-get >/dev/null; then
  echo "setup: $* missing, and this is not Debian (no apt-get): $elsewhere" >&2
  exit 1
fi
SUDO=()
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "setup: installing $* needs root or sudo" >&2; exit 1; }
  SUDO=(sudo)
fi
echo "setup: apt-get install $*"
"${SUDO[@]}" apt-get update -qq
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
