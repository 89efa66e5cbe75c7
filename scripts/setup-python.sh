#!/usr/bin/env bash
# Installs, idempotently and from Debian's packages, what the Python tier needs for /usr/bin/python3:
#   python3-torch (1.13, CPU, gloo for torch.distributed) and python3-pytest;
#   with --bench also libopenblas0-pthread (Debian's torch runs on whichever libblas.so.3 is installed).
# Needs Debian (apt-get) and root or sudo; says so and fails elsewhere.
set -euo pipefail
need=()
[ -x /usr/bin/python3 ] || need+=(python3)
/usr/bin/python3 -c 'import torch' 2>/dev/null || need+=(python3-torch)
/usr/bin/python3 -c 'import pytest' 2>/dev/null || need+=(python3-pytest)
if [ "${1:-}" = "--bench" ]; then
  dpkg -s libopenblas0-pthread >/dev/null 2>&1 || need+=(libopenblas0-pthread)
fi
[ ${#need[@]} -eq 0 ] && exit 0
bash "$(dirname "$0")/apt-install.sh" "install PyTorch >= 1.13 and pytest for /usr/bin/python3 by hand" "${need[@]}"
