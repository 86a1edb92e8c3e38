"""DOVER (Wu et al., ICCV 2023) through the authors' ``dover`` package.

The adapter follows the authors' single-video script (``evaluate_one_video.py`` of
github.com/VQAssessment/DOVER): read ``dover.yml``, build ``dover.models.DOVER``, load the released
weights, decompose the video into the aesthetic and technical views with the package's
``spatial_temporal_view_decomposition`` and ``UnifiedFrameSampler``, normalise with ImageNet statistics,
and fuse the two branch scores with the script's fixed score-level fusion into [0, 1]
(:func:`fuse_dover_branches`). ``fusion="aesthetic"`` or ``"technical"`` returns one raw branch instead.

Across a whole test set the published numbers fuse differently: each branch z-scored over the set and
summed (DESIGN.md §4), which is what ``qclip-bench evaluate`` does with DOVER's released predictions.

Install (not on PyPI)::

    git clone https://github.com/VQAssessment/DOVER
    pip install -e DOVER
    # weights: DOVER.pth from the repository's GitHub releases (v0.1.0) into DOVER/pretrained_weights/

then ``create_metric("dover", options="DOVER/dover.yml")``, or copy ``dover.yml`` and ``DOVER.pth`` into
``~/.cache/qclip_plugin/baselines/dover/``.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import torch

from qclip_plugin.baselines.third_party import ExternalVideoMetric, baseline_dir, find_file, import_package

__all__ = ["DOVER_FUSION", "DoverMetric", "create_dover_metric", "fuse_dover_branches"]

#: (aesthetic mean, std, weight), (technical mean, std, weight) of the authors' per-video fusion
#: (``fuse_results`` in evaluate_one_video.py). The means/stds are those of the released LIVE-VQC
#: predictions' ``aesthetic`` and ``technical`` columns (0.1105/0.0736, -0.0827/0.0378 there), which is
#: how each statistic is tied to its branch here; the weights go with the statistics as in the script.
DOVER_FUSION = ((0.1107, 0.07355, 0.6104), (-0.08285, 0.03774, 0.3896))
MEAN_255 = (123.675, 116.28, 103.53)
STD_255 = (58.395, 57.12, 57.375)
FUSIONS = ("dover", "aesthetic", "technical")


def fuse_dover_branches(aesthetic: float, technical: float) -> float:
    """DOVER's per-video fusion: ``sigmoid(w_a (a - m_a) / s_a + w_t (t - m_t) / s_t)``, in [0, 1]."""
    (ma, sa, wa), (mt, st, wt) = DOVER_FUSION
    x = (aesthetic - ma) / sa * wa + (technical - mt) / st * wt
    return float(1.0 / (1.0 + np.exp(-x)))


def install_instructions() -> str:
    folder = baseline_dir("dover")
    return (
        "To run DOVER:\n"
        "  git clone https://github.com/VQAssessment/DOVER\n"
        "  pip install -e DOVER\n"
        "  download DOVER.pth from the repository's GitHub releases (v0.1.0) into DOVER/pretrained_weights/\n"
        f"then pass options='DOVER/dover.yml' (its test_load_path names the weights), or copy dover.yml and "
        f"DOVER.pth into {folder}/."
    )


class DoverMetric(ExternalVideoMetric):
    """DOVER on video files: the fused score in [0, 1], or one raw branch (``fusion``)."""

    def __init__(
        self,
        options: str | os.PathLike | None = None,
        weights: str | os.PathLike | None = None,
        device: str | torch.device | None = None,
        as_loss: bool = False,
        fusion: str = "dover",
        data_key: str = "val-l1080p",
    ) -> None:
        if fusion not in FUSIONS:
            raise ValueError(f"fusion must be one of {FUSIONS}, got {fusion!r}")
        super().__init__("dover", "0, 1" if fusion == "dover" else "unbounded", device, as_loss)
        install = install_instructions()
        self._datasets = import_package("dover.datasets", install)
        models = import_package("dover.models", install)
        import yaml

        folder = baseline_dir("dover")
        options_path = find_file(options, [folder / "dover.yml"], "DOVER option file (dover.yml)", install)
        opt = yaml.safe_load(options_path.read_text())
        repo_root = options_path.resolve().parent
        weights_path = find_file(
            weights,
            [folder / "DOVER.pth", *([repo_root / opt["test_load_path"]] if "test_load_path" in opt else [])],
            "DOVER weights", install,
        )
        if data_key not in opt["data"]:
            data_key = next(iter(opt["data"]))
        self.data_args = opt["data"][data_key]["args"]
        self.fusion = fusion
        self.net = models.DOVER(**opt["model"]["args"])
        self.net.load_state_dict(torch.load(weights_path, map_location="cpu", weights_only=False))
        self.net.to(self.device).eval()
        self.weights = f"{weights_path} with {options_path} [{data_key}], fusion {fusion}"
        self.temporal_samplers = {}
        for sample_type, args in self.data_args["sample_types"].items():
            if "t_frag" not in args:  # the technical view: fragments over whole clips
                sampler = self._datasets.UnifiedFrameSampler(args["clip_len"], args["num_clips"], args["frame_interval"])
            else:  # the aesthetic view
                sampler = self._datasets.UnifiedFrameSampler(
                    args["clip_len"] // args["t_frag"], args["t_frag"], args["frame_interval"], args["num_clips"]
                )
            self.temporal_samplers[sample_type] = sampler

    def load(self, path: str | os.PathLike) -> dict[str, torch.Tensor]:
        """The aesthetic and technical views of ``path``, as ``evaluate_one_video.py`` builds them."""
        from qclip_plugin.video.errors import VideoReadError

        try:
            views, _ = self._datasets.spatial_temporal_view_decomposition(
                str(path), self.data_args["sample_types"], self.temporal_samplers
            )
        except Exception as error:  # decord/the package raise their own types
            raise VideoReadError(path, f"DOVER's view decomposition failed ({error})") from error
        mean, std = torch.tensor(MEAN_255), torch.tensor(STD_255)
        out = {}
        for key, view in views.items():
            num_clips = self.data_args["sample_types"][key].get("num_clips", 1)
            out[key] = (
                ((view.permute(1, 2, 3, 0) - mean) / std)
                .permute(3, 0, 1, 2)
                .reshape(view.shape[0], num_clips, -1, *view.shape[2:])
                .transpose(0, 1)
            )
        return out

    def branches(self, views: dict[str, torch.Tensor]) -> dict[str, float]:
        """The raw branch scores of one video's views, by view name (``aesthetic``, ``technical``).

        DOVER returns one score per view in the order of the views it is given, so they are named by
        zipping with the view keys rather than by position (the option file's order decides it).
        """
        scores = self.net({k: v.to(self.device) for k, v in views.items()})
        return {key: score.mean().item() for key, score in zip(views, scores, strict=True)}

    def score_one(self, views: dict[str, torch.Tensor]) -> float:
        branch = self.branches(views)
        if self.fusion != "dover":
            return branch[self.fusion]
        return fuse_dover_branches(branch["aesthetic"], branch["technical"])


def create_dover_metric(device=None, as_loss: bool = False, **options: Any) -> DoverMetric:
    """The ``"dover"`` metric; ``options``: ``options`` (dover.yml), ``weights``, ``fusion``."""
    return DoverMetric(device=device, as_loss=as_loss, **options)

