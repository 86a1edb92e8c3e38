"""DOVER (Wu et al., ICCV 2023) through the authors' ``dover`` package.

The adapter follows the authors' single-video script (``evaluate_one_video.py`` of
github.com/VQAssessment/DOVER): read ``dover.yml``, build ``dover.models.DOVER``, load the released
weights, decompose the video into its technical and aesthetic views with the package's
``spatial_temporal_view_decomposition`` and ``UnifiedFrameSampler`` (option set ``val-l1080p``),
normalise with ImageNet statistics, and fuse the two branch scores into [0, 1] with the script's
fixed score-level fusion (:func:`fuse_dover_branches`). ``fusion="technical"`` or ``"aesthetic"``
returns that branch's raw score instead.

Across a whole test set the published numbers fuse differently: each branch z-scored over the set and
summed (DESIGN.md §4), which is what ``qclip-bench evaluate`` does with DOVER's released predictions.

Install: see :func:`install_instructions` (also in the README), then
``create_metric("dover", options="DOVER/dover.yml")``, or copy ``dover.yml`` and ``DOVER.pth`` into
``~/.cache/qclip_plugin/baselines/dover/``.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

from qclip_plugin.baselines.third_party import (
    BaselineFileError,
    BaselineOptionError,
    BaselineUnavailableError,
    ExternalVideoMetric,
    UntrustedWeightsError,
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

__all__ = ["DOVER_FUSION", "IMAGENET_CHECKPOINT", "DoverMetric", "create_dover_metric", "fuse_dover_branches"]

#: branch -> (mean, std, weight) of the per-video fusion of ``evaluate_one_video.py``:
#: ``sigmoid(sum_b w_b (score_b - mean_b) / std_b)``. The script's ``fuse_results`` applies the first
#: triple to ``results[0]``, which is the technical branch: ``dover.yml`` lists the technical view
#: first and DOVER returns one score per view in the order it is given. ``evaluate_a_set_of_videos.py``
#: orders the views aesthetic first and applies the same triple to ``results[1]``, the technical
#: branch again. (The first triple's mean/std are those of the *aesthetic* column of the released
#: predictions, 0.1105/0.0735 on LIVE-VQC, the second's those of the technical column; both scripts
#: use them as here, crosswise, and so does this adapter.)
DOVER_FUSION: dict[str, tuple[float, float, float]] = {
    "technical": (0.1107, 0.07355, 0.6104),
    "aesthetic": (-0.08285, 0.03774, 0.3896),
}
#: the ImageNet checkpoint that ``convnext_3d_tiny(pretrained=True)`` downloads while DOVER's aesthetic
#: branch is built (dover.yml's ``conv_tiny``); DOVER.pth then overwrites those weights.
IMAGENET_CHECKPOINT = "https://dl.fbaipublicfiles.com/convnext/convnext_tiny_1k_224_ema.pth"
WEIGHTS_URL = "https://github.com/QualityAssessment/DOVER/releases/download/v0.1.0/DOVER.pth"
MEAN_255 = (123.675, 116.28, 103.53)
STD_255 = (58.395, 57.12, 57.375)
FUSIONS = ("dover", "technical", "aesthetic")


def fuse_dover_branches(aesthetic: float, technical: float) -> float:
    """DOVER's per-video fusion of the two raw branch scores into [0, 1] (see :data:`DOVER_FUSION`)."""
    x = sum(
        (score - mean) / std * weight
        for score, (mean, std, weight) in (
            (technical, DOVER_FUSION["technical"]),
            (aesthetic, DOVER_FUSION["aesthetic"]),
        )
    )
    return float(1.0 / (1.0 + np.exp(-x)))


def imagenet_checkpoint_path(url: str = IMAGENET_CHECKPOINT) -> Path:
    """Where ``torch.hub.load_state_dict_from_url`` looks for ``url`` before downloading it."""
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(urllib.parse.urlparse(url).path)


def _imagenet_command(url: str) -> str:
    target = imagenet_checkpoint_path(url)
    return f"mkdir -p {target.parent} && curl -L -o {target} {url}"


def install_instructions() -> str:
    folder = baseline_dir("dover")
    return (
        "To run DOVER:\n"
        "  git clone https://github.com/VQAssessment/DOVER\n"
        "  pip install --no-deps -e DOVER   # its requirements pin torch~=1.13; the code runs on current torch\n"
        "  pip install scikit-video\n"
        f"  mkdir -p DOVER/pretrained_weights && curl -L -o DOVER/pretrained_weights/DOVER.pth {WEIGHTS_URL}\n"
        "  # DOVER downloads ImageNet ConvNeXt weights while it builds; offline, put them in torch's cache first:\n"
        f"  {_imagenet_command(IMAGENET_CHECKPOINT)}\n"
        f"then pass options='DOVER/dover.yml' (its test_load_path names the weights), or copy dover.yml and "
        f"DOVER.pth into {folder}/."
    )


@contextlib.contextmanager
def _imagenet_download(trust_pickle: bool) -> Iterator[None]:
    """While DOVER is built: its backbone's ImageNet weights are read with ``weights_only`` unless
    ``trust_pickle``, and a failed download or unreadable file says which file and what to do.

    DOVER's ``convnext_3d_tiny`` calls ``torch.hub.load_state_dict_from_url`` itself (unpickling by
    default); the call is routed through here for the duration of the build only.
    """
    original = torch.hub.load_state_dict_from_url

    def load(url: str, *args: Any, **kwargs: Any) -> Any:
        target = imagenet_checkpoint_path(url)
        kwargs["weights_only"] = not trust_pickle
        try:
            return original(url, *args, **kwargs)
        except OSError as error:  # URLError, HTTPError, timeouts: offline or unreachable
            raise BaselineUnavailableError(
                f"DOVER builds its aesthetic branch from ImageNet weights ({target.name}) that torch downloads on "
                f"first use, and the download of {url} failed ({error}). Put the file in torch's cache:\n"
                f"  {_imagenet_command(url)}\n(or copy it from a machine that has it; TORCH_HOME moves the cache)"
            ) from error
        except Exception as error:
            if isinstance(error, pickle.UnpicklingError) and not trust_pickle:
                raise UntrustedWeightsError(
                    f"the ImageNet weights {target} hold Python objects other than tensors, so they were not "
                    "unpickled. Only if you trust the file: pass --trust-pickle (trust_pickle=True)."
                ) from error
            raise BaselineFileError(
                f"cannot read the ImageNet weights {target} ({type(error).__name__}: {str(error)[:200]}); "
                f"delete the file and download it again:\n  {_imagenet_command(url)}"
            ) from error

    torch.hub.load_state_dict_from_url = load
    try:
        yield
    finally:
        torch.hub.load_state_dict_from_url = original


class DoverMetric(ExternalVideoMetric):
    """DOVER on video files: the fused score in [0, 1], or one raw branch (``fusion``).

    Args:
        options: the authors' ``dover.yml`` (default: the copy in ``baseline_dir("dover")``).
        weights: ``DOVER.pth`` (default: the cache copy, else the option file's ``test_load_path``
            relative to the option file's folder, the repository root).
        fusion: ``"dover"`` (the script's fused score), ``"technical"`` or ``"aesthetic"`` (raw branch).
        data_key: the option file's sampling set (the script's ``val-l1080p``).
        seed: seeds the authors' random sampling per video, so a video's score does not depend on
            what was scored before it; ``None`` draws from the global generators as their script does.
        trust_pickle: unpickle weights files that hold more than tensors (trusted files only).
    """

    def __init__(
        self,
        options: str | os.PathLike | None = None,
        weights: str | os.PathLike | None = None,
        device: str | torch.device | None = None,
        as_loss: bool = False,
        fusion: str = "dover",
        data_key: str = "val-l1080p",
        seed: int | None = 0,
        trust_pickle: bool = False,
    ) -> None:
        if fusion not in FUSIONS:
            raise BaselineOptionError(f"fusion must be one of {FUSIONS}, got {fusion!r}")
        super().__init__("dover", "0, 1" if fusion == "dover" else "unbounded", device, as_loss)
        install = install_instructions()
        self._datasets = import_package("dover.datasets", install)
        models = import_package("dover.models", install)
        folder = baseline_dir("dover")
        options_path = find_file(options, [folder / "dover.yml"], "DOVER option file (dover.yml)", install)
        opt = read_options(options_path)
        weights_path = find_file(
            weights,
            [folder / "DOVER.pth", *option_file_weights(options_path, opt, options_path.resolve().parent)],
            "DOVER weights (DOVER.pth)",
            install,
        )
        if data_key not in opt["data"]:
            raise BaselineFileError(
                f"{options_path} has no data set {data_key!r} (it has {', '.join(opt['data'])})"
            )
        self.data_args = opt["data"][data_key]["args"]
        self.fusion, self.seed = fusion, seed
        state = load_weights(weights_path, "DOVER weights", trust_pickle)  # refused before any download
        with _imagenet_download(trust_pickle):
            self.net = models.DOVER(**opt["model"]["args"])
        self.net.load_state_dict(state)
        self.net.to(self.device).eval()
        self.weights = f"{weights_path} with {options_path} [{data_key}], fusion {fusion}, seed {seed}"
        self.temporal_samplers = {}
        for sample_type, args in self.data_args["sample_types"].items():
            if "t_frag" not in args:  # the technical view: fragments over whole clips
                sampler = self._datasets.UnifiedFrameSampler(
                    args["clip_len"], args["num_clips"], args["frame_interval"]
                )
            else:  # the aesthetic view
                sampler = self._datasets.UnifiedFrameSampler(
                    args["clip_len"] // args["t_frag"],
                    args["t_frag"],
                    args["frame_interval"],
                    args["num_clips"],
                )
            self.temporal_samplers[sample_type] = sampler

    def load(self, path: str | os.PathLike) -> dict[str, torch.Tensor]:
        """The technical and aesthetic views of ``path``, as ``evaluate_one_video.py`` builds them."""
        from qclip_plugin.video.errors import VideoReadError

        if not Path(path).is_file():
            raise VideoReadError(path, "no such file")
        try:
            with seeded(self.seed), authors_decord_bridge():
                views, _ = self._datasets.spatial_temporal_view_decomposition(
                    str(path), self.data_args["sample_types"], self.temporal_samplers
                )
        except Exception as error:  # decord and the package raise their own types
            raise VideoReadError(
                path, f"DOVER's view decomposition failed ({type(error).__name__}: {error})"
            ) from error
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
        """The raw branch scores of one video's views, by view name (``technical``, ``aesthetic``).

        DOVER returns one score per view in the order of the views it is given, so they are named by
        zipping with the view keys rather than by position (the option file's order decides it).
        """
        scores = self.net({k: v.to(self.device) for k, v in views.items()})
        return {key: score.mean().item() for key, score in zip(views, scores, strict=True)}

    def score_one(self, views: dict[str, torch.Tensor]) -> float:
        branch = self.branches(views)
        if self.fusion != "dover":
            return branch[self.fusion]
        return fuse_dover_branches(aesthetic=branch["aesthetic"], technical=branch["technical"])


def create_dover_metric(device=None, as_loss: bool = False, **options: Any) -> DoverMetric:
    """The ``"dover"`` metric; ``options``: ``options`` (dover.yml), ``weights``, ``fusion``, ``seed``,
    ``trust_pickle`` (see :class:`DoverMetric`)."""
    return DoverMetric(device=device, as_loss=as_loss, **metric_config("dover").merged(options))
