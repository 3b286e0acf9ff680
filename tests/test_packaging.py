"""A wheel carries the models and the GIMP and Krita plug-in files, and an installed copy finds
them."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("wheel")
    # build from a copy: setuptools writes build/ and *.egg-info next to the sources
    shutil.copytree(ROOT, tmp / "src", ignore=shutil.ignore_patterns(
        ".git", ".venv", ".cache", "runs", "build", "*.egg-info", "__pycache__", ".pytest_cache"))
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps",
                            "--no-build-isolation", "-q", "-w", str(tmp / "dist"),
                            str(tmp / "src")],
                           capture_output=True, text=True, cwd=tmp)
    if build.returncode != 0:
        pytest.fail(f"building the wheel failed:\n{build.stderr[-2000:]}")
    wheel = next((tmp / "dist").glob("unscratch-*.whl"))
    with zipfile.ZipFile(wheel) as z:
        z.extractall(tmp / "site")
    return tmp / "site"


def test_wheel_ships_models_and_plugins(installed):
    package = installed / "unscratch"
    for card in (ROOT / "models").glob("*.json"):
        assert (package / "models" / card.name).read_bytes() == card.read_bytes()
        assert (package / "models" / card.with_suffix(".onnx").name).is_file()
    assert (package / "gimp_plugin" / "unscratch_gimp" / "unscratch_gimp.py").is_file()
    assert (package / "krita_plugin" / "unscratch_krita.desktop").is_file()
    assert (package / "krita_plugin" / "unscratch_krita" / "host.py").is_file()
    assert (installed / "unscratch_napari" / "napari.yaml").is_file()


def test_installed_copy_finds_its_models_and_plugins(installed):
    code = ("import json, unscratch, unscratch.models as m, unscratch.install_gimp as g, "
            "unscratch.install_krita as k\n"
            "card = m.default_card('detect'); m.verify(card)\n"
            "print(json.dumps([str(m.models_dir()), str(g.plugin_source()), "
            "str(k.plugin_source())]))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=installed, env={"PYTHONPATH": str(installed), "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr[-2000:]
    for path in json.loads(out.stdout):
        assert Path(path).is_relative_to(installed / "unscratch"), (
            f"{path} is not the installed copy")
