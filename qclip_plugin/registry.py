"""mmengine registries of qclip_plugin.

Each registry is a child of mmengine's root registry of the same concept, with
``scope='qclip_plugin'`` and ``locations`` naming the modules that fill it, so a
config with ``default_scope='qclip_plugin'`` builds from here (falling back to
mmengine's own entries), and mmengine imports the locations on first use.

- ``MODELS``: Q-CLIP model presets, backbones and training wrappers.
- ``DATASETS``: VQA datasets (LSVQ, KoNViD-1k, ...) and the synthetic demo set.
- ``SAMPLERS``: frame-sampling strategies (``UNISampl``, ``SegMSEMean``, ...). Their
  parent is mmengine's ``TASK_UTILS``, the registry mmengine projects use for samplers.
- ``TRANSFORMS``: data-pipeline steps (video decoding, sampling, normalisation).
- ``METRICS``: evaluation metrics (``VQAMetric``).
- ``HOOKS``: runner hooks (leaderboards, progress).
"""

from __future__ import annotations

from mmengine.registry import DATASETS as MMENGINE_DATASETS
from mmengine.registry import HOOKS as MMENGINE_HOOKS
from mmengine.registry import METRICS as MMENGINE_METRICS
from mmengine.registry import MODELS as MMENGINE_MODELS
from mmengine.registry import TASK_UTILS as MMENGINE_TASK_UTILS
from mmengine.registry import TRANSFORMS as MMENGINE_TRANSFORMS
from mmengine.registry import Registry

SCOPE = "qclip_plugin"

MODELS = Registry("model", parent=MMENGINE_MODELS, scope=SCOPE, locations=["qclip_plugin.models"])
DATASETS = Registry("dataset", parent=MMENGINE_DATASETS, scope=SCOPE, locations=["qclip_plugin.data"])
SAMPLERS = Registry(
    "frame sampler", parent=MMENGINE_TASK_UTILS, scope=SCOPE, locations=["qclip_plugin.sampling"]
)
TRANSFORMS = Registry(
    "transform", parent=MMENGINE_TRANSFORMS, scope=SCOPE, locations=["qclip_plugin.data"]
)
METRICS = Registry("metric", parent=MMENGINE_METRICS, scope=SCOPE, locations=["qclip_plugin.evaluation"])
HOOKS = Registry("hook", parent=MMENGINE_HOOKS, scope=SCOPE, locations=["qclip_plugin.bench"])

#: The registries ``qclip-bench list`` reports, by display name.
ALL_REGISTRIES: dict[str, Registry] = {
    "models": MODELS,
    "datasets": DATASETS,
    "samplers": SAMPLERS,
    "transforms": TRANSFORMS,
    "metrics": METRICS,
    "hooks": HOOKS,
}


def populate_registries() -> None:
    """Import every registry's ``locations`` so that listing shows all entries."""
    for registry in ALL_REGISTRIES.values():
        registry.import_from_location()
