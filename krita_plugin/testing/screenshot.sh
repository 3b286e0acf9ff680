#!/usr/bin/env bash
# A screenshot of the plug-in in real Krita under Xvfb:  bash krita_plugin/testing/screenshot.sh [OUT.png]
# (a temporary HOME; the plug-in installed with `python -m unscratch install krita`; about 30 s the first time)
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
OUT="$(realpath -m "${1:-$ROOT/krita_plugin/screenshot.png}")"
PY="${PY:-$ROOT/.venv/bin/python}"
W="$(mktemp -d)"
trap 'rm -rf "$W"' EXIT
mkdir -p "$W/home/.local/share/krita" "$W/home/run"
chmod 700 "$W/home/run"
HOME="$W/home" "$PY" -m unscratch install krita >/dev/null
cp -r "$ROOT/krita_plugin/testing/unscratch_testdriver" "$ROOT/krita_plugin/testing/unscratch_testdriver.desktop" \
  "$W/home/.local/share/krita/pykrita/"
printf 'enable_unscratch_testdriver=true\n' >> "$W/home/.config/kritarc"   # [python] is the last group
"$PY" - "$W/in.png" <<'PYEOF'
import sys
import numpy as np
from unscratch import demo
damaged, _ = demo.add_demo_damage(demo.sample_photo())
import cv2
cv2.imwrite(sys.argv[1], np.ascontiguousarray(damaged[:, :, ::-1]))
PYEOF
env -i PATH=/usr/bin:/bin HOME="$W/home" XDG_RUNTIME_DIR="$W/home/run" LANG=C.UTF-8 \
  UNSCRATCH_KRITA_DRIVER="$ROOT/krita_plugin/testing/screenshot_scenario.py" UNSCRATCH_KRITA_IN="$W/in.png" \
  UNSCRATCH_KRITA_SCREENSHOT="$OUT" UNSCRATCH_KRITA_RECT="${UNSCRATCH_KRITA_RECT:-60,20,260,200}" \
  UNSCRATCH_KRITA_ZOOM="${UNSCRATCH_KRITA_ZOOM:-1.0}" \
  timeout 300 xvfb-run -a -s "-screen 0 1280x860x24" krita --nosplash 2>&1 | grep -E "unscratch|Traceback|Error" || true
test -s "$OUT" && echo "wrote $OUT"
