"""Mixed precision: ``amp=bf16|fp16`` for training (mmengine optimizer wrappers) and scoring (autocast).

Training: :func:`apply_amp` turns a config's ``optim_wrapper`` into mmengine's ``AmpOptimWrapper``
(autocast + dynamic loss scaling; mmengine allows it on accelerators only) or, on CPU, into
:class:`AutocastOptimWrapper` (autocast alone; bf16 keeps fp32's exponent range, so it needs no
loss scaling). Optionally the frozen backbone's weights are stored in the low precision too
(``frozen_dtype``): half the memory of its 671 M parameters for PE-Core-L, while the trainable
adapters, prompts and head, their gradients and the optimizer state stay fp32.

Scoring: :func:`autocast` around the forward pass, :func:`cast_frozen` for the stored weights.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import torch
from mmengine.hooks import Hook
from mmengine.optim import OptimWrapper
from torch import nn

from qclip_plugin.registry import HOOKS, OPTIM_WRAPPERS

__all__ = [
    "AMP_DTYPES",
    "AutocastOptimWrapper",
    "FrozenWeightsDtypeHook",
    "amp_dtype",
    "apply_amp",
    "autocast",
    "cast_frozen",
]

#: ``amp=`` values and their dtypes (``none``/``fp32``: full precision).
AMP_DTYPES: dict[str, torch.dtype | None] = {
    "none": None, "fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16,
}


def amp_dtype(amp: str | torch.dtype | None) -> torch.dtype | None:
    """The autocast dtype of an ``amp=`` value (None for full precision)."""
    if amp is None or isinstance(amp, torch.dtype):
        return amp
    key = str(amp).lower()
    key = {"bfloat16": "bf16", "float16": "fp16", "half": "fp16", "float32": "fp32"}.get(key, key)
    if key not in AMP_DTYPES:
        raise ValueError(f"amp={amp!r} is not known; choose one of {', '.join(AMP_DTYPES)}")
    return AMP_DTYPES[key]


@contextlib.contextmanager
def autocast(device: str | torch.device, amp: str | torch.dtype | None) -> Iterator[None]:
    """``torch.autocast`` on ``device``'s type with the ``amp`` dtype; nothing for full precision."""
    dtype = amp_dtype(amp)
    if dtype is None:
        yield
        return
    device_type = torch.device(device).type
    if device_type == "cpu" and dtype == torch.float16:
        raise ValueError("amp=fp16 is for GPUs; on CPU use amp=bf16")
    with torch.autocast(device_type=device_type, dtype=dtype):
        yield


def cast_frozen(module: nn.Module, dtype: str | torch.dtype | None) -> int:
    """Store the frozen (``requires_grad=False``) floating-point parameters of ``module`` in
    ``dtype`` (``bf16``/``fp16``); trainable parameters and buffers are left as they are.
    Returns how many parameters were cast. Run the model under :func:`autocast` afterwards:
    the matrix products then take both operands in the low precision."""
    target = amp_dtype(dtype)
    if target is None:
        return 0
    count = 0
    for param in module.parameters():
        if not param.requires_grad and param.is_floating_point() and param.dtype != target:
            param.data = param.data.to(target)
            count += param.numel()
    return count


@OPTIM_WRAPPERS.register_module()
class AutocastOptimWrapper(OptimWrapper):
    """mmengine's ``OptimWrapper`` with the forward pass under ``torch.autocast(dtype)``.

    ``AmpOptimWrapper`` refuses to run without an accelerator; on CPU bf16 autocast needs no
    gradient scaling, so this is all mixed precision training takes there.
    """

    def __init__(self, dtype: str | torch.dtype = "bfloat16", device_type: str = "cpu", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.cast_dtype = amp_dtype(dtype)
        self.device_type = device_type

    @contextlib.contextmanager
    def optim_context(self, model: nn.Module) -> Iterator[None]:
        with super().optim_context(model), torch.autocast(device_type=self.device_type, dtype=self.cast_dtype):
            yield


@HOOKS.register_module()
class FrozenWeightsDtypeHook(Hook):
    """Cast the model's frozen parameters to ``dtype`` before the run (see :func:`cast_frozen`), and
    run validation and test epochs under autocast too (training's forward is under the optimizer
    wrapper's autocast; mmengine's evaluation loops run without one unless ``fp16=True``, and fp32
    activations cannot meet bf16 weights).

    Added by :func:`apply_amp` with ``frozen_dtype``; priority ``VERY_HIGH`` so the cast happens
    before anything else uses the model.
    """

    priority = "VERY_HIGH"

    def __init__(self, dtype: str = "bf16", device_type: str = "cpu") -> None:
        self.dtype = dtype
        self.device_type = device_type
        self._previous: torch.dtype | None = None

    def before_run(self, runner: Any) -> None:
        model = runner.model.module if hasattr(runner.model, "module") else runner.model
        count = cast_frozen(model, self.dtype)
        if count:
            runner.logger.info(f"frozen weights stored in {self.dtype}: {count:,} parameters")

    def _enter(self, runner: Any, loop: Any) -> None:
        self.before_run(runner)  # evaluation before training (the untrained baseline) comes first
        # mmengine's loops run each step under autocast(enabled=loop.fp16), which switches an outer
        # autocast off: turn theirs on, with this dtype (mmengine takes torch's default dtype on GPUs)
        loop.fp16 = True
        if self.device_type != "cpu":
            self._previous = torch.get_autocast_dtype(self.device_type)
            torch.set_autocast_dtype(self.device_type, amp_dtype(self.dtype))

    def _exit(self, runner: Any, metrics: Any = None) -> None:
        if self._previous is not None:
            torch.set_autocast_dtype(self.device_type, self._previous)
            self._previous = None

    def before_val_epoch(self, runner: Any) -> None:
        self._enter(runner, runner.val_loop)

    def before_test_epoch(self, runner: Any) -> None:
        self._enter(runner, runner.test_loop)

    after_val_epoch = after_test_epoch = _exit


def apply_amp(cfg: Any, amp: str | None, frozen_dtype: str | None = None, device: str | None = None) -> Any:
    """Set a config up for mixed precision training, in place; return it.

    Args:
        cfg: an mmengine config with an ``optim_wrapper``.
        amp: ``bf16``, ``fp16`` or ``none``.
        frozen_dtype: also store the frozen backbone's weights in this dtype (``bf16``/``fp16``);
            needs ``amp``.
        device: ``cuda`` or ``cpu``; default: CUDA when available.
    """
    dtype = amp_dtype(amp)
    if frozen_dtype not in (None, "none") and dtype is None:
        raise ValueError("frozen weights in low precision need amp=bf16 or amp=fp16 (the forward pass mixes dtypes)")
    if dtype is None:
        return cfg
    device_type = device or ("cuda" if torch.cuda.is_available() else "cpu")
    name = "bfloat16" if dtype == torch.bfloat16 else "float16"
    wrapper = cfg.optim_wrapper
    if device_type == "cpu":
        if dtype == torch.float16:
            raise ValueError("amp=fp16 needs a GPU (fp16 training needs loss scaling); on CPU use amp=bf16")
        wrapper.type = "AutocastOptimWrapper"
        wrapper.device_type = "cpu"
    else:
        wrapper.type = "AmpOptimWrapper"
    wrapper.dtype = name
    if frozen_dtype not in (None, "none"):
        hooks = list(cfg.get("custom_hooks") or [])
        hooks.append(dict(type="FrozenWeightsDtypeHook", dtype=str(frozen_dtype), device_type=device_type))
        cfg.custom_hooks = hooks
    return cfg
