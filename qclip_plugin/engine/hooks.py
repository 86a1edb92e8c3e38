"""Runner hooks of qclip_plugin, registered in ``qclip_plugin.registry.HOOKS``.

``TrainableCheckpointHook`` keeps mmengine's checkpoints to the weights training changes:
the frozen backbone (671 M parameters for PE-Core-L) is rebuilt from its pretrained weights
when the model is built, so re-saving it in every epoch checkpoint would only cost disk
(2.7 GB per file instead of ~1 MB for the ``paper`` preset's 0.14 M trainable parameters).
"""

from __future__ import annotations

from typing import Any

from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from qclip_plugin.engine.safe_loading import allow_mmengine_checkpoints
from qclip_plugin.registry import HOOKS

__all__ = ["TrainableCheckpointHook"]

# Every config of benchmark_configs imports this module (custom_imports), so a Runner built
# from one of them can resume under torch >= 2.6 whoever builds it.
allow_mmengine_checkpoints()

#: Key in a checkpoint's ``meta`` saying that its ``state_dict`` holds trainable tensors only.
META_KEY = "qclip_trainable_only"


def _bare(model: Any) -> Any:
    return model.module if is_model_wrapper(model) else model


@HOOKS.register_module()
class TrainableCheckpointHook(Hook):
    """Save only trainable parameters in checkpoints, and load such checkpoints cleanly.

    - ``before_save_checkpoint``: drops every ``state_dict`` entry that is not a parameter with
      ``requires_grad`` (buffers of modules holding trainable parameters are kept), and marks
      the checkpoint in ``meta[META_KEY]`` with the number of tensors kept.
    - ``after_load_checkpoint`` (called by ``Runner.load_checkpoint`` and ``resume`` before the
      weights go into the model): fills the missing frozen entries from the model as built,
      so loading is complete and mmengine does not warn about hundreds of "missing" backbone
      keys. A trainable tensor missing from the checkpoint is not filled and is still reported.
    """

    priority = "VERY_LOW"

    def before_save_checkpoint(self, runner: Any, checkpoint: dict) -> None:
        model = _bare(runner.model)
        keep = self.trainable_keys(model)
        state = checkpoint["state_dict"]
        for key in [k for k in state if k not in keep]:
            del state[key]
        checkpoint.setdefault("meta", {})[META_KEY] = len(state)

    def after_load_checkpoint(self, runner: Any, checkpoint: dict) -> None:
        if not checkpoint.get("meta", {}).get(META_KEY):
            return
        model = _bare(runner.model)
        trainable = self.trainable_keys(model)
        state = checkpoint["state_dict"]
        for key, value in model.state_dict().items():
            if key not in state and key not in trainable:
                state[key] = value

    @staticmethod
    def trainable_keys(model: Any) -> set[str]:
        """``state_dict`` keys of trainable parameters, and of buffers of the modules owning them."""
        keys = {name for name, p in model.named_parameters() if p.requires_grad}
        owners = {name.rpartition(".")[0] for name in keys}
        keys |= {name for name, _ in model.named_buffers() if name.rpartition(".")[0] in owners}
        return keys
