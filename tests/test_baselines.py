"""Zero-shot prompt baselines (values against a hand computation); the FAST-VQA/DOVER adapters against
stand-ins of the authors' packages (tests/fixtures/fake_packages/README.md says how they match)."""

from __future__ import annotations

import math
import os
import sys
import urllib.error
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from qclip_plugin.baselines.dover import DOVER_FUSION, fuse_dover_branches
from qclip_plugin.baselines.third_party import (
    BaselineUnavailableError,
    UntrustedWeightsError,
    authors_decord_bridge,
)
from qclip_plugin.baselines.zero_shot import FIVE_LEVELS, ZeroShotPromptScorer
from qclip_plugin.errors import UserError
from qclip_plugin.metrics import create_metric

pytestmark = pytest.mark.usefixtures("single_thread")


@pytest.fixture(scope="module")
def antonym():
    return create_metric("clip-antonym", backbone="QCLIP-Tiny", backbone_weights=None, device="cpu", num_frames=4)


def _by_hand(clip_model, tokenizer, prompts, frames, scale):
    """softmax(scale * cos(mean of frame features, prompt features)) from the open_clip model directly."""
    b, t = frames.shape[:2]
    image = clip_model.encode_image(frames.flatten(0, 1)).view(b, t, -1).mean(dim=1)
    text = clip_model.encode_text(tokenizer(prompts))
    return (scale * F.normalize(image, dim=-1) @ F.normalize(text, dim=-1).t()).softmax(dim=-1)


def test_antonym_score_is_probability_of_good(antonym):
    torch.manual_seed(0)
    frames = torch.rand(3, 4, 3, 112, 112)
    scores = antonym(frames)
    assert scores.shape == (3,)
    assert bool(((scores >= 0) & (scores <= 1)).all())
    net = antonym.net
    assert net.prompts == ("a video of good quality", "a video of bad quality")
    import open_clip

    with torch.no_grad():
        probs = _by_hand(
            net.clip_model,
            open_clip.get_tokenizer("QCLIP-Tiny"),
            list(net.prompts),
            (frames - 0.5) / 0.5,
            float(net.clip_model.logit_scale.exp()),
        )
    torch.testing.assert_close(scores, probs[:, 0], rtol=0, atol=1e-6)
    assert antonym.score_range == "0, 1" and antonym.metric_mode == "NR" and antonym.lower_better is False


def test_antonym_scores_video_files(antonym, videos_dir):
    scores = antonym([videos_dir / "carphone_distorted.mp4", videos_dir / "carphone_pristine.mp4"])
    assert scores.shape == (2,) and bool(((scores > 0) & (scores < 1)).all())


def test_five_level_score_is_expected_level(antonym):
    clip_model = antonym.net.clip_model
    import open_clip

    tokenizer = open_clip.get_tokenizer("QCLIP-Tiny")
    scorer = ZeroShotPromptScorer(clip_model, tokenizer, FIVE_LEVELS, (5, 4, 3, 2, 1), logit_scale=100.0)
    frames = torch.randn(2, 3, 3, 112, 112)
    with torch.no_grad():
        scores = scorer(frames)
        probs = _by_hand(
            clip_model, tokenizer, [f"a video of {w} quality" for w in FIVE_LEVELS], frames, 100.0
        )
    assert scores.shape == (2,) and bool(((scores >= 1) & (scores <= 5)).all())
    torch.testing.assert_close(scores, probs @ torch.tensor([5.0, 4, 3, 2, 1]), rtol=0, atol=1e-5)
    torch.testing.assert_close(scorer.probabilities(frames).sum(dim=-1), torch.ones(2))


def test_five_level_metric_range_and_shape():
    metric = create_metric(
        "clip-five-level", backbone="QCLIP-Tiny", backbone_weights=None, device="cpu", num_frames=2
    )
    scores = metric(torch.rand(2, 2, 3, 64, 64))
    assert metric.score_range == "1, 5" and scores.shape == (2,)
    assert bool(((scores >= 1) & (scores <= 5)).all())


def test_zero_shot_needs_one_value_per_level(antonym):
    with pytest.raises(ValueError, match="one value per level"):
        ZeroShotPromptScorer(
            antonym.net.clip_model, lambda texts: torch.zeros(len(texts), 8), ("good",), (1.0, 0.0)
        )


# --- the authors' single-video scripts' fusion, and the released predictions ---------------------


def _script_fusion(results):
    """``fuse_results`` of DOVER's evaluate_one_video.py, written out; ``results`` in dover.yml's view
    order: [technical, aesthetic]."""
    x = (results[0] - 0.1107) / 0.07355 * 0.6104 + (results[1] + 0.08285) / 0.03774 * 0.3896
    return 1 / (1 + math.exp(-x))


@pytest.mark.parametrize(
    ("technical", "aesthetic"), [(0.1107, -0.08285), (0.02, 0.2), (-0.1, 0.05), (0.3, -0.3)]
)
def test_dover_fusion_is_the_single_video_script(technical, aesthetic):
    assert fuse_dover_branches(aesthetic=aesthetic, technical=technical) == pytest.approx(
        _script_fusion([technical, aesthetic]), rel=0, abs=1e-12
    )


def test_dover_fusion_statistics_are_the_released_predictions_crosswise(shared_data):
    """The script's technical triple standardises the released *aesthetic* column and vice versa:
    the adapter keeps the script's assignment (the issue's defect was applying it by the statistics)."""
    import pandas as pd

    released = pd.read_csv(shared_data / "reference_predictions/dover/LIVE_VQC.csv")
    for branch, column in (("technical", "aesthetic"), ("aesthetic", "technical")):
        mean, std, _ = DOVER_FUSION[branch]
        z = (released[column] - mean) / std
        assert abs(z.mean()) < 0.01 and abs(z.std() - 1) < 0.01, branch
    assert DOVER_FUSION["technical"][2] + DOVER_FUSION["aesthetic"][2] == pytest.approx(1.0)


# --- the adapters, run against stand-ins of the authors' packages (tests/fixtures/fake_packages) --

FAKE_PACKAGES = Path(__file__).parent / "fixtures" / "fake_packages"
STANDIN_MODULES = ("dover", "fastvqa", "standin_views")

DOVER_YML = """\
name: DOVER
data:
    val-l1080p:
        type: ViewDecompositionDataset
        args:
            sample_types:
                technical:
                    fragments_h: 2
                    fragments_w: 2
                    fsize_h: 16
                    fsize_w: 16
                    aligned: 4
                    clip_len: 8
                    frame_interval: 2
                    num_clips: 2
                aesthetic:
                    size_h: 24
                    size_w: 24
                    clip_len: 8
                    frame_interval: 2
                    t_frag: 4
                    num_clips: 1
model:
    type: DOVER
    args:
        backbone:
            technical:
                type: swin_tiny_grpb
                checkpoint: true
                pretrained:
            aesthetic:
                type: conv_tiny
        backbone_preserve_keys: technical,aesthetic
        divide_head: true
        vqa_head:
            in_channels: 768
            hidden_channels: 64
test_load_path: ./pretrained_weights/DOVER.pth
"""

FASTVQA_YML = """\
name: {name}
data:
    val-kv1k:
        type: FusionDataset
        args:
            phase: test
            sample_types:
                fragments:
                    fragments_h: 2
                    fragments_w: 2
                    fsize_h: 16
                    fsize_w: 16
                    aligned: {aligned}
                    clip_len: 8
                    frame_interval: 2
{extra}                    num_clips: {num_clips}
model:
    type: DiViDeAddEvaluator
    args:
        backbone:
            fragments:
                checkpoint: false
                pretrained:
        backbone_size: swin_tiny_grpb
        backbone_preserve_keys: fragments
        divide_head: false
        vqa_head:
            in_channels: 768
            hidden_channels: 64
test_load_path: ./pretrained_weights/{weights}
"""
# the repositories' own test_load_path spellings, literal asterisk included
FASTVQA_FILES = {
    "fast-vqa": (
        "fast-b.yml",
        FASTVQA_YML.format(name="FAST-VQA-B", aligned=8, extra="", num_clips=2, weights="FAST_VQA_B_1*4.pth"),
        "FAST_VQA_B_1_4.pth",
    ),
    "fastervqa": (
        "f3dvqa-b.yml",
        FASTVQA_YML.format(
            name="FasterVQA",
            aligned=4,
            extra=" " * 20 + "t_frag: 4\n",
            num_clips=1,
            weights="FAST_VQA_3D_1*1.pth",
        ),
        "FAST_VQA_3D_1_1.pth",
    ),
}


class Payload:
    """A pickle that runs code when unpickled: makes the folder ``marker``."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return os.mkdir, (self.marker,)


@pytest.fixture()
def standins(monkeypatch, tmp_path):
    """Stand-in packages importable, torch's hub cache and ours under tmp_path, no download possible."""
    import decord

    monkeypatch.syspath_prepend(str(FAKE_PACKAGES))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("QCLIP_CACHE_DIR", str(tmp_path / "cache"))

    def offline(url, *args, **kwargs):
        raise urllib.error.URLError("no network in tests")

    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    yield tmp_path
    for name in [m for m in sys.modules if m.split(".")[0] in STANDIN_MODULES]:
        del sys.modules[name]
    decord.bridge.set_bridge("native")  # whatever a failing test left behind


def _set_head(head, bias):
    with torch.no_grad():
        head.weight.zero_()
        head.bias.fill_(bias)


def _imagenet_file(tmp_path, content=None):
    """The ImageNet ConvNeXt checkpoint in torch's hub cache, as a download would leave it."""
    target = tmp_path / "torch" / "hub" / "checkpoints" / "convnext_tiny_1k_224_ema.pth"
    target.parent.mkdir(parents=True, exist_ok=True)
    torch.save(content if content is not None else {"model": {"scale": torch.ones(3)}}, target)
    return target


def _dover_repo(tmp_path, technical=0.0, aesthetic=0.0, extra=None):
    """A cloned DOVER: dover.yml and pretrained_weights/DOVER.pth (a bare state dict, as released)."""
    import yaml

    with authors_decord_bridge():  # importing the package here must not switch this thread's bridge
        from dover.models import DOVER

    repo = tmp_path / "DOVER"
    (repo / "pretrained_weights").mkdir(parents=True)
    (repo / "dover.yml").write_text(DOVER_YML)
    _imagenet_file(tmp_path)
    model = DOVER(**yaml.safe_load(DOVER_YML)["model"]["args"])
    _set_head(model.technical_head, technical)
    _set_head(model.aesthetic_head, aesthetic)
    state = model.state_dict() if extra is None else {"state_dict": model.state_dict(), **extra}
    torch.save(state, repo / "pretrained_weights" / "DOVER.pth")
    return repo


def _fastvqa_repo(tmp_path, name, raw=0.0, extra=None):
    """A cloned FAST-VQA-and-FasterVQA with the release's weights name (the YAML spells it with ``*``),
    saved as the training script saves: ``{"state_dict", "validation_results"}`` with numpy scalars."""
    import yaml

    with authors_decord_bridge():
        from fastvqa.models import DiViDeAddEvaluator

    yml, text, weights = FASTVQA_FILES[name]
    repo = tmp_path / "FAST-VQA-and-FasterVQA"
    (repo / "options" / "fast").mkdir(parents=True, exist_ok=True)
    (repo / "pretrained_weights").mkdir(exist_ok=True)
    (repo / "options" / "fast" / yml).write_text(text)
    model = DiViDeAddEvaluator(**yaml.safe_load(text)["model"]["args"])
    _set_head(model.vqa_head, raw)
    results = (np.float64(0.87), np.float64(0.88), np.float64(0.69), np.float32(8.1))
    torch.save(
        {"state_dict": model.state_dict(), "validation_results": results, **(extra or {})},
        repo / "pretrained_weights" / weights,
    )
    return repo / "options" / "fast" / yml


def _sigmoid(x):
    return 1 / (1 + math.exp(-x))


@pytest.mark.parametrize(
    ("name", "package", "expected"),
    [
        (
            "dover",
            "dover",
            [
                "git clone https://github.com/VQAssessment/DOVER",
                "pip install --no-deps -e DOVER",
                "pip install scikit-video",
                "DOVER.pth",
                "dover.yml",
                "convnext_tiny_1k_224_ema.pth",
            ],
        ),
        (
            "fast-vqa",
            "fastvqa",
            [
                "git clone https://github.com/VQAssessment/FAST-VQA-and-FasterVQA",
                "pip install --no-deps -e FAST-VQA-and-FasterVQA",
                "openai-clip",
                "FAST_VQA_B_1_4.pth",
                "fast-b.yml",
            ],
        ),
        ("fastervqa", "fastvqa", ["FAST_VQA_3D_1_1.pth", "options/fast/f3dvqa-b.yml"]),
    ],
)
def test_third_party_adapters_say_how_to_install(monkeypatch, tmp_path, name, package, expected):
    monkeypatch.setitem(sys.modules, package, None)  # as if not installed, even where it is
    monkeypatch.setenv("QCLIP_CACHE_DIR", str(tmp_path))
    with pytest.raises(BaselineUnavailableError) as info:
        create_metric(name, device="cpu")
    message = str(info.value)
    assert f"the Python package '{package}." in message and "not installed" in message
    for text in expected:
        assert text in message
    assert str(tmp_path / "baselines") in message  # where copied weights are looked for
    assert isinstance(info.value, ImportError) and isinstance(info.value, UserError)


@pytest.mark.parametrize(
    ("name", "module", "command"),
    [
        ("dover", "skvideo", "pip install scikit-video"),
        ("fast-vqa", "skvideo", "pip install scikit-video"),
        ("fastervqa", "clip", "pip install openai-clip"),
    ],
)
def test_a_missing_dependency_is_named_with_its_command(standins, monkeypatch, name, module, command):
    monkeypatch.setitem(sys.modules, module, None)
    with pytest.raises(BaselineUnavailableError) as info:
        create_metric(name, device="cpu")
    message = str(info.value)
    assert f"imports the module '{module}', which is missing" in message and command in message
    assert "is not installed" not in message  # the package itself is there


def test_dover_views_branch_order_and_fused_score(standins, videos_dir):
    tm, ts, _ = DOVER_FUSION["technical"]
    am, _, _ = DOVER_FUSION["aesthetic"]
    repo = _dover_repo(standins, technical=tm + ts, aesthetic=am)  # one std above the technical mean
    metric = create_metric("dover", device="cpu", options=repo / "dover.yml")
    video = videos_dir / "carphone_distorted.mp4"
    views = metric.load(video)
    assert list(views) == ["technical", "aesthetic"]  # dover.yml's order, which DOVER's scores follow
    assert views["technical"].shape == (2, 3, 8, 32, 32)  # (clips, C, T, H, W)
    assert views["aesthetic"].shape == (1, 3, 8, 24, 24)
    assert metric.branches(views) == pytest.approx({"technical": tm + ts, "aesthetic": am})
    expected = _sigmoid(DOVER_FUSION["technical"][2])  # the technical branch carries the script's 0.6104
    assert expected == pytest.approx(_script_fusion([tm + ts, am]))
    assert metric([video, video]).tolist() == pytest.approx([expected] * 2, abs=1e-6)
    for branch, value in (("technical", tm + ts), ("aesthetic", am)):
        raw = create_metric("dover", device="cpu", options=repo / "dover.yml", fusion=branch)
        assert float(raw(video)) == pytest.approx(value, abs=1e-6) and raw.score_range == "unbounded"


def test_dover_offline_without_the_imagenet_checkpoint_says_which_file(standins):
    repo = _dover_repo(standins)
    (standins / "torch" / "hub" / "checkpoints" / "convnext_tiny_1k_224_ema.pth").unlink()
    with pytest.raises(BaselineUnavailableError) as info:
        create_metric("dover", device="cpu", options=repo / "dover.yml")
    message = str(info.value)
    hub = standins / "torch" / "hub" / "checkpoints"
    assert "https://dl.fbaipublicfiles.com/convnext/convnext_tiny_1k_224_ema.pth" in message
    assert f"mkdir -p {hub} && curl -L -o {hub / 'convnext_tiny_1k_224_ema.pth'}" in message
    assert "no network in tests" in message


@pytest.mark.parametrize("name", ["fast-vqa", "fastervqa"])
def test_fastvqa_finds_the_release_weights_that_the_yaml_spells_with_an_asterisk(standins, videos_dir, name):
    """The YAML names ``./pretrained_weights/FAST_VQA_B_1*4.pth``; the release is ``FAST_VQA_B_1_4.pth``."""
    from qclip_plugin.baselines.fastvqa import FAST_VQA_MODELS

    model = "FAST-VQA" if name == "fast-vqa" else "FasterVQA"
    mean, std = FAST_VQA_MODELS[model]["rescale"]
    options = _fastvqa_repo(standins, name, raw=mean + 2 * std)
    metric = create_metric(name, device="cpu", options=options)
    assert metric.weights.startswith(str(options.parents[2] / "pretrained_weights" / FASTVQA_FILES[name][2]))
    video = videos_dir / "carphone_distorted.mp4"
    views = metric.load(video)
    assert views["fragments"].shape == ((2, 3, 8, 32, 32) if name == "fast-vqa" else (1, 3, 8, 32, 32))
    assert float(metric(video)) == pytest.approx(_sigmoid(2.0), abs=1e-6)
    with pytest.raises(TypeError, match="list of paths"):
        metric(torch.rand(1, 8, 3, 32, 32))


def test_fastvqa_scores_although_its_package_switches_decord_to_torch(standins, videos_dir):
    """Importing fastvqa.datasets sets decord's bridge to torch: frames are tensors, not NDArrays.
    The adapter must score, and leave this thread's bridge native for the package's own decoding."""
    import decord

    from qclip_plugin.video import open_video

    options = _fastvqa_repo(standins, "fastervqa")
    weights = options.parents[2] / "pretrained_weights" / "FAST_VQA_3D_1_1.pth"
    metric = create_metric("fastervqa", device="cpu", options=options, weights=weights)
    video = videos_dir / "carphone_distorted.mp4"
    assert metric([video]).shape == (1,)
    assert hasattr(decord.VideoReader(str(video))[0], "asnumpy")  # native again in this thread
    with open_video(video) as reader:
        assert reader.get_batch([0, 1]).shape[0] == 2
    decord.bridge.set_bridge("torch")  # a caller that switched it itself keeps its choice
    assert metric([video]).shape == (1,)
    assert isinstance(decord.VideoReader(str(video))[0], torch.Tensor)


def test_fastvqa_adapter_matches_the_script_steps(standins, videos_dir):
    """The views equal vqa.py's steps done by hand with the stand-in package under the same seed."""
    import decord
    import fastvqa.datasets as datasets

    options = _fastvqa_repo(standins, "fast-vqa")
    metric = create_metric("fast-vqa", device="cpu", options=options, seed=3)
    video = videos_dir / "carphone_distorted.mp4"
    views = metric.load(video)
    args = {
        "fragments_h": 2,
        "fragments_w": 2,
        "fsize_h": 16,
        "fsize_w": 16,
        "aligned": 8,
        "clip_len": 8,
        "frame_interval": 2,
        "num_clips": 2,
    }
    with torch.random.fork_rng(devices=[]), decord.bridge.use_torch():
        torch.manual_seed(3)
        np.random.seed(3)
        reader = decord.VideoReader(str(video))
        frames = datasets.SampleFrames(clip_len=8, num_clips=2)(len(reader))
        clip = torch.stack([reader[i] for i in frames], 0).permute(3, 0, 1, 2)
        sampled = datasets.get_spatial_fragments(clip, **args)
    mean, std = torch.tensor([123.675, 116.28, 103.53]), torch.tensor([58.395, 57.12, 57.375])
    sampled = ((sampled.permute(1, 2, 3, 0) - mean) / std).permute(3, 0, 1, 2)
    expected = sampled.reshape(sampled.shape[0], 2, -1, *sampled.shape[2:]).transpose(0, 1)
    assert torch.equal(views["fragments"], expected)


def test_seed_makes_each_score_independent_of_order_and_leaves_global_generators(standins, videos_dir):
    options = _fastvqa_repo(standins, "fastervqa")
    metric = create_metric("fastervqa", device="cpu", options=options)  # seed=0 by default
    with torch.no_grad():
        metric.net.fragments_backbone.scale.copy_(torch.tensor([1.0, -2.0, 3.0]))
        metric.net.vqa_head.weight.fill_(0.01)
    a, b = videos_dir / "carphone_distorted.mp4", videos_dir / "bikes.mp4"
    state = torch.random.get_rng_state()
    numpy_state = np.random.get_state()[1].copy()
    first = metric([a, b]).tolist()
    assert metric([b, a]).tolist()[::-1] == first
    assert torch.equal(torch.random.get_rng_state(), state)
    assert np.array_equal(np.random.get_state()[1], numpy_state)
    unseeded = create_metric("fastervqa", device="cpu", options=options, seed=None)
    unseeded(a)
    assert not torch.equal(torch.random.get_rng_state(), state)  # the authors' behaviour: global draws


@pytest.mark.parametrize("name", ["dover", "fast-vqa"])
def test_weights_are_not_unpickled_without_trust_pickle(standins, name):
    marker = standins / "payload-ran"
    if name == "dover":
        options = _dover_repo(standins, extra={"payload": Payload(marker)}) / "dover.yml"
        weights = standins / "DOVER" / "pretrained_weights" / "DOVER.pth"
    else:
        options = _fastvqa_repo(standins, name, extra={"payload": Payload(marker)})
        weights = standins / "FAST-VQA-and-FasterVQA" / "pretrained_weights" / "FAST_VQA_B_1_4.pth"
    with pytest.raises(UntrustedWeightsError) as info:
        create_metric(name, device="cpu", options=options)
    assert str(weights) in str(info.value) and "--trust-pickle (trust_pickle=True)" in str(info.value)
    assert isinstance(info.value, UserError) and not marker.exists()
    metric = create_metric(name, device="cpu", options=options, trust_pickle=True)  # asked for: unpickled
    assert marker.exists() and metric.weights.startswith(str(weights))


def test_an_imagenet_checkpoint_with_code_is_refused(standins):
    repo = _dover_repo(standins)
    marker = standins / "payload-ran"
    _imagenet_file(standins, {"model": {"scale": torch.ones(3)}, "payload": Payload(marker)})
    with pytest.raises(UntrustedWeightsError, match="convnext_tiny_1k_224_ema.pth"):
        create_metric("dover", device="cpu", options=repo / "dover.yml")
    assert not marker.exists()


def test_score_command_refuses_pickled_weights_unless_trust_pickle(standins, videos_dir, capsys):
    from qclip_plugin.cli.main import main

    marker = standins / "payload-ran"
    options = _fastvqa_repo(standins, "fastervqa", extra={"payload": Payload(marker)})
    output = standins / "scores.csv"
    argv = [
        "score",
        str(videos_dir / "carphone_distorted.mp4"),
        "--metric",
        "fastervqa",
        "--option",
        f"options={options}",
        "--output",
        str(output),
        "--quiet",
        "--device",
        "cpu",
    ]
    try:
        code = main(argv)
        captured = capsys.readouterr()
        message = captured.out + captured.err
    except UntrustedWeightsError as error:  # until the CLI prints UserErrors itself
        code, message = 2, str(error)
    assert code == 2 and "--trust-pickle" in message and "FAST_VQA_3D_1_1.pth" in message
    assert not marker.exists() and not output.exists()
    assert main([*argv, "--trust-pickle"]) == 0
    assert marker.exists()
    rows = output.read_text().splitlines()
    assert len(rows) == 2 and ",ok," in rows[1]


def test_an_option_file_without_the_sampling_set_names_the_file_and_its_sets(standins):
    from qclip_plugin.baselines.third_party import BaselineFileError

    options = _fastvqa_repo(standins, "fastervqa")
    with pytest.raises(
        BaselineFileError, match=r"f3dvqa-b.yml has no data set 'val-ltest' \(it has val-kv1k\)"
    ):
        create_metric("fastervqa", device="cpu", options=options, data_key="val-ltest")


def test_unknown_fusion_or_model_lists_the_choices():
    from qclip_plugin.baselines.third_party import BaselineOptionError

    with pytest.raises(BaselineOptionError, match="fusion must be one of .*'technical', 'aesthetic'"):
        create_metric("dover", device="cpu", fusion="overall")
    with pytest.raises(BaselineOptionError, match="FasterVQA-MT"):
        create_metric("fast-vqa", device="cpu", model="FAST-VQA-L")


def test_loading_weights_keeps_what_others_allowed(tmp_path):
    """torch's safe_globals context takes back on exit what it was given; mmengine's entries must stay."""
    from qclip_plugin.baselines.third_party import load_weights
    from qclip_plugin.engine.safe_loading import allow_mmengine_checkpoints, mmengine_checkpoint_globals

    allow_mmengine_checkpoints()
    torch.save({"state_dict": {"w": torch.zeros(1)}, "results": (np.float64(0.5),)}, tmp_path / "w.pth")
    assert list(load_weights(tmp_path / "w.pth", "weights")) == ["w"]
    allowed = torch.serialization.get_safe_globals()
    assert [entry for entry in mmengine_checkpoint_globals() if entry not in allowed] == []
