"""The contract of every metric in ``list_metrics()``, in the style of pyiqa's tests/test_metric_general.py:
pyiqa's attributes, one score per image or video, scoring on the device the metric was moved to, and
``as_loss`` gradients.

Every name needs a recipe below (small random models; nothing downloads), so a new metric cannot slip
through. DOVER and FAST-VQA run their authors' packages, which are not installed here: they run on the
stand-ins of tests/fixtures/fake_packages, set up by tests/test_baselines.py's helpers, and they take video
files only and cannot be losses (their authors' code is not differentiable end to end), which is checked.
"""

from __future__ import annotations

import re
import sys

import pytest
import torch

from qclip_plugin.baselines.third_party import ExternalVideoMetric
from qclip_plugin.metrics import create_metric, list_metrics

CLIP = "carphone_distorted.mp4"
TINY_CLIP = dict(backbone="QCLIP-Tiny", backbone_weights=None, num_frames=2)
#: name -> create_metric options for a small model without downloads (the authors' packages: stand_ins).
RECIPES: dict[str, dict] = {
    "qclip": dict(preset="tiny", pretrained=False, num_frames=2),
    "clip-antonym": TINY_CLIP,
    "clip-five-level": TINY_CLIP,
}
NAMES = list_metrics()

pytestmark = pytest.mark.usefixtures("single_thread")


@pytest.fixture(scope="module")
def stand_ins(tmp_path_factory) -> dict[str, dict]:
    """The authors' ``dover`` and ``fastvqa`` replaced by the stand-ins, with cloned-repository layouts,
    weights and the ImageNet file DOVER needs, built by tests/test_baselines.py's helpers; no download."""
    import decord
    from test_baselines import FAKE_PACKAGES, STANDIN_MODULES, _dover_repo, _fastvqa_repo

    root = tmp_path_factory.mktemp("stand_ins")
    with pytest.MonkeyPatch.context() as patch:
        patch.syspath_prepend(str(FAKE_PACKAGES))
        patch.setenv("TORCH_HOME", str(root / "torch"))
        patch.setenv("QCLIP_CACHE_DIR", str(root / "cache"))
        patch.setattr(torch.hub, "download_url_to_file", lambda *_, **__: pytest.fail("a download was tried"))
        yield {
            "dover": dict(options=_dover_repo(root) / "dover.yml"),
            "fast-vqa": dict(options=_fastvqa_repo(root, "fast-vqa")),
            "fastervqa": dict(options=_fastvqa_repo(root, "fastervqa")),
        }
    for name in [m for m in sys.modules if m.split(".")[0] in STANDIN_MODULES]:
        del sys.modules[name]
    decord.bridge.set_bridge("native")


@pytest.fixture()
def make(stand_ins):
    def build(name: str, **options):
        recipe = RECIPES.get(name, stand_ins.get(name))
        if recipe is None:
            pytest.fail(f"metric {name!r} has no recipe in {__file__}: add how to build a small one")
        return create_metric(name, device="cpu", **recipe, **options)

    return build


def _bounds(score_range: str) -> tuple[float, float] | None:
    """pyiqa's score_range strings: "0, 1", "~0, ~1" (rough) or "unbounded"."""
    if score_range == "unbounded":
        return None
    match = re.fullmatch(r"(~?)(-?[\d.]+), (~?)(-?[\d.]+)", score_range)
    assert match, f"score_range {score_range!r} is not pyiqa's 'low, high' form"
    return float(match[2]), float(match[4])


@pytest.mark.parametrize("name", NAMES)
def test_attributes(name, make):
    metric = make(name)
    assert metric.metric_name == name and metric.metric_mode == "NR"
    assert isinstance(metric.lower_better, bool) and metric.as_loss is False
    bounds = _bounds(metric.score_range)
    assert bounds is None or bounds[0] < bounds[1]
    assert metric.device == torch.device("cpu")


@pytest.mark.parametrize("name", NAMES)
def test_one_score_per_image_or_video(name, videos_dir, make):
    metric = make(name)
    video = videos_dir / CLIP
    scores = [metric(video), metric([video, video])]
    assert [tuple(s.shape) for s in scores] == [(1,), (2,)]
    torch.testing.assert_close(scores[1], scores[0].expand(2), rtol=0, atol=1e-5)
    if isinstance(metric, ExternalVideoMetric):  # they sample their own views from the file
        with pytest.raises(TypeError, match="path"):
            metric(torch.rand(3, 3, 32, 32))
    else:
        images, videos = metric(torch.rand(3, 3, 40, 48)), metric(torch.rand(2, 2, 3, 40, 48))
        assert images.shape == (3,) and videos.shape == (2,)  # 4-D: N images; 5-D: B videos
        scores += [images, videos]
    bounds = _bounds(metric.score_range)
    for s in scores:
        assert bool(torch.isfinite(s).all())
        assert bounds is None or bool(((s >= bounds[0] - 1e-6) & (s <= bounds[1] + 1e-6)).all()), (s, bounds)


@pytest.mark.parametrize("name", NAMES)
def test_device_follows_the_metric(name, make):
    """``.to(device)`` moves the metric and what it scores; the meta device stands in for a GPU."""
    metric = make(name).to("meta")
    assert metric.device == torch.device("meta")
    assert {t.device.type for t in [*metric.parameters(), *metric.buffers()]} == {"meta"}
    if not isinstance(metric, ExternalVideoMetric):  # their score is a Python float: no meta run
        scores = metric(torch.rand(2, 3, 32, 32))
        assert scores.device.type == "meta" and scores.shape == (2,)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no GPU here: .cuda() against CPU scores not run")
@pytest.mark.parametrize("name", NAMES)
def test_cuda_matches_cpu(name, videos_dir, make):
    cpu = make(name)
    gpu = make(name).cuda()
    assert gpu.device.type == "cuda"
    video = videos_dir / CLIP
    torch.testing.assert_close(gpu(video).cpu(), cpu(video), rtol=1e-2, atol=1e-2)  # pyiqa's tolerance


@pytest.mark.parametrize("name", NAMES)
def test_as_loss_gradient(name, make):
    if isinstance(make(name), ExternalVideoMetric):
        with pytest.raises(ValueError, match="cannot be a loss"):
            make(name, as_loss=True)
        return
    metric = make(name, as_loss=True)
    x = torch.rand(2, 3, 48, 48, requires_grad=True)
    loss = metric(x)
    assert loss.dim() == 0
    loss.backward()
    assert x.grad is not None and bool(torch.isfinite(x.grad).all()) and float(x.grad.abs().sum()) > 0


@pytest.mark.parametrize("name", NAMES)
def test_declared_input_is_the_table_row_and_what_load_gives(name, videos_dir, make):
    """The contract the scorers read (``metric_input``) is the row's, and ``load_item`` gives what it says."""
    from qclip_plugin.metrics import METRIC_CONFIGS, collate_batch, declared_input, load_item

    metric = make(name)
    declared = declared_input(metric)
    if name in METRIC_CONFIGS:
        assert declared == METRIC_CONFIGS[name].metric_input
        assert metric.score_range == METRIC_CONFIGS[name].score_range
    item = load_item(metric, videos_dir / CLIP)
    batch = collate_batch(metric, [item, item])
    if declared.frames == "uint8":
        assert item.dtype == torch.uint8 and item.shape[1] == 3
        # the scorer's batch is bit-identical to stacking the metric's own float frames
        assert torch.equal(batch, torch.stack([metric.load(videos_dir / CLIP)] * 2))
    elif declared.frames == "float":
        assert item.is_floating_point() and batch.shape[0] == 2
    else:
        assert isinstance(batch, list) and len(batch) == 2
    with torch.no_grad():
        torch.testing.assert_close(metric.score_frames(batch), metric(videos_dir / CLIP).expand(2), rtol=0, atol=1e-5)


def test_metric_input_pairs_each_kind_with_its_one_collate():
    from qclip_plugin.metrics import FILE_VIEWS, FLOAT_FRAMES, UINT8_FRAMES, MetricInput

    assert (UINT8_FRAMES.collate, FLOAT_FRAMES.collate, FILE_VIEWS.collate) == ("normalize", "stack", "list")
    with pytest.raises(ValueError, match="collated by 'normalize'"):
        MetricInput("uint8", "stack")
    with pytest.raises(ValueError, match="frames must be one of"):
        MetricInput("rgb", "stack")
