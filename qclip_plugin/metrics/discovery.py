"""Metric discovery (pyiqa's ``create_metric`` / ``list_models``): the entry-point group
``qclip_plugin.metrics`` plus metrics registered at runtime.

Each entry point names a factory ``factory(device=None, as_loss=False, **options)`` that returns a
metric; this package declares its own in ``pyproject.toml`` (``qclip_plugin.metrics.qclip:create_qclip_metric``,
the baselines), and a third-party package adds one by declaring its own::

    [project.entry-points."qclip_plugin.metrics"]
    my-vqa = "my_package.metric:create_my_vqa"
"""

from __future__ import annotations

import difflib
import fnmatch
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import metadata
from typing import Any

import torch

__all__ = ["METRICS_GROUP", "MetricSource", "create_metric", "list_metrics", "metric_sources", "register_metric"]

METRICS_GROUP = "qclip_plugin.metrics"


@dataclass(frozen=True)
class MetricSource:
    """Where a metric comes from: its entry point and the distribution that declares it."""

    name: str
    value: str  # "module:factory"
    package: str  # "qclip-plugin 0.1.0", or "(registered at runtime)"

    def load(self) -> Callable[..., Any]:
        module_name, _, attr = self.value.partition(":")
        module = __import__(module_name, fromlist=["_"])
        factory: Any = module
        for part in attr.split(".") if attr else []:
            factory = getattr(factory, part)
        return factory


_RUNTIME: dict[str, tuple[MetricSource, Callable[..., Any]]] = {}


def register_metric(name: str, factory: Callable[..., Any], *, override: bool = False) -> None:
    """Add a metric for this process only (notebooks, tests); packages declare entry points instead."""
    if not override and name in metric_sources():
        raise ValueError(f"metric {name!r} already exists; pass override=True to replace it")
    value = f"{getattr(factory, '__module__', '?')}:{getattr(factory, '__qualname__', repr(factory))}"
    _RUNTIME[name] = (MetricSource(name, value, "(registered at runtime)"), factory)


def metric_sources() -> dict[str, MetricSource]:
    """Every discoverable metric, by name, with the package declaring it (sorted by name).

    When two distributions declare the same name the first found wins and a warning names both.
    """
    found: dict[str, MetricSource] = {}
    # entry_points() keeps one copy of each distribution (the first on sys.path), as importing would
    for ep in metadata.entry_points(group=METRICS_GROUP):
        dist = getattr(ep, "dist", None)
        package = f"{dist.metadata['Name']} {dist.version}" if dist is not None else "(unknown package)"
        if ep.name in found and found[ep.name].package != package:
            warnings.warn(
                f"metric {ep.name!r} is declared by both {found[ep.name].package} and {package}; "
                f"using {found[ep.name].package}",
                RuntimeWarning,
                stacklevel=2,
            )
            continue
        found.setdefault(ep.name, MetricSource(ep.name, ep.value, package))
    for name, (source, _) in _RUNTIME.items():
        found[name] = source
    return dict(sorted(found.items()))


def list_metrics(filter: str | Sequence[str] = "", exclude_filters: str | Sequence[str] = "") -> list[str]:
    """Names of the available metrics, sorted; ``fnmatch`` filters as in ``pyiqa.list_models``."""
    names = list(metric_sources())
    if filter:
        patterns = [filter] if isinstance(filter, str) else list(filter)
        names = [n for n in names if any(fnmatch.fnmatch(n, p) for p in patterns)]
    if exclude_filters:
        patterns = [exclude_filters] if isinstance(exclude_filters, str) else list(exclude_filters)
        names = [n for n in names if not any(fnmatch.fnmatch(n, p) for p in patterns)]
    return names


def create_metric(name: str, device: str | torch.device | None = None, as_loss: bool = False, **kwargs: Any):
    """Create the metric ``name`` (see :func:`list_metrics`), as ``pyiqa.create_metric`` does.

    ``device`` defaults to CUDA when available, else CPU. ``as_loss=True`` keeps gradients and returns
    the reduced score (``loss_weight``, ``loss_reduction`` as in pyiqa). Other keywords go to the
    metric's factory; for ``"qclip"`` see :func:`qclip_plugin.metrics.qclip.create_qclip_metric`.
    """
    sources = metric_sources()
    if name not in sources:
        close = difflib.get_close_matches(name, list(sources), n=3)
        hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
        raise KeyError(
            f"no metric named {name!r}.{hint} Available: {', '.join(sources) or '(none)'}. Metrics come "
            f"from the entry-point group {METRICS_GROUP!r}; if you just installed a package that declares "
            "one, reinstall it (pip install -e .) so its entry points are registered."
        )
    if name in _RUNTIME:
        factory = _RUNTIME[name][1]
    else:
        try:
            factory = sources[name].load()
        except Exception as error:
            raise RuntimeError(
                f"metric {name!r} is declared by {sources[name].package} as {sources[name].value!r}, "
                f"but loading it failed: {error}. Reinstall or upgrade that package."
            ) from error
    return factory(device=device, as_loss=as_loss, **kwargs)
