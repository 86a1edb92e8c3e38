"""FAST-VQA and FasterVQA (Wu et al., ECCV 2022 / TPAMI 2023) through the authors' ``fastvqa`` package.

The adapter follows the authors' single-video script (``vqa.py`` of
github.com/VQAssessment/FAST-VQA-and-FasterVQA): read the model's option file (``options/fast/*.yml``,
sampling set ``val-kv1k``), build ``DiViDeAddEvaluator``, load the released weights, sample frames
with the package's samplers and fragments with its ``get_spatial_fragments``, normalise with
ImageNet statistics, and map the raw score to [0, 1] with the script's per-model sigmoid rescaling.
Nothing here re-implements their model: without the package it cannot run.

As in ``vqa.py``, the temporal sampler is ``FragmentSampleFrames`` only when the sampling set's own
``t_frag`` (not the sample type's) exceeds 1; for the shipped option files that means
``SampleFrames`` for every model (FasterVQA's ``t_frag: 8`` sits under ``sample_types``).

Install: see :func:`install_instructions` (also in the README), then
``create_metric("fastervqa", options="FAST-VQA-and-FasterVQA/options/fast/f3dvqa-b.yml")``. Copying
the option file and the weights into ``~/.cache/qclip_plugin/baselines/fast-vqa/`` makes
``options=`` unnecessary.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from qclip_plugin.baselines.third_party import (
    BaselineFileError,
    BaselineOptionError,
    BaselineUnavailableError,
    ExternalVideoMetric,
    authors_decord_bridge,
    baseline_dir,
    find_file,
    import_package,
    load_weights,
    option_file_weights,
    read_options,
    seeded,
)
from qclip_plugin.metrics.configs import metric_config
from qclip_plugin.video.decord_reader import decord_to_numpy

__all__ = ["FAST_VQA_MODELS", "FastVQAMetric", "create_fast_vqa_metric", "create_fastervqa_metric"]

RELEASES = "https://github.com/TimothyHTimothy/FAST-VQA/releases/download/v2.0.0"
#: model -> option file in the repository, released weights, (mean, std) of vqa.py's sigmoid rescaling
FAST_VQA_MODELS: dict[str, dict[str, Any]] = {
    "FasterVQA": dict(
        options="options/fast/f3dvqa-b.yml", weights="FAST_VQA_3D_1_1.pth", rescale=(0.14759505, 0.03613452)
    ),
    "FasterVQA-MS": dict(
        options="options/fast/fastervqa-ms.yml",
        weights="FAST_VQA_3D_1_1.pth",
        rescale=(0.15218826, 0.03230298),
    ),
    "FasterVQA-MT": dict(
        options="options/fast/fastervqa-mt.yml",
        weights="FAST_VQA_3D_1_1.pth",
        rescale=(0.14699507, 0.036453716),
    ),
    "FAST-VQA": dict(
        options="options/fast/fast-b.yml", weights="FAST_VQA_B_1_4.pth", rescale=(-0.110198185, 0.04178565)
    ),
    # vqa.py reads the set val-kv1k, which fast-m.yml lacks (a KeyError there); its one test set instead
    "FAST-VQA-M": dict(
        options="options/fast/fast-m.yml",
        weights="FAST_VQA_M_1_4.pth",
        rescale=(0.023889644, 0.030781006),
        data_key="val-livevqc",
    ),
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
        "  pip install --no-deps -e FAST-VQA-and-FasterVQA   # its requirements pull the unrelated PyPI 'clip'\n"
        "  pip install scikit-video openai-clip   # what fastvqa imports beyond this package's dependencies\n"
        f"  mkdir -p FAST-VQA-and-FasterVQA/pretrained_weights && curl -L -o "
        f"FAST-VQA-and-FasterVQA/pretrained_weights/{spec['weights']} {RELEASES}/{spec['weights']}\n"
        f"then pass options='FAST-VQA-and-FasterVQA/{spec['options']}' (the weights are found in its "
        f"pretrained_weights/), or copy {Path(spec['options']).name} and {spec['weights']} into {folder}/."
    )


def _repository_root(options_path: Path) -> Path:
    """The cloned repository of an option file under ``options/<group>/``; else the file's folder."""
    resolved = options_path.resolve()
    return resolved.parents[2] if resolved.parent.parent.name == "options" else resolved.parent


class FastVQAMetric(ExternalVideoMetric):
    """FAST-VQA / FasterVQA on video files; scores in [0, 1] (the authors' sigmoid rescaling).

    Args:
        model: a key of :data:`FAST_VQA_MODELS` (the names of ``vqa.py -m``).
        options: the model's option file (default: its copy in ``baseline_dir("fast-vqa")``).
        weights: the weights file (default: the cache copy, else ``pretrained_weights/`` of the
            repository the option file is in, under the release's name or the option file's).
        data_key: the option file's sampling set (default: the script's ``val-kv1k``; FAST-VQA-M's
            option file has only ``val-livevqc``).
        seed: seeds the authors' random sampling per video (``None``: the global generators, as
            their script).
        trust_pickle: unpickle weights files that hold more than tensors (trusted files only).
    """

    def __init__(
        self,
        model: str = "FasterVQA",
        options: str | os.PathLike | None = None,
        weights: str | os.PathLike | None = None,
        device: str | torch.device | None = None,
        as_loss: bool = False,
        data_key: str | None = None,
        seed: int | None = 0,
        trust_pickle: bool = False,
    ) -> None:
        if model not in FAST_VQA_MODELS:
            raise BaselineOptionError(
                f"unknown FAST-VQA model {model!r}; choose one of {list(FAST_VQA_MODELS)}"
            )
        super().__init__(model.lower(), "0, 1", device, as_loss)
        install = install_instructions(model)
        spec = FAST_VQA_MODELS[model]
        self._fastvqa_datasets = import_package("fastvqa.datasets", install)
        models = import_package("fastvqa.models", install)
        folder = baseline_dir("fast-vqa")
        options_path = find_file(
            options, [folder / Path(spec["options"]).name], f"{model} option file", install
        )
        opt = read_options(options_path)
        root = _repository_root(options_path)
        weights_path = find_file(
            weights,
            [
                folder / spec["weights"],
                root / "pretrained_weights" / spec["weights"],
                *option_file_weights(options_path, opt, root),
            ],
            f"{model} weights ({spec['weights']})",
            install,
        )
        data_key = data_key or spec.get("data_key", "val-kv1k")
        if data_key not in opt["data"]:
            raise BaselineFileError(
                f"{options_path} has no data set {data_key!r} (it has {', '.join(opt['data'])})"
            )
        self.data_args = opt["data"][data_key]["args"]
        self.model_name, self.rescale, self.seed = model, spec["rescale"], seed
        state = load_weights(weights_path, f"{model} weights", trust_pickle)
        self.net = models.DiViDeAddEvaluator(**opt["model"]["args"])
        self.net.load_state_dict(state)
        self.net.to(self.device).eval()
        self.weights = f"{weights_path} with {options_path} [{data_key}], seed {seed}"

    def _sampler(self, args: dict[str, Any]) -> Any:
        datasets = self._fastvqa_datasets
        if self.data_args.get("t_frag", 1) > 1:  # the set's t_frag, as vqa.py reads it
            return datasets.FragmentSampleFrames(
                fsize_t=args["clip_len"] // args.get("t_frag", 1),
                fragments_t=args.get("t_frag", 1),
                num_clips=args.get("num_clips", 1),
            )
        return datasets.SampleFrames(clip_len=args["clip_len"], num_clips=args["num_clips"])

    def load(self, path: str | os.PathLike) -> dict[str, torch.Tensor]:
        """The fragments of ``path`` per sample type, as the authors' ``vqa.py`` builds them."""
        with seeded(self.seed), authors_decord_bridge():
            return self._views(path)

    def _views(self, path: str | os.PathLike) -> dict[str, torch.Tensor]:
        import decord

        from qclip_plugin.video.errors import VideoReadError

        try:
            reader = decord.VideoReader(str(path))
        except Exception as error:  # decord raises its own error types
            raise VideoReadError(path, f"decord cannot open it ({type(error).__name__}: {error})") from error
        views = {}
        mean, std = torch.tensor(MEAN_255), torch.tensor(STD_255)
        for sample_type, args in self.data_args["sample_types"].items():
            num_clips = args.get("num_clips", 1)
            indices = self._sampler(args)(len(reader))
            try:
                frames = {i: _as_tensor(reader[i]) for i in np.unique(indices)}
            except Exception as error:
                raise VideoReadError(
                    path, f"decord cannot decode its frames ({type(error).__name__}: {error})"
                ) from error
            video = torch.stack([frames[i] for i in indices], 0).permute(3, 0, 1, 2)
            fragments = self._fastvqa_datasets.get_spatial_fragments(video, **args)
            fragments = ((fragments.permute(1, 2, 3, 0) - mean) / std).permute(3, 0, 1, 2)
            views[sample_type] = fragments.reshape(
                fragments.shape[0], num_clips, -1, *fragments.shape[2:]
            ).transpose(0, 1)
        return views

    def score_one(self, views: dict[str, torch.Tensor]) -> float:
        raw = self.net({k: v.to(self.device) for k, v in views.items()}).mean().item()
        mean, std = self.rescale
        return float(1.0 / (1.0 + np.exp(-(raw - mean) / std)))


def _as_tensor(frame: Any) -> torch.Tensor:
    """A decord frame as a torch tensor, whichever bridge produced it (torch's, or the native NDArray)."""
    return frame if isinstance(frame, torch.Tensor) else torch.from_numpy(decord_to_numpy(frame))


def create_fast_vqa_metric(device=None, as_loss: bool = False, **options: Any) -> FastVQAMetric:
    """The ``"fast-vqa"`` metric (FAST-VQA-B; ``model="FAST-VQA-M"`` for M); see :class:`FastVQAMetric`."""
    return FastVQAMetric(device=device, as_loss=as_loss, **metric_config("fast-vqa").merged(options))


def create_fastervqa_metric(device=None, as_loss: bool = False, **options: Any) -> FastVQAMetric:
    """The ``"fastervqa"`` metric (FasterVQA; ``model="FasterVQA-MS"``/``"FasterVQA-MT"``); see :class:`FastVQAMetric`."""
    return FastVQAMetric(device=device, as_loss=as_loss, **metric_config("fastervqa").merged(options))


__all__ += ["BaselineUnavailableError"]
