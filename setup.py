"""Wheels carry what an editable install reads from the source tree: the shipped models and the GIMP
and Krita plug-in files, copied into the package as unscratch/models, unscratch/gimp_plugin and
unscratch/krita_plugin (where unscratch.models and the installers look when there is no source
tree). Everything else is in pyproject.toml."""
import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
SHIPPED = {  # folder of the source tree -> files to ship, relative to it
    "models": ["*.onnx", "*.json"],
    "gimp_plugin/unscratch_gimp": ["*.py"],
    "krita_plugin": ["unscratch_krita.desktop", "unscratch_krita/*.py", "unscratch_krita/*.html"],
}


class BuildPyWithShippedFiles(build_py):
    def run(self):
        super().run()
        if getattr(self, "editable_mode", False):
            return  # an editable install reads them from the source tree
        package = Path(self.build_lib) / "unscratch"
        for folder, patterns in SHIPPED.items():
            for pattern in patterns:
                for path in sorted((ROOT / folder).glob(pattern)):
                    target = package / folder / path.relative_to(ROOT / folder)
                    target.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(path, target)


setup(cmdclass={"build_py": BuildPyWithShippedFiles})
