"""Zero-shot prompt baselines (values against a hand computation) and the third-party adapters' errors."""

from __future__ import annotations

import sys

import pytest
import torch
import torch.nn.functional as F

from qclip_plugin.api import create_metric
from qclip_plugin.baselines.dover import DOVER_FUSION, fuse_dover_branches
from qclip_plugin.baselines.third_party import BaselineUnavailableError
from qclip_plugin.baselines.zero_shot import FIVE_LEVELS, ZeroShotPromptScorer

pytestmark = pytest.mark.usefixtures("single_thread")


@pytest.fixture(scope="module")
def antonym():
    return create_metric("clip-antonym", backbone="QCLIP-Tiny", pretrained=None, device="cpu", num_frames=4)


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
        probs = _by_hand(net.clip_model, open_clip.get_tokenizer("QCLIP-Tiny"), list(net.prompts),
                         (frames - 0.5) / 0.5, float(net.clip_model.logit_scale.exp()))
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
        probs = _by_hand(clip_model, tokenizer, [f"a video of {w} quality" for w in FIVE_LEVELS], frames, 100.0)
    assert scores.shape == (2,) and bool(((scores >= 1) & (scores <= 5)).all())
    torch.testing.assert_close(scores, probs @ torch.tensor([5.0, 4, 3, 2, 1]), rtol=0, atol=1e-5)
    torch.testing.assert_close(scorer.probabilities(frames).sum(dim=-1), torch.ones(2))


def test_five_level_metric_range_and_shape():
    metric = create_metric("clip-five-level", backbone="QCLIP-Tiny", pretrained=None, device="cpu", num_frames=2)
    scores = metric(torch.rand(2, 2, 3, 64, 64))
    assert metric.score_range == "1, 5" and scores.shape == (2,)
    assert bool(((scores >= 1) & (scores <= 5)).all())


def test_zero_shot_needs_one_value_per_level(antonym):
    with pytest.raises(ValueError, match="one value per level"):
        ZeroShotPromptScorer(antonym.net.clip_model, lambda texts: torch.zeros(len(texts), 8), ("good",), (1.0, 0.0))


@pytest.mark.parametrize(
    ("name", "package", "expected"),
    [
        ("dover", "dover", ["git clone https://github.com/VQAssessment/DOVER", "pip install -e DOVER", "DOVER.pth",
                            "dover.yml"]),
        ("fast-vqa", "fastvqa", ["git clone https://github.com/VQAssessment/FAST-VQA-and-FasterVQA",
                                 "pip install -e FAST-VQA-and-FasterVQA", "FAST_VQA_B_1_4.pth", "fast-b.yml"]),
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
    assert isinstance(info.value, ImportError)


def test_dover_fusion_is_centred_on_its_statistics():
    (ma, sa, wa), (mt, st, wt) = DOVER_FUSION
    assert wa + wt == pytest.approx(1.0)
    assert fuse_dover_branches(ma, mt) == pytest.approx(0.5)
    # one std above the aesthetic mean moves the logit by the aesthetic weight
    assert fuse_dover_branches(ma + sa, mt) == pytest.approx(1 / (1 + torch.exp(torch.tensor(-wa)).item()))


def test_dover_fusion_statistics_standardise_the_released_live_vqc_predictions(shared_data):
    import pandas as pd

    released = pd.read_csv(shared_data / "reference_predictions/dover/LIVE_VQC.csv")
    for column, (mean, std, _) in zip(("aesthetic", "technical"), DOVER_FUSION, strict=True):
        z = (released[column] - mean) / std
        assert abs(z.mean()) < 0.01 and abs(z.std() - 1) < 0.01, column


# --- the adapters' glue, run against stand-in packages (tests/fixtures/fake_packages/README.md) -------

FAKE_PACKAGES = __import__("pathlib").Path(__file__).parent / "fixtures" / "fake_packages"

DOVER_YML = """
data:
  val-l1080p:
    args:
      sample_types:
        technical: {fragments_h: 7, fragments_w: 7, fsize_h: 32, fsize_w: 32, size_h: 32, size_w: 32,
                    clip_len: 8, frame_interval: 2, num_clips: 2}
        aesthetic: {size_h: 24, size_w: 24, clip_len: 8, frame_interval: 2, t_frag: 4, num_clips: 1}
model:
  args: {backbone_preserve_keys: "technical,aesthetic"}
test_load_path: ./pretrained_weights/DOVER.pth
"""

FASTVQA_YML = """
data:
  val-kv1k:
    args:
      t_frag: 8
      sample_types:
        fragments: {fragments_h: 2, fragments_w: 2, fsize_h: 8, fsize_w: 8, clip_len: 16, num_clips: 1, t_frag: 8}
model:
  args: {backbone: {}}
test_load_path: ./pretrained_weights/FAST_VQA_3D_1_1.pth
"""


@pytest.fixture()
def fake_packages(monkeypatch):
    monkeypatch.syspath_prepend(str(FAKE_PACKAGES))
    yield
    for name in [m for m in sys.modules if m.split(".")[0] in ("dover", "fastvqa")]:
        del sys.modules[name]


def _set_head(head, bias):
    with torch.no_grad():
        head.weight.zero_()
        head.bias.fill_(bias)


def test_dover_adapter_runs_the_package_and_fuses_by_branch_name(fake_packages, monkeypatch, tmp_path, videos_dir):
    from dover.models import DOVER

    from qclip_plugin.baselines.dover import fuse_dover_branches

    (ma, sa, _), (mt, _, _) = DOVER_FUSION
    model = DOVER(backbone_preserve_keys="technical,aesthetic")
    _set_head(model.aesthetic_head, ma + sa)  # one std above the aesthetic mean
    _set_head(model.technical_head, mt)  # at the technical mean
    monkeypatch.setenv("QCLIP_CACHE_DIR", str(tmp_path))
    folder = tmp_path / "baselines" / "dover"  # the copied-files layout
    folder.mkdir(parents=True)
    (folder / "dover.yml").write_text(DOVER_YML)
    torch.save(model.state_dict(), folder / "DOVER.pth")

    metric = create_metric("dover", device="cpu")
    video = videos_dir / "carphone_distorted.mp4"
    views = metric.load(video)
    assert list(views) == ["technical", "aesthetic"]
    assert views["technical"].shape == (2, 3, 8, 32, 32)  # (clips, C, T, H, W)
    assert views["aesthetic"].shape == (1, 3, 8, 24, 24)
    assert metric.branches(views) == pytest.approx({"aesthetic": ma + sa, "technical": mt})
    scores = metric([video, video])
    assert scores.shape == (2,)
    assert scores.tolist() == pytest.approx([fuse_dover_branches(ma + sa, mt)] * 2)
    technical = create_metric("dover", device="cpu", fusion="technical")
    assert float(technical(video)) == pytest.approx(mt)


def test_fastvqa_adapter_finds_weights_through_the_option_file(fake_packages, tmp_path, videos_dir):
    from fastvqa.models import DiViDeAddEvaluator

    from qclip_plugin.baselines.fastvqa import FAST_VQA_MODELS

    mean, std = FAST_VQA_MODELS["FasterVQA"]["rescale"]
    repo = tmp_path / "FAST-VQA-and-FasterVQA"  # the cloned-repository layout
    (repo / "options" / "fast").mkdir(parents=True)
    (repo / "pretrained_weights").mkdir()
    (repo / "options" / "fast" / "f3dvqa-b.yml").write_text(FASTVQA_YML)
    model = DiViDeAddEvaluator()
    _set_head(model.head, mean + 2 * std)
    torch.save({"state_dict": model.state_dict()}, repo / "pretrained_weights" / "FAST_VQA_3D_1_1.pth")

    metric = create_metric("fastervqa", device="cpu", options=repo / "options" / "fast" / "f3dvqa-b.yml")
    views = metric.load(videos_dir / "carphone_distorted.mp4")
    assert views["fragments"].shape == (1, 3, 16, 16, 16)
    score = float(metric(videos_dir / "carphone_distorted.mp4"))
    assert score == pytest.approx(1 / (1 + torch.exp(torch.tensor(-2.0)).item()), abs=1e-6)
    with pytest.raises(TypeError, match="list of paths"):
        metric(torch.rand(1, 8, 3, 32, 32))
