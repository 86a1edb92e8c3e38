"""FAST-VQA and FasterVQA (Wu et al., ECCV 2022 / TPAMI 2023) through the authors' ``fastvqa`` package.

The adapter follows the authors' single-video script (``vqa.py`` of
github.com/VQAssessment/FAST-VQA-and-FasterVQA): read the model options (``options/fast/*.yml``), build
``DiViDeAddEvaluator``, load the released weights, sample fragments with the package's own samplers,
normalise with ImageNet statistics, and map the raw score to [0, 1] with the script's per-model
sigmoid rescaling. Nothing here re-implements their model: without the package it cannot run.

Install (not on PyPI)::

    git clone https://github.com/VQAssessment/FAST-VQA-and-FasterVQA
    pip install -e FAST-VQA-and-FasterVQA
    # weights: the repository's GitHub releases (v2.0.0), e.g. FAST_VQA_3D_1_1.pth (FasterVQA),
    # FAST_VQA_B_1_4.pth (FAST-VQA), into FAST-VQA-and-FasterVQA/pretrained_weights/

then ``create_metric("fastervqa", options="FAST-VQA-and-FasterVQA/options/fast/f3dvqa-b.yml")``. Copying
the option file and the weights into ``~/.cache/qclip_plugin/baselines/fast-vqa/`` makes ``options=``
unnecessary.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from qclip_plugin.baselines.third_party import (
    BaselineUnavailableError,
    ExternalVideoMetric,
    baseline_dir,
    find_file,
    import_package,
)

__all__ = ["FAST_VQA_MODELS", "FastVQAMetric", "create_fast_vqa_metric", "create_fastervqa_metric"]

#: model -> option file in the repository, weights file, (mean, std) of the sigmoid rescaling in vqa.py
FAST_VQA_MODELS: dict[str, dict[str, Any]] = {
    "FasterVQA": dict(options="options/fast/f3dvqa-b.yml", weights="FAST_VQA_3D_1_1.pth",
                      rescale=(0.14759505, 0.03613452)),
    "FAST-VQA": dict(options="options/fast/fast-b.yml", weights="FAST_VQA_B_1_4.pth",
                     rescale=(-0.110198185, 0.04178565)),
    "FAST-VQA-M": dict(options="options/fast/fast-m.yml", weights="FAST_VQA_M_1_4.pth",
                       rescale=(0.023889644, 0.030781006)),
}
#: ImageNet statistics on the 0-255 scale, as the authors' script normalises.
MEAN_255 = (123.675, 116.28, 103.53)
STD_255 = (58.395, 57.12, 57.375)


def install_instructions(model: str) -> str:
    spec = FAST_VQA_MODELS[model]
    folder = baseline_dir("fast-vqa")
    return (
        f"To run {model}:\n"
        "  git clone https://github.com/VQAssessment/FAST-VQA-and-FasterVQA\n"
        "  pip install -e FAST-VQA-and-FasterVQA\n"
        f"  download {spec['weights']} from the repository's GitHub releases into "
        "FAST-VQA-and-FasterVQA/pretrained_weights/\n"
        f"then pass options='FAST-VQA-and-FasterVQA/{spec['options']}' (its test_load_path names the "
        f"weights), or copy {Path(spec['options']).name} and {spec['weights']} into {folder}/."
    )


class FastVQAMetric(ExternalVideoMetric):
    """FAST-VQA / FasterVQA on video files; scores in [0, 1] (the authors' sigmoid rescaling)."""

    def __init__(
        self,
        model: str = "FasterVQA",
        options: str | os.PathLike | None = None,
        weights: str | os.PathLike | None = None,
        device: str | torch.device | None = None,
        as_loss: bool = False,
        data_key: str | None = None,
    ) -> None:
        if model not in FAST_VQA_MODELS:
            raise ValueError(f"unknown FAST-VQA model {model!r}; choose one of {list(FAST_VQA_MODELS)}")
        super().__init__(model.lower(), "0, 1", device, as_loss)
        install = install_instructions(model)
        spec = FAST_VQA_MODELS[model]
        self._fastvqa_datasets = import_package("fastvqa.datasets", install)
        models = import_package("fastvqa.models", install)
        import yaml

        folder = baseline_dir("fast-vqa")
        options_path = find_file(options, [folder / Path(spec["options"]).name], "FAST-VQA option file", install)
        opt = yaml.safe_load(options_path.read_text())
        repo_root = options_path.resolve().parents[2] if len(options_path.resolve().parents) > 2 else folder
        weights_path = find_file(
            weights,
            [folder / spec["weights"], *([repo_root / opt["test_load_path"]] if "test_load_path" in opt else [])],
            f"{model} weights", install,
        )
        keys = [k for k in opt["data"] if k.startswith("val")]
        key = data_key or ("val-kv1k" if "val-kv1k" in opt["data"] else (keys or list(opt["data"]))[0])
        self.data_args = opt["data"][key]["args"]
        self.model_name = model
        self.rescale = spec["rescale"]
        self.net = models.DiViDeAddEvaluator(**opt["model"]["args"])
        state = torch.load(weights_path, map_location="cpu", weights_only=False)
        self.net.load_state_dict(state.get("state_dict", state))
        self.net.to(self.device).eval()
        self.weights = f"{weights_path} with {options_path} [{key}]"

    def load(self, path: str | os.PathLike) -> dict[str, torch.Tensor]:
        """The fragments of ``path`` per sample type, as the authors' ``vqa.py`` builds them."""
        import decord

        from qclip_plugin.video.errors import VideoReadError

        datasets = self._fastvqa_datasets
        try:
            reader = decord.VideoReader(str(path))
        except Exception as error:  # decord raises its own error types
            raise VideoReadError(path, f"decord cannot open it ({error})") from error
        views = {}
        mean, std = torch.tensor(MEAN_255), torch.tensor(STD_255)
        for sample_type, args in self.data_args["sample_types"].items():
            if self.data_args.get("t_frag", 1) > 1:
                sampler = datasets.FragmentSampleFrames(
                    fsize_t=args["clip_len"] // args.get("t_frag", 1),
                    fragments_t=args.get("t_frag", 1),
                    num_clips=args.get("num_clips", 1),
                )
            else:
                sampler = datasets.SampleFrames(clip_len=args["clip_len"], num_clips=args["num_clips"])
            num_clips = args.get("num_clips", 1)
            indices = sampler(len(reader))
            cache = {i: reader[int(i)] for i in np.unique(indices)}
            video = torch.stack([torch.as_tensor(cache[i].asnumpy()) for i in indices], 0).permute(3, 0, 1, 2)
            fragments = datasets.get_spatial_fragments(video, **args)
            fragments = ((fragments.permute(1, 2, 3, 0) - mean) / std).permute(3, 0, 1, 2)
            views[sample_type] = fragments.reshape(
                fragments.shape[0], num_clips, -1, *fragments.shape[2:]
            ).transpose(0, 1)
        return views

    def score_one(self, views: dict[str, torch.Tensor]) -> float:
        raw = self.net({k: v.to(self.device) for k, v in views.items()}).mean().item()
        mean, std = self.rescale
        return float(1.0 / (1.0 + np.exp(-(raw - mean) / std)))


def create_fast_vqa_metric(device=None, as_loss: bool = False, **options: Any) -> FastVQAMetric:
    """The ``"fast-vqa"`` metric (FAST-VQA-B); see :class:`FastVQAMetric` for ``options``/``weights``."""
    return FastVQAMetric("FAST-VQA", device=device, as_loss=as_loss, **options)


def create_fastervqa_metric(device=None, as_loss: bool = False, **options: Any) -> FastVQAMetric:
    """The ``"fastervqa"`` metric (FasterVQA); see :class:`FastVQAMetric`."""
    return FastVQAMetric("FasterVQA", device=device, as_loss=as_loss, **options)


__all__ += ["BaselineUnavailableError"]
