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
- ``HOOKS``: runner hooks (trainable-only checkpoints, frozen-weight precision).
- ``OPTIM_WRAPPERS``, ``OPTIM_WRAPPER_CONSTRUCTORS``: mixed-precision wrapper and the
  trainable-parameters-only constructor.

The remaining registries mmengine's ``Runner`` consults (loops, schedulers, optimizers, ...)
get empty children too, as in mmaction2: under ``default_scope='qclip_plugin'`` mmengine
looks for a child of that scope in each root registry and warns when there is none; the
children fall back to mmengine's own entries.
"""

from __future__ import annotations

from mmengine.registry import DATA_SAMPLERS as MMENGINE_DATA_SAMPLERS
from mmengine.registry import DATASETS as MMENGINE_DATASETS
from mmengine.registry import EVALUATOR as MMENGINE_EVALUATOR
from mmengine.registry import FUNCTIONS as MMENGINE_FUNCTIONS
from mmengine.registry import HOOKS as MMENGINE_HOOKS
from mmengine.registry import LOG_PROCESSORS as MMENGINE_LOG_PROCESSORS
from mmengine.registry import LOOPS as MMENGINE_LOOPS
from mmengine.registry import METRICS as MMENGINE_METRICS
from mmengine.registry import MODEL_WRAPPERS as MMENGINE_MODEL_WRAPPERS
from mmengine.registry import MODELS as MMENGINE_MODELS
from mmengine.registry import OPTIM_WRAPPER_CONSTRUCTORS as MMENGINE_OPTIM_WRAPPER_CONSTRUCTORS
from mmengine.registry import OPTIM_WRAPPERS as MMENGINE_OPTIM_WRAPPERS
from mmengine.registry import OPTIMIZERS as MMENGINE_OPTIMIZERS
from mmengine.registry import PARAM_SCHEDULERS as MMENGINE_PARAM_SCHEDULERS
from mmengine.registry import RUNNER_CONSTRUCTORS as MMENGINE_RUNNER_CONSTRUCTORS
from mmengine.registry import RUNNERS as MMENGINE_RUNNERS
from mmengine.registry import TASK_UTILS as MMENGINE_TASK_UTILS
from mmengine.registry import TRANSFORMS as MMENGINE_TRANSFORMS
from mmengine.registry import VISBACKENDS as MMENGINE_VISBACKENDS
from mmengine.registry import VISUALIZERS as MMENGINE_VISUALIZERS
from mmengine.registry import WEIGHT_INITIALIZERS as MMENGINE_WEIGHT_INITIALIZERS
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
HOOKS = Registry(
    "hook", parent=MMENGINE_HOOKS, scope=SCOPE, locations=["qclip_plugin.engine.hooks", "qclip_plugin.engine.precision"]
)
OPTIM_WRAPPERS = Registry(
    "optim_wrapper", parent=MMENGINE_OPTIM_WRAPPERS, scope=SCOPE, locations=["qclip_plugin.engine.precision"]
)
OPTIM_WRAPPER_CONSTRUCTORS = Registry(
    "optimizer wrapper constructor",
    parent=MMENGINE_OPTIM_WRAPPER_CONSTRUCTORS,
    scope=SCOPE,
    locations=["qclip_plugin.engine.optim_constructor"],
)

# Empty children (see the module docstring): mmengine's entries, found without scope warnings.
RUNNERS = Registry("runner", parent=MMENGINE_RUNNERS, scope=SCOPE)
RUNNER_CONSTRUCTORS = Registry("runner constructor", parent=MMENGINE_RUNNER_CONSTRUCTORS, scope=SCOPE)
LOOPS = Registry("loop", parent=MMENGINE_LOOPS, scope=SCOPE)
DATA_SAMPLERS = Registry("data sampler", parent=MMENGINE_DATA_SAMPLERS, scope=SCOPE)
FUNCTIONS = Registry("function", parent=MMENGINE_FUNCTIONS, scope=SCOPE)
MODEL_WRAPPERS = Registry("model_wrapper", parent=MMENGINE_MODEL_WRAPPERS, scope=SCOPE)
WEIGHT_INITIALIZERS = Registry("weight initializer", parent=MMENGINE_WEIGHT_INITIALIZERS, scope=SCOPE)
OPTIMIZERS = Registry("optimizer", parent=MMENGINE_OPTIMIZERS, scope=SCOPE)
PARAM_SCHEDULERS = Registry("parameter scheduler", parent=MMENGINE_PARAM_SCHEDULERS, scope=SCOPE)
EVALUATOR = Registry("evaluator", parent=MMENGINE_EVALUATOR, scope=SCOPE)
VISBACKENDS = Registry("vis_backend", parent=MMENGINE_VISBACKENDS, scope=SCOPE)
VISUALIZERS = Registry("visualizer", parent=MMENGINE_VISUALIZERS, scope=SCOPE)
LOG_PROCESSORS = Registry("log_processor", parent=MMENGINE_LOG_PROCESSORS, scope=SCOPE)

#: The registries ``qclip-bench list`` reports, by display name.
ALL_REGISTRIES: dict[str, Registry] = {
    "models": MODELS,
    "datasets": DATASETS,
    "samplers": SAMPLERS,
    "transforms": TRANSFORMS,
    "metrics": METRICS,
    "hooks": HOOKS,
    "optim-wrappers": OPTIM_WRAPPERS,
    "optim-wrapper-constructors": OPTIM_WRAPPER_CONSTRUCTORS,
}


def populate_registries() -> None:
    """Import every registry's ``locations`` so that listing shows all entries."""
    for registry in ALL_REGISTRIES.values():
        registry.import_from_location()
