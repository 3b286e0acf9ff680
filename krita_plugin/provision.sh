#!/usr/bin/env bash
# Idempotent: install real Krita (Debian bookworm 5.1.5) and what its Python plug-ins and our
# headless tests need. About 1 minute and +337 MB on a fresh machine; ~0 s when already present.
#   krita          the host (kritarunner ships in it)
#   python3-pyqt5  only a Recommends of krita, but Krita's `krita` Python module imports PyQt5
#   python3-sip    PyQt5's runtime
#   xvfb xauth     an X server for the GUI tests (xvfb-run); kritarunner needs none
# Needs root (CI runs as root); as non-root it uses sudo -n when available, else fails with a message.
set -euo pipefail
PKGS=(krita python3-pyqt5 python3-sip xvfb xauth)
missing=()
for p in "${PKGS[@]}"; do
  if ! dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null | grep -q '^ii'; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -eq 0 ] && command -v kritarunner >/dev/null && command -v xvfb-run >/dev/null; then
  exit 0
fi
SUDO=()
if [ "$(id -u)" != 0 ]; then
  if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
    SUDO=(sudo -n)
  else
    echo "krita_plugin/provision.sh: need root to install: ${missing[*]}" >&2
    echo "  run as root: apt-get install --no-install-recommends ${PKGS[*]}" >&2
    exit 1
  fi
fi
if ! command -v apt-get >/dev/null; then
  echo "krita_plugin/provision.sh: apt-get not found; install Krita 5.x with Python support and Xvfb yourself" >&2
  exit 1
fi
echo "krita_plugin/provision.sh: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
APT=("${SUDO[@]}" apt-get -o DPkg::Lock::Timeout=600 -q)
# Refresh the package lists only when needed: the packages are not in them, or the lists are stale
# (the download of what they name fails).
if ! "${APT[@]}" install -y --no-install-recommends --simulate "${missing[@]}" >/dev/null 2>&1; then
  "${APT[@]}" update
fi
if ! "${APT[@]}" install -y --no-install-recommends "${missing[@]}"; then
  "${APT[@]}" update
  "${APT[@]}" install -y --no-install-recommends "${missing[@]}"
fi
command -v kritarunner >/dev/null && command -v xvfb-run >/dev/null
