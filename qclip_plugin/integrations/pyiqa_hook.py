"""Makes ``pyiqa.create_metric("qclip")`` work in any interpreter, whatever was imported first.

pyiqa 0.1.16 resolves a metric name in two tables: ``DEFAULT_CONFIGS``
(``pyiqa.default_model_configs``), which ``create_metric`` checks with an ``assert`` before any
plugin is loaded, and ``ARCH_REGISTRY`` (``pyiqa.utils.registry``), which loads the ``pyiqa.archs``
entry points only on a miss. An entry point alone therefore comes too late. :func:`install` puts
an import hook in front of ``sys.meta_path``: those two modules load as usual, then the hook adds
Q-CLIP's rows (:func:`pyiqa_configs`; the arch is registered lazily, by its import path, so nothing
of qclip_plugin is imported until a Q-CLIP metric is created).

Who calls :func:`install`:

- the start-up file ``qclip_plugin_pyiqa.pth`` that the package puts into site-packages (wheel and
  editable installs; ``setup.py`` writes it from this file's source). Python runs it at every start:
  it defines the hook and installs it, which costs a dictionary look-up per later import and does
  nothing else until pyiqa is imported. ``QCLIP_PYIQA_HOOK=0`` in the environment switches it off
  (then ``import qclip_plugin`` before ``pyiqa.create_metric`` still works);
- ``import qclip_plugin`` (``qclip_plugin/__init__.py``), for the repository on ``PYTHONPATH``.

The start-up file runs this source on its own, outside the package, before ``sys.path`` is
complete: it imports only ``sys`` and never imports qclip_plugin at module level.
"""

from __future__ import annotations

import sys

__all__ = [
    "ARCH_NAME",
    "ENV_VAR",
    "PTH_NAME",
    "PYIQA_PRESETS",
    "add_arch",
    "add_default_configs",
    "install",
    "pyiqa_configs",
    "register",
    "startup_line",
]

#: pyiqa metric name -> the Q-CLIP preset it builds (``pyiqa qclip-tiny -t img.png`` has no way to pass options).
PYIQA_PRESETS: dict[str, str] = {"qclip": "paper", "qclip-release": "release", "qclip-tiny": "tiny"}
ARCH_NAME = "QCLIPArch"
ARCH_PATH = "qclip_plugin.integrations.pyiqa:QCLIPArch"
#: Set to 0 to keep the start-up file from installing the hook.
ENV_VAR = "QCLIP_PYIQA_HOOK"
#: The start-up file's name in site-packages.
PTH_NAME = "qclip_plugin_pyiqa.pth"
_MARKER = "qclip_plugin_pyiqa_hook"  # an attribute of the hook: one hook per interpreter


def pyiqa_configs() -> dict[str, dict]:
    """The rows Q-CLIP adds to pyiqa's ``DEFAULT_CONFIGS``."""
    return {
        name: {"metric_opts": {"type": ARCH_NAME, "preset": preset}, "metric_mode": "NR",
               "lower_better": False, "score_range": "unbounded"}
        for name, preset in PYIQA_PRESETS.items()
    }  # fmt: skip


def add_default_configs(default_configs: dict) -> None:
    """Add :func:`pyiqa_configs` to pyiqa's ``DEFAULT_CONFIGS`` (keeps an entry the user changed)."""
    for name, config in pyiqa_configs().items():
        default_configs.setdefault(name, config)


def add_arch(arch_registry: object) -> None:
    """Register ``QCLIPArch`` lazily in pyiqa's ``ARCH_REGISTRY`` (imported on first use)."""
    arch_registry.register_lazy(ARCH_NAME, ARCH_PATH, override=True)


def register() -> None:
    """The ``pyiqa.archs`` entry point: add both tables' entries now. Idempotent; imports pyiqa."""
    from pyiqa.default_model_configs import DEFAULT_CONFIGS
    from pyiqa.utils.registry import ARCH_REGISTRY

    add_default_configs(DEFAULT_CONFIGS)
    add_arch(ARCH_REGISTRY)


# pyiqa module -> what to add once it has run
_ACTIONS = {
    "pyiqa.default_model_configs": lambda module: add_default_configs(module.DEFAULT_CONFIGS),
    "pyiqa.utils.registry": lambda module: add_arch(module.ARCH_REGISTRY),
}


class _AfterExecLoader:
    """Runs the wrapped loader, then ``after(module)``; everything else is the wrapped loader's."""

    def __init__(self, loader: object, after: object) -> None:
        self._loader, self._after = loader, after

    def create_module(self, spec: object) -> object:
        return self._loader.create_module(spec)

    def exec_module(self, module: object) -> None:
        self._loader.exec_module(module)
        self._after(module)

    def __getattr__(self, name: str) -> object:  # get_source, get_filename, ... for tracebacks
        return getattr(self._loader, name)


class PyiqaHook:
    """Meta-path finder: lets the other finders find pyiqa's two table modules and wraps their loaders."""

    qclip_plugin_pyiqa_hook = True

    def find_spec(self, fullname: str, path: object, target: object = None) -> object:
        action = _ACTIONS.get(fullname)
        if action is None:
            return None
        for finder in sys.meta_path:
            if getattr(finder, _MARKER, False) or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None and spec.loader is not None:
                spec.loader = _AfterExecLoader(spec.loader, action)
                return spec
        return None


def install() -> None:
    """Add Q-CLIP to pyiqa's tables now if pyiqa made them, else when it does. Idempotent."""
    if any(getattr(finder, _MARKER, False) for finder in sys.meta_path):
        return
    loaded = [name for name in _ACTIONS if name in sys.modules]
    for name in loaded:  # pyiqa came first
        _ACTIONS[name](sys.modules[name])
    if len(loaded) < len(_ACTIONS):
        sys.meta_path.insert(0, PyiqaHook())


def startup_line() -> str:
    """The start-up file's content: one line that, unless ``$QCLIP_PYIQA_HOOK`` is ``0``, runs this
    file's source in a namespace of its own and calls :func:`install` (``setup.py`` writes it)."""
    from pathlib import Path

    code = Path(__file__).read_text(encoding="utf-8") + "\ninstall()\n"
    # site runs lines that start with "import"; ascii() keeps the file ASCII (read in the locale's encoding)
    return (
        f"import os; os.environ.get({ENV_VAR!r}, '1') == '0' or "
        f"exec({ascii(code)}, {{'__name__': 'qclip_plugin_pyiqa_startup'}})\n"
    )
