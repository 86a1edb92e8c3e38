"""Shared test fixtures: paths to the shared real data beside the repository."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(scope="session")
def videos_dir(shared_data: Path) -> Path:
    return shared_data / "videos"


@pytest.fixture(scope="module")
def single_thread():
    """Tiny models run faster on one thread than on two contended ones; restore the count after."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def tiny_metric():
    """The untrained `tiny` Q-CLIP metric (random weights drawn from a fixed seed), 4 frames."""
    from qclip_plugin.metrics import create_metric

    return create_metric("qclip", preset="tiny", pretrained=False, device="cpu", num_frames=4)


@pytest.fixture(scope="session")
def miniature(tmp_path_factory, shared_data):
    """``miniature(key, **options)``: the root of a miniature of dataset ``key`` laid out like the
    real one (``tests/miniatures.py``: ``labels=``, ``clips=``, ``n=``), built once per session and
    set of options. Build the dataset on it with ``miniatures.miniature_dataset(key, root, split)``."""
    from miniatures import build_miniature

    built: dict[str, Path] = {}

    def get(key: str, **options) -> Path:
        options = {"labels": "community", "clips": "generated", "n": None, **options}
        tag = f"{key}-{sorted(options.items())!r}"
        if tag not in built:
            built[tag] = build_miniature(key, tmp_path_factory.mktemp(f"mini_{key}"), **options)
        return built[tag]

    return get
