"""Reading what a package ships beside its photos: the licences in a Debian copyright file and in
GCompris's per-folder READMEs (and which of them are permissive), and the JPEGs an Enlightenment
.edj theme file embeds. sources.py picks the photos with these."""

from __future__ import annotations

import re
from pathlib import Path

import cv2
import numpy as np


def debian_copyright_licences(path: Path) -> dict[str, str]:
    """file basename -> licence from a machine-readable debian/copyright."""
    out: dict[str, str] = {}
    if not path.is_file():
        return out
    files: list[str] = []
    for line in path.read_text(errors="replace").splitlines():
        if line.startswith("Files:"):
            files = line[len("Files:"):].split()
        elif line.startswith("License:") and files:
            lic = line[len("License:"):].strip()
            for f in files:
                out[Path(f).name] = lic
            files = []
    return out


def largest_embedded_jpeg(path: Path, out: Path) -> Path | None:
    """Write the largest JPEG stream found inside ``path`` (an Enlightenment .edj holds several
    sizes)."""
    data = path.read_bytes()
    buf = np.frombuffer(data, np.uint8)
    best = None
    for m in re.finditer(b"\xff\xd8\xff", data):
        img = cv2.imdecode(buf[m.start():], cv2.IMREAD_COLOR)
        if img is not None and (best is None
                                or img.shape[0] * img.shape[1] > best.shape[0] * best.shape[1]):
            best = img
    if best is None:
        return None
    out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(out), best, [cv2.IMWRITE_PNG_COMPRESSION, 1])
    return out


PERMISSIVE = re.compile(r"^(public domain|CC0-1\.0|CC-BY(-SA)?-[1-4]\.\d"
                         r"|GPL-[23]\.0(-or-later)?)$")


def licence_name(text: str) -> str:
    """'CC-BY-SA 4.0' -> 'CC-BY-SA-4.0', 'Public Domain' -> 'public domain', 'GPLv3' ->
    'GPL-3.0'."""
    t = text.strip().rstrip(".")
    if t.lower() in ("public domain", "public-domain", "pd"):
        return "public domain"
    t = re.sub(r"^GPLv?(\d)\+?$",
               lambda m: f"GPL-{m.group(1)}.0" + ("-or-later" if "+" in t else ""), t)
    return re.sub(r"^(CC-BY(?:-SA)?)[ -](\d\.\d)$", r"\1-\2", t)


def readme_licences(text: str) -> dict[str, tuple[str, str]]:
    """file (relative to the README) -> (licence, 'author, source') from a GCompris resource
    README."""
    out: dict[str, tuple[str, str]] = {}
    for block in re.split(r"\n\s*\n", text):
        lic = re.search(r"^License:\s*(.+)$", block, re.M)
        files = re.search(r"^Files?:\s*(.*?)(?=^[A-Z][\w ]*:|\Z)", block, re.S | re.M)
        if not (lic and files):
            continue
        who = re.search(r"^Copyright:\s*(.+)$", block, re.M)
        src = re.search(r"^Source:\s*(.+)$", block, re.M)
        note = ", ".join(m.group(1).strip() for m in (who, src) if m)
        for f in files.group(1).split():
            out[f] = (licence_name(lic.group(1)), note)
    return out
