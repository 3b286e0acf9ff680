#!/usr/bin/env bash
# Idempotent: install the system libraries napari's Qt canvas needs on a headless Debian machine.
# Xvfb + Mesa (llvmpipe OpenGL through GLX) + what the PyQt5-Qt5 wheel's libqxcb.so links to
# (+ libxcb-cursor0 for Qt6). The Python side (napari, magicgui, PyQt5, pytest-qt, pytest-xvfb) comes
# from the `napari` and `test` extras that `.ci/setup test` installs into .venv.
# Takes well under a second when everything is already installed.
set -euo pipefail
PKGS=(xvfb xauth libgl1 libgl1-mesa-dri libegl1 libglib2.0-0 libfontconfig1 libdbus-1-3
      libxkbcommon-x11-0 libxcb-icccm4 libxcb-image0 libxcb-keysyms1 libxcb-randr0 libxcb-render-util0
      libxcb-xinerama0 libxcb-xfixes0 libxcb-shape0 libxcb-xkb1 libxcb-cursor0)

missing=()
for p in "${PKGS[@]}"; do
  status="$(dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null || true)"
  [ "${status:0:2}" = "ii" ] || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "napari_plugin/provision.sh: X/GL libraries present"
  exit 0
fi
echo "napari_plugin/provision.sh: installing ${missing[*]}"
if [ "$(id -u)" -ne 0 ]; then
  SUDO="sudo -n"
else
  SUDO=""
fi
APT=($SUDO env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 -q)
if ! "${APT[@]}" install -y --no-install-recommends "${missing[@]}"; then
  # stale or missing package lists: refresh once and retry
  "${APT[@]}" update
  "${APT[@]}" install -y --no-install-recommends "${missing[@]}"
fi
