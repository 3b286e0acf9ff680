#!/usr/bin/env bash
# Inside the GIMP 3 chroot (via gimp_plugin/gimp3_run.sh): GIMP's GUI on a private Xvfb runs undo_gui.py, which
# runs Detect scratches and Restore selection on a displayed image and waits; this script zooms the image, shows
# the Filters menu, presses OK in Restore's dialog, then Ctrl+Z in the image window (undo is GUI-only: no PDB
# procedure undoes), and undo_gui.py records what the undo brought back. Screenshots: this script and
# undo_gui.py write $D/shot.NAME and wait for $D/shot.NAME.done (the test grabs the display; see shot()).
# Needs: GIMP3_DIRECTORY, UNSCRATCH_CHECKS_DIR, UNSCRATCH_CHECKS_SPEC (see host_checks.py), and
# UNSCRATCH_UNDO_TITLE: a part of the image window's title (e.g. ' 96x72 ').
set -u
HERE="$(cd "$(dirname "$0")" && pwd)"
D="$UNSCRATCH_CHECKS_DIR"
# Xvfb picks a free display itself (-displayfd): a fixed number raced other X servers of the machine
# (their abstract sockets are shared with the chroot), as xvfb-run -a does
rm -f "$D/xvfb.display"
Xvfb -displayfd 3 -screen 0 1600x1040x24 -nolisten tcp 3>"$D/xvfb.display" >"$D/xvfb.log" 2>&1 &
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
shot() {  # NAME: ask the test for a screenshot, wait up to 20 s for it
  touch "$D/shot.$1"
  for _ in $(seq 200); do [ -f "$D/shot.$1.done" ] && break; sleep 0.1; done
}
wait_gimp() {  # FILE WHAT: wait up to 3 min for $D/FILE, else stop (GIMP gone or slow before WHAT)
  for _ in $(seq 900); do
    [ -f "$D/$1" ] && return 0
    kill -0 $GPID 2>/dev/null || { echo "GIMP exited before $2" >&2; exit 1; }
    sleep 0.2
  done
  echo "timed out waiting for GIMP: $2" >&2; kill $GPID; exit 1
}
image_window() {
  local wid=""
  for _ in $(seq 20); do   # a search can fail with BadWindow while windows come and go: try again
    wid=$(xdotool search --onlyvisible --name "${UNSCRATCH_UNDO_TITLE:- – GIMP}" 2>/dev/null | head -n 1)
    [ -n "$wid" ] && break
    sleep 0.3
  done
  echo "$wid"
}
wait_gimp display_ready "showing the image"
# No window manager: every window opens at 0,0. Keep GIMP's messages and Restore's dialog below the
# image window, where the walkthrough's screenshots show them beside it
(while kill -0 $GPID 2>/dev/null; do
   for w in $(xdotool search --onlyvisible --name ' Message$' 2>/dev/null); do
     xdotool windowmove "$w" 0 800 2>/dev/null; done
   for w in $(xdotool search --onlyvisible --name '^Restore selection$' 2>/dev/null); do
     xdotool windowmove "$w" 900 800 2>/dev/null; done
   sleep 0.2
 done) &
WID=$(image_window)
if [ -n "$WID" ]; then   # a larger window, 200 % (GIMP's shortcut "2"), Filters › Enhance open
  xdotool windowsize "$WID" 1600 790 2>/dev/null
  sleep 0.5
  xdotool windowfocus --sync "$WID" 2>/dev/null || xdotool windowfocus "$WID"
  sleep 0.5
  xdotool key --clearmodifiers 2
  sleep 0.5
  xdotool key --clearmodifiers alt+r
  sleep 0.8
  xdotool key --clearmodifiers h
  sleep 0.5
  xdotool key --clearmodifiers Down Down Down Down Down Down Down Down Down Right   # › Scratches
  sleep 0.8
  shot 1-menu
  xdotool key --clearmodifiers Escape Escape Escape
  sleep 0.3
fi
touch "$D/menu_done"
# the procedure's dialog (INTERACTIVE run): press OK
wait_gimp dialog_expected "running the procedure"
DLG=""
for _ in $(seq 300); do
  DLG=$(xdotool search --onlyvisible --name '^Restore selection$' 2>/dev/null | head -n 1)
  [ -n "$DLG" ] && break
  sleep 0.2
done
[ -n "$DLG" ] || { echo "the Restore selection dialog did not appear" >&2; kill $GPID; exit 1; }
echo "dialog: $DLG"
touch "$D/dialog_shown"
sleep 0.5
shot 4-dialog
xdotool windowfocus --sync "$DLG" 2>/dev/null || xdotool windowfocus "$DLG"
sleep 0.3
xdotool key --clearmodifiers Return
for _ in $(seq 25); do [ -f "$D/undo_ready" ] && break; sleep 0.2; done
if [ ! -f "$D/undo_ready" ] && xdotool search --onlyvisible --name '^Restore selection$' >/dev/null 2>&1; then
  echo "Return did not close the dialog; pressing Alt+O" >&2
  xdotool windowfocus "$DLG" 2>/dev/null; xdotool key --clearmodifiers alt+o
fi
wait_gimp undo_ready "the image was ready"
WID=$(image_window)
[ -n "$WID" ] || { echo "no GIMP image window found" >&2; xdotool search --name '.' getwindowname %@ >&2; kill $GPID; exit 1; }
echo "image window: $WID $(xdotool getwindowname "$WID")"
xdotool windowfocus --sync "$WID" 2>/dev/null || xdotool windowfocus "$WID"
sleep 0.5
xdotool key --clearmodifiers ctrl+z
touch "$D/undo_pressed"
for _ in $(seq 600); do kill -0 $GPID 2>/dev/null || break; sleep 0.2; done
if kill -0 $GPID 2>/dev/null; then echo "GIMP did not quit" >&2; kill $GPID; exit 1; fi
wait $GPID
