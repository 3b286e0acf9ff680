#!/usr/bin/env bash
# Inside the GIMP 3 chroot (via gimp_plugin/gimp3_run.sh): GIMP's GUI on a private Xvfb runs undo_gui.py, which
# calls Restore selection on a displayed image and waits; this script then presses Ctrl+Z in the image window
# (undo is GUI-only: no PDB procedure undoes), and undo_gui.py records what the undo brought back.
# Needs: GIMP3_DIRECTORY, UNSCRATCH_CHECKS_DIR, UNSCRATCH_CHECKS_SPEC (see host_checks.py), and
# UNSCRATCH_UNDO_TITLE: a part of the image window's title (e.g. ' 96x72 ').
set -u
HERE="$(cd "$(dirname "$0")" && pwd)"
D="$UNSCRATCH_CHECKS_DIR"
# Xvfb picks a free display itself (-displayfd): a fixed number raced other X servers of the machine
# (their abstract sockets are shared with the chroot), as xvfb-run -a does (issue 24)
rm -f "$D/xvfb.display"
Xvfb -displayfd 3 -screen 0 1280x1024x24 -nolisten tcp 3>"$D/xvfb.display" >"$D/xvfb.log" 2>&1 &
XPID=$!
trap 'kill $XPID 2>/dev/null' EXIT
for _ in $(seq 100); do [ -s "$D/xvfb.display" ] && break; sleep 0.1; done
[ -s "$D/xvfb.display" ] || { echo "Xvfb did not start:" >&2; cat "$D/xvfb.log" >&2; exit 1; }
export DISPLAY=":$(head -n 1 "$D/xvfb.display")"
echo "Xvfb on $DISPLAY"
mkdir -p "$GIMP3_DIRECTORY"
printf '(show-welcome-dialog no)\n(save-session-info no)\n' >> "$GIMP3_DIRECTORY/gimprc"
gimp-3.0 --no-splash --batch-interpreter=python-fu-eval -b "exec(open('$HERE/undo_gui.py').read())" --quit &
GPID=$!
# the procedure's dialog (INTERACTIVE run): press OK
for _ in $(seq 900); do
  [ -f "$D/dialog_expected" ] && break
  kill -0 $GPID 2>/dev/null || { echo "GIMP exited before running the procedure" >&2; exit 1; }
  sleep 0.2
done
DLG=""
for _ in $(seq 300); do
  DLG=$(xdotool search --onlyvisible --name '^Restore selection$' 2>/dev/null | head -n 1)
  [ -n "$DLG" ] && break
  sleep 0.2
done
[ -n "$DLG" ] || { echo "the Restore selection dialog did not appear" >&2; kill $GPID; exit 1; }
echo "dialog: $DLG"
touch "$D/dialog_shown"
xdotool windowfocus --sync "$DLG" 2>/dev/null || xdotool windowfocus "$DLG"
sleep 0.3
xdotool key --clearmodifiers Return
for _ in $(seq 25); do [ -f "$D/undo_ready" ] && break; sleep 0.2; done
if [ ! -f "$D/undo_ready" ] && xdotool search --onlyvisible --name '^Restore selection$' >/dev/null 2>&1; then
  echo "Return did not close the dialog; pressing Alt+O" >&2
  xdotool windowfocus "$DLG" 2>/dev/null; xdotool key --clearmodifiers alt+o
fi
for _ in $(seq 900); do
  [ -f "$D/undo_ready" ] && break
  kill -0 $GPID 2>/dev/null || { echo "GIMP exited before the image was ready" >&2; exit 1; }
  sleep 0.2
done
[ -f "$D/undo_ready" ] || { echo "timed out waiting for GIMP" >&2; kill $GPID; exit 1; }
WID=""
for _ in $(seq 20); do   # a search can fail with BadWindow while the dialog's windows go away: try again
  WID=$(xdotool search --onlyvisible --name "${UNSCRATCH_UNDO_TITLE:- – GIMP}" 2>/dev/null | head -n 1)
  [ -n "$WID" ] && break
  sleep 0.3
done
[ -n "$WID" ] || { echo "no GIMP image window found" >&2; xdotool search --name '.' getwindowname %@ >&2; kill $GPID; exit 1; }
echo "image window: $WID $(xdotool getwindowname "$WID")"
xdotool windowfocus --sync "$WID" 2>/dev/null || xdotool windowfocus "$WID"
sleep 0.5
xdotool key --clearmodifiers ctrl+z
touch "$D/undo_pressed"
for _ in $(seq 600); do kill -0 $GPID 2>/dev/null || break; sleep 0.2; done
if kill -0 $GPID 2>/dev/null; then echo "GIMP did not quit" >&2; kill $GPID; exit 1; fi
wait $GPID
