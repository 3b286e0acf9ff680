#!/usr/bin/env bash
# Run a command inside the GIMP 3 chroot made by gimp_plugin/provision.sh. Needs root.
#
#   gimp_plugin/gimp3_run.sh [VAR=val ...] CMD [ARGS ...]
#
# The command gets a clean environment (HOME=/tmp/home, a tmpfs /tmp) plus the VAR=val given, and runs in
# a private mount namespace, so nothing stays mounted afterwards. Bound at the same paths inside:
#   - this repository (the plug-in, the batch scripts and the venv of unscratch's own Python),
#   - $PWD,
#   - every directory in $UNSCRATCH_GIMP3_BINDS (space-separated), e.g. the base prefix of the worker's
#     Python (/root/.pyenv/versions/3.11.7) and a test's temporary folder.
# Example (batch mode, no X needed):
#   gimp_plugin/gimp3_run.sh GIMP3_DIRECTORY=$PWD/cfg gimp-console-3.0 -i \
#       --batch-interpreter=python-fu-eval -b "exec(open('$PWD/script.py').read())" --quit
set -euo pipefail
ROOT=${UNSCRATCH_GIMP3_ROOT:-/opt/unscratch-gimp3}
REPO="$(cd "$(dirname "$0")/.." && pwd)"
if [ ! -x "$ROOT/usr/bin/gimp-console-3.0" ]; then
  echo "gimp3_run.sh: no GIMP 3 chroot at $ROOT; run: sudo bash $REPO/gimp_plugin/provision.sh" >&2
  exit 3
fi
[ "$(id -u)" = 0 ] || { echo "gimp3_run.sh: needs root (mount namespace + chroot)" >&2; exit 3; }

export REPO_DIR="$REPO"
exec unshare --mount --propagation private -- bash -euc '
  R=$1; shift
  mount -t proc proc "$R/proc"
  mount --rbind /dev "$R/dev"
  mount -t tmpfs tmpfs "$R/tmp"; mkdir -p "$R/tmp/home"
  for p in "$REPO_DIR" "$PWD" ${UNSCRATCH_GIMP3_BINDS:-}; do
    [ -d "$p" ] || continue
    case "$p" in /|/usr|/usr/*|/etc|/etc/*|/proc*|/dev*|/lib*|/bin*|/sbin*) echo "gimp3_run.sh: not binding $p" >&2; continue;; esac
    mkdir -p "$R$p" && mount --bind "$p" "$R$p"
  done
  if [ -d /tmp/.X11-unix ] && [ -n "${DISPLAY:-}" ]; then mkdir -p "$R/tmp/.X11-unix"; mount --bind /tmp/.X11-unix "$R/tmp/.X11-unix"; fi
  exec unshare --root="$R" --wd="$PWD" /usr/bin/env -i HOME=/tmp/home LANG=C.UTF-8 \
    PATH=/usr/sbin:/usr/bin:/sbin:/bin ${DISPLAY:+DISPLAY=$DISPLAY} "$@"
' _ "$ROOT" "$@"
