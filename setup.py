"""The two build steps pyproject.toml cannot declare (all metadata lives in pyproject.toml).

1. A wheel carries the benchmark configs and the published leaderboard rows inside the package, as
   copies under ``qclip_plugin/.mim/`` (mmaction2's way of shipping its configs), where
   ``qclip_plugin.resources.resource_dir`` finds them. An editable install copies nothing: the
   package reads the checkout's folders, which users edit.
2. Wheels and editable installs carry the start-up file ``qclip_plugin_pyiqa.pth`` at the root of
   site-packages: it installs the import hook of ``qclip_plugin/integrations/pyiqa_hook.py``, which
   makes ``pyiqa.create_metric("qclip")`` work without importing qclip_plugin first.

Both modules are loaded from their files: they import only the standard library.
"""

from __future__ import annotations

import importlib.util
import shutil
import tempfile
import zipfile
from pathlib import Path
from types import ModuleType

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.command.editable_wheel import editable_wheel

ROOT = Path(__file__).resolve().parent


def _load(relative: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(Path(relative).stem, ROOT / relative)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


resources = _load("qclip_plugin/resources.py")
pyiqa_hook = _load("qclip_plugin/integrations/pyiqa_hook.py")


class BuildPy(build_py):
    """Wheels: the resources under ``qclip_plugin/.mim/`` and the start-up file at the root."""

    def run(self) -> None:
        super().run()
        if self.editable_mode:  # the checkout's files are read in place; EditableWheel adds the .pth
            return
        shipped = Path(self.build_lib, "qclip_plugin", resources.SHIPPED_DIR.name)
        shutil.rmtree(shipped, ignore_errors=True)  # nothing stale from an earlier build
        for name in resources.RESOURCES:
            shutil.copytree(
                ROOT / name, shipped / name, ignore=shutil.ignore_patterns("__pycache__", "*.py[cod]")
            )
        Path(self.build_lib, pyiqa_hook.PTH_NAME).write_text(pyiqa_hook.startup_line(), encoding="ascii")


class EditableWheel(editable_wheel):
    """Editable installs: setuptools builds the editable wheel from its own strategy files alone,
    so the start-up file is added to that wheel afterwards (its RECORD rewritten with the file)."""

    def run(self) -> None:
        super().run()
        wheel = max(Path(self.dist_dir).glob("*.whl"), key=lambda path: path.stat().st_mtime)
        _add_to_wheel(wheel, pyiqa_hook.PTH_NAME, pyiqa_hook.startup_line())


def _add_to_wheel(wheel: Path, name: str, text: str) -> None:
    from wheel.wheelfile import WheelFile  # setuptools >= 70.1 vendors it

    with tempfile.TemporaryDirectory() as tmp:
        rewritten = Path(tmp, wheel.name)  # WheelFile reads the dist-info name from the file name
        with zipfile.ZipFile(wheel) as source, WheelFile(rewritten, "w") as target:
            for item in source.infolist():
                if not item.filename.endswith(".dist-info/RECORD"):  # WheelFile writes a new RECORD
                    target.writestr(item, source.read(item))
            target.writestr(name, text.encode("ascii"))
        shutil.move(rewritten, wheel)


setup(cmdclass={"build_py": BuildPy, "editable_wheel": EditableWheel})
