"""create_metric / list_metrics: entry-point discovery, weights lookup, every input form, pyiqa attributes."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

import qclip_plugin
from qclip_plugin.metrics import (
    MissingWeightsError,
    VideoQualityMetric,
    create_metric,
    default_checkpoint,
    list_metrics,
    metric_sources,
)

FAKE_DIST = Path(__file__).parent / "fixtures" / "fake_dist"
CLIP = "carphone_distorted.mp4"  # 176x144, small: decodes fast


pytestmark = pytest.mark.usefixtures("single_thread")


@pytest.fixture(scope="module")
def tiny() -> VideoQualityMetric:
    return create_metric("qclip", preset="tiny", pretrained=False, device="cpu", num_frames=4)


# --- discovery ---------------------------------------------------------------------------------


def test_builtin_metrics_are_declared_by_this_package():
    names = list_metrics()
    assert {"qclip", "clip-antonym", "clip-five-level", "fast-vqa", "fastervqa", "dover"} <= set(names)
    assert names == sorted(names)
    assert metric_sources()["qclip"].package == f"qclip-plugin {qclip_plugin.__version__}"
    assert metric_sources()["qclip"].value == "qclip_plugin.metrics.qclip:create_qclip_metric"
    assert list_metrics("clip-*") == ["clip-antonym", "clip-five-level"]
    assert "qclip" not in list_metrics(exclude_filters="q*")
    assert qclip_plugin.create_metric is create_metric and qclip_plugin.list_metrics is list_metrics


def test_third_party_metric_through_entry_point(monkeypatch):
    assert "fake-brightness" not in list_metrics()
    monkeypatch.syspath_prepend(str(FAKE_DIST))
    assert "fake-brightness" in list_metrics()
    assert metric_sources()["fake-brightness"].package == "fake-vqa-metric 1.2.3"
    metric = create_metric("fake-brightness", device="cpu", gain=2.0)
    assert isinstance(metric, VideoQualityMetric) and metric.metric_mode == "NR"
    frames = torch.rand(3, 4, 3, 16, 16)  # already at the metric's size, mean 0 / std 1: no change
    torch.testing.assert_close(metric(frames), frames.mean(dim=(1, 2, 3, 4)) * 2.0)


def test_runtime_registration(monkeypatch):
    from qclip_plugin.metrics import discovery

    monkeypatch.setattr(discovery, "_RUNTIME", {})
    discovery.register_metric("constant", lambda device=None, as_loss=False, value=1.0: (lambda x: value))
    assert "constant" in list_metrics()
    assert metric_sources()["constant"].package == "(registered at runtime)"
    assert create_metric("constant", value=3.0)(None) == 3.0
    with pytest.raises(ValueError, match="already exists"):
        discovery.register_metric("qclip", lambda **_: None)


def test_unknown_metric_suggests_close_names():
    with pytest.raises(KeyError, match="Did you mean 'qclip'"):
        create_metric("qclp")


def test_qclip_without_weights_says_how_to_get_them(monkeypatch, tmp_path):
    monkeypatch.setenv("QCLIP_CACHE_DIR", str(tmp_path))
    with pytest.raises(MissingWeightsError) as info:
        create_metric("qclip", preset="tiny", device="cpu")
    message = str(info.value)
    assert str(tmp_path / "checkpoints" / "qclip-tiny.safetensors") in message
    assert "qclip-bench run protocol=intra-dataset" in message
    assert "qclip-bench convert-official" in message and "pretrained=False" in message
    with pytest.raises(MissingWeightsError, match="does not exist"):
        create_metric("qclip", preset="tiny", checkpoint=tmp_path / "missing.safetensors")


def test_qclip_loads_weights_from_checkpoint_and_cache(monkeypatch, tmp_path, tiny):
    monkeypatch.setenv("QCLIP_CACHE_DIR", str(tmp_path))
    trained = create_metric("qclip", preset="tiny", pretrained=False, device="cpu", num_frames=4, init_seed=7)
    with torch.no_grad():  # "train": move the level weights away from the untrained model's
        trained.net.head.weight.add_(1.0)
    path = default_checkpoint("tiny")
    path.parent.mkdir(parents=True)
    trained.net.save_checkpoint(path)
    frames = torch.rand(2, 4, 3, 112, 112)
    expected = trained(frames)
    assert not torch.allclose(expected, tiny(frames))
    from_cache = create_metric("qclip", preset="tiny", device="cpu", num_frames=4, init_seed=7)
    torch.testing.assert_close(from_cache(frames), expected)
    moved = shutil.copy(path, tmp_path / "elsewhere.safetensors")
    from_file = create_metric("qclip", preset="tiny", checkpoint=moved, device="cpu", num_frames=4, init_seed=7)
    torch.testing.assert_close(from_file(frames), expected)


def test_untrained_model_is_the_same_in_every_build(tiny):
    again = create_metric("qclip", preset="tiny", pretrained=False, device="cpu", num_frames=4)
    frames = torch.rand(1, 4, 3, 112, 112)
    torch.testing.assert_close(again(frames), tiny(frames), rtol=0, atol=0)


# --- pyiqa-shaped attributes --------------------------------------------------------------------


def test_pyiqa_attributes(tiny):
    assert tiny.metric_mode == "NR" and tiny.lower_better is False
    assert isinstance(tiny.score_range, str)
    assert tiny.device == torch.device("cpu") and tiny.as_loss is False
    assert tiny.preprocessing.image_size == (112, 112) and tiny.num_frames == 4


def test_as_loss_is_differentiable_and_reduced():
    loss_metric = create_metric("qclip", preset="tiny", pretrained=False, device="cpu", as_loss=True, loss_weight=2.0)
    frames = torch.rand(2, 3, 3, 64, 64, requires_grad=True)
    loss = loss_metric(frames)
    assert loss.dim() == 0 and loss.requires_grad
    loss.backward()
    assert frames.grad is not None and frames.grad.abs().sum() > 0
    with torch.no_grad():
        scores = loss_metric.score_frames(loss_metric.frames(frames))
    torch.testing.assert_close(loss.detach(), 2.0 * scores.mean())


# --- input forms --------------------------------------------------------------------------------


def test_path_and_decoded_array_score_the_same(tiny, videos_dir):
    from qclip_plugin.video import open_video

    path = videos_dir / CLIP
    with open_video(path, size=tiny.preprocessing.image_size) as reader:
        decoded = reader.get_batch(np.arange(reader.num_frames))
    assert decoded.dtype == np.uint8 and decoded.shape[1:] == (112, 112, 3)
    from_path = tiny(str(path))
    assert from_path.shape == (1,)
    torch.testing.assert_close(tiny(decoded[None]), from_path, rtol=0, atol=1e-6)  # (1, T, H, W, 3): one video
    torch.testing.assert_close(tiny(torch.from_numpy(decoded)[None]), from_path, rtol=0, atol=1e-6)
    torch.testing.assert_close(tiny(path), from_path, rtol=0, atol=0)  # PathLike too
    assert tiny(decoded).shape == (len(decoded),)  # 4-D: one score per frame, as images


def test_list_of_paths_is_the_stack_of_singles(tiny, videos_dir):
    paths = [videos_dir / CLIP, videos_dir / "carphone_pristine.mp4"]
    batch = tiny(paths)
    assert batch.shape == (2,)
    singles = torch.cat([tiny(p) for p in paths])
    torch.testing.assert_close(batch, singles, rtol=0, atol=1e-5)


def test_float_frames_single_and_batched(tiny):
    torch.manual_seed(0)
    videos = torch.rand(3, 4, 3, 90, 120)
    batch = tiny(videos)
    assert batch.shape == (3,)
    singles = torch.cat([tiny(v[None]) for v in videos])  # (1, T, 3, H, W) each
    torch.testing.assert_close(batch, singles, rtol=0, atol=1e-5)


# --- images: a 4-D tensor is N images, N scores (pyiqa's convention); an image is a one-frame video ------


def test_four_d_tensor_is_n_images(tiny):
    torch.manual_seed(0)
    images = torch.rand(4, 3, 90, 120)
    scores = tiny(images)
    assert scores.shape == (4,) and len(set(scores.tolist())) == 4
    torch.testing.assert_close(scores, tiny(images[:, None]), rtol=0, atol=0)  # = four one-frame videos
    torch.testing.assert_close(tiny(images[2]), scores[2:3], rtol=0, atol=1e-6)  # 3-D: one image
    gray = images[:, :1]
    torch.testing.assert_close(tiny(gray), tiny(gray.expand(-1, 3, -1, -1)), rtol=0, atol=0)


def test_uint8_images_and_image_files_score_as_their_pixels(tiny, tmp_path):
    from PIL import Image

    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, size=(2, 48, 64, 3), dtype=np.uint8)
    as_float = torch.from_numpy(pixels).permute(0, 3, 1, 2).float() / 255
    expected = tiny(as_float)
    torch.testing.assert_close(tiny(pixels), expected, rtol=0, atol=1e-6)  # uint8 (N, H, W, 3)
    paths = []
    for i, image in enumerate(pixels):
        paths.append(tmp_path / f"img{i}.png")
        Image.fromarray(image).save(paths[-1])
    torch.testing.assert_close(tiny(paths[0]), expected[:1], rtol=0, atol=1e-6)  # an image by its extension
    torch.testing.assert_close(tiny(paths), expected, rtol=0, atol=1e-6)


def test_image_and_video_paths_are_not_mixed(tiny, tmp_path, videos_dir):
    from PIL import Image

    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(tmp_path / "a.jpg")
    with pytest.raises(ValueError, match="mixes images and videos"):
        tiny([tmp_path / "a.jpg", videos_dir / CLIP])
    (tmp_path / "broken.png").write_bytes(b"not a png")
    with pytest.raises(OSError, match="broken.png"):
        tiny(tmp_path / "broken.png")


def test_metric_scores_where_it_was_moved():
    """``.to(device)`` moves the metric and what it scores (the meta device stands in for a GPU here)."""
    metric = create_metric("qclip", preset="tiny", pretrained=False, device="cpu", num_frames=2)
    assert metric.device == torch.device("cpu")
    metric.to("meta")
    assert metric.device == torch.device("meta")
    assert {p.device.type for p in metric.parameters()} == {"meta"}
    scores = metric(torch.rand(3, 3, 32, 32))  # a CPU input goes to the metric's device
    assert scores.device.type == "meta" and scores.shape == (3,)


def test_float_frames_at_model_size_are_only_normalised(tiny):
    frames = torch.rand(2, 4, 3, 112, 112)
    normalised = (frames - 0.5) / 0.5  # the tiny preset's PE statistics
    torch.testing.assert_close(tiny.frames(frames), normalised)
    with torch.no_grad():
        torch.testing.assert_close(tiny(frames), tiny.net(normalised))


def test_bad_inputs_are_explained(tiny):
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        tiny(torch.rand(4, 3, 32, 32) * 255)
    with pytest.raises(ValueError, match="uint8"):
        tiny(np.zeros((4, 32, 32), np.uint8))
    with pytest.raises(TypeError, match="list of paths"):
        tiny(42)
