#!/usr/bin/env bash
# Provision real GIMP 3 (Debian trixie) in a chroot, for the GIMP host tests. Idempotent: a second run
# returns in well under a second. Needs root (debootstrap, chroot, mount namespaces).
#
#   bash gimp_plugin/provision.sh            # -> $UNSCRATCH_GIMP3_ROOT (default /opt/unscratch-gimp3)
#
# Why a chroot: the host (Debian 12) ships GIMP 2.10 only, and pulling GIMP 3 from trixie into the host
# would upgrade libc and remove other packages. The chroot holds GIMP 3 and its Python 3.13 + gi only;
# the plug-in's worker (unscratch's own Python with numpy/onnxruntime) is bind-mounted in from the host
# at run time by gimp_plugin/gimp3_run.sh.
set -euo pipefail
ROOT=${UNSCRATCH_GIMP3_ROOT:-/opt/unscratch-gimp3}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
APT_PKGS="gimp python3 python3-gi xvfb xdotool"
STAMP="$ROOT/.unscratch-provisioned"
STAMP_VALUE="v1 $APT_PKGS"
APT_OPTS=(-o DPkg::Lock::Timeout=600 -q -y --no-install-recommends)

if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$STAMP_VALUE" ] && [ -x "$ROOT/usr/bin/gimp-console-3.0" ]; then
  echo "GIMP 3 chroot already provisioned at $ROOT"
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "gimp_plugin/provision.sh: needs root (debootstrap + chroot); the GIMP host tests will skip" >&2
  exit 1
fi
for tool in unshare mount; do
  command -v "$tool" >/dev/null || { echo "provision: '$tool' is missing (util-linux/mount)" >&2; exit 1; }
done

start=$(date +%s)
echo "provisioning GIMP 3 (Debian trixie chroot) at $ROOT ..."

if ! command -v debootstrap >/dev/null; then
  DEBIAN_FRONTEND=noninteractive apt-get "${APT_OPTS[@]}" install debootstrap \
    || { apt-get -o DPkg::Lock::Timeout=600 -q update \
         && DEBIAN_FRONTEND=noninteractive apt-get "${APT_OPTS[@]}" install debootstrap; }
fi

# A debootstrap that was interrupted leaves a half-made tree: start it again from scratch, but never
# delete a tree with something still mounted inside it.
if [ -d "$ROOT" ] && [ ! -f "$ROOT/.unscratch-debootstrap-done" ]; then
  if awk -v r="$ROOT/" '{ if (index($2 "/", r) == 1) found=1 } END { exit !found }' /proc/self/mounts; then
    echo "provision: $ROOT has mounts inside it; unmount them and run again" >&2
    exit 1
  fi
  rm -rf "$ROOT"
fi
if [ ! -f "$ROOT/.unscratch-debootstrap-done" ]; then
  mkdir -p "$(dirname "$ROOT")"
  debootstrap --variant=minbase trixie "$ROOT" "$MIRROR"
  touch "$ROOT/.unscratch-debootstrap-done"
fi

cp /etc/resolv.conf "$ROOT/etc/resolv.conf" 2>/dev/null || true
# Run apt inside the chroot in a private mount namespace: nothing stays mounted afterwards.
in_root() {
  unshare --mount --propagation private -- bash -euc '
    R=$1; shift
    mount -t proc proc "$R/proc"
    mount --rbind /dev "$R/dev"
    mount -t tmpfs tmpfs "$R/tmp"
    exec unshare --root="$R" --wd=/ /usr/bin/env -i HOME=/root LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive \
      PATH=/usr/sbin:/usr/bin:/sbin:/bin "$@"
  ' _ "$ROOT" "$@"
}
in_root apt-get -o DPkg::Lock::Timeout=600 -q update
in_root apt-get "${APT_OPTS[@]}" install $APT_PKGS
in_root apt-get clean
in_root gimp-console-3.0 --version
echo "$STAMP_VALUE" > "$STAMP"
echo "GIMP 3 chroot ready at $ROOT in $(( $(date +%s) - start )) s ($(du -sh "$ROOT" 2>/dev/null | cut -f1))"
