"""An optimizer-wrapper constructor that gives the optimizer the trainable parameters only.

mmengine's ``DefaultOptimWrapperConstructor`` puts *every* parameter in a param group, frozen
ones included (``add_params`` appends them and only logs that ``requires_grad`` is False).
AdamW keeps no state for a parameter whose ``.grad`` stays ``None``, but the groups still hold
the 671 M frozen backbone tensors of PE-Core-L: ``optimizer.state_dict()`` lists them, weight
decay loops visit them, and a backbone that was accidentally left trainable would silently
be trained. Here frozen parameters never reach the optimizer; ``paramwise_cfg`` works as in
mmengine for the rest.
"""

from __future__ import annotations

import inspect

from mmengine.optim import DefaultOptimWrapperConstructor, OptimWrapper
from mmengine.registry import OPTIM_WRAPPERS, OPTIMIZERS
from torch import nn

from qclip_plugin.registry import OPTIM_WRAPPER_CONSTRUCTORS

__all__ = ["TrainableOptimWrapperConstructor"]


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class TrainableOptimWrapperConstructor(DefaultOptimWrapperConstructor):
    """``DefaultOptimWrapperConstructor`` restricted to ``requires_grad`` parameters.

    Config: ``optim_wrapper = dict(type='OptimWrapper', optimizer=dict(type='AdamW', lr=1e-3,
    weight_decay=1e-4), constructor='TrainableOptimWrapperConstructor')``.
    """

    def __call__(self, model: nn.Module) -> OptimWrapper:
        if hasattr(model, "module"):
            model = model.module
        if self.paramwise_cfg:
            params: list = []
            self.add_params(params, model)
            params = [group for group in params if group["params"][0].requires_grad]
        else:
            params = [p for p in model.parameters() if p.requires_grad]
        if not params:
            raise ValueError(
                f"{type(model).__name__} has no trainable parameter; nothing for the optimizer to train "
                "(check the preset: adapters, prompts or head must require grad)"
            )
        optimizer_cfg = self.optimizer_cfg.copy()
        optimizer_cls = optimizer_cfg["type"]
        if isinstance(optimizer_cls, str):
            with OPTIMIZERS.switch_scope_and_registry(None) as registry:
                optimizer_cls = registry.get(optimizer_cls)
        # the first argument is ``params`` for torch optimizers, ``model_params`` for some others
        optimizer_cfg[next(iter(inspect.signature(optimizer_cls).parameters))] = params
        optimizer = OPTIMIZERS.build(optimizer_cfg)
        wrapper_cfg = self.optim_wrapper_cfg.copy()
        wrapper_cfg.setdefault("type", "OptimWrapper")
        return OPTIM_WRAPPERS.build(wrapper_cfg, default_args=dict(optimizer=optimizer))
