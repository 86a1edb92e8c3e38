"""pyiqa integration: ``pyiqa.create_metric("qclip")`` and ``pyiqa qclip-tiny -t img.png`` as pyiqa's users
write them.

Each check runs in a fresh interpreter: what is tested is start-up and import order (a pyiqa already
imported by another test would hide an ordering bug). The start-up file is the one ``setup.py`` installs
(``startup_line()``), processed by ``site.addsitedir`` exactly as Python processes site-packages at start.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from qclip_plugin.integrations.pyiqa_hook import ENV_VAR, PTH_NAME, PYIQA_PRESETS, pyiqa_configs, startup_line

REPO = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}  # tiny models; the suite shares the CPU


def _python(code: str, env: dict | None = None, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env or ENV,
    )


def _last_json(done: subprocess.CompletedProcess) -> dict:
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def start_up_dir(tmp_path_factory) -> Path:
    """A folder holding the start-up file, as site-packages holds it after an install."""
    folder = tmp_path_factory.mktemp("site")
    (folder / PTH_NAME).write_text(startup_line(), encoding="ascii")
    return folder


SCORES = """
    import json, sys
    import torch
    {setup}
    metric = pyiqa.create_metric("qclip", preset="tiny", pretrained=False, device="cpu")
    torch.manual_seed(0)
    images = torch.rand(3, 3, 64, 80)
    scores = metric(images)
    import qclip_plugin  # the same images through qclip_plugin's metric API (same seeded model)
    own = qclip_plugin.create_metric("qclip", preset="tiny", pretrained=False, device="cpu")(images)
    metric.as_loss = True  # pyiqa's loss path: gradients and the mean score
    x = images.clone().requires_grad_(True)
    loss = metric(x)
    loss.backward()
    # the README's line, as pyiqa's users write it (default device, no other option)
    oneliner = pyiqa.create_metric('qclip', preset='tiny', pretrained=False)(torch.rand(4,3,224,224)).shape
    print(json.dumps({{
        "oneliner": str(oneliner),
        "shape": list(scores.shape), "scores": scores.flatten().tolist(), "own": own.tolist(),
        "listed": [n for n in pyiqa.list_models(metric_mode="NR") if n.startswith("qclip")],
        "mode": metric.metric_mode, "lower_better": metric.lower_better, "range": metric.score_range,
        "loss": float(loss), "grad": float(x.grad.abs().sum()), "finite": bool(torch.isfinite(x.grad).all()),
    }}))
"""


@pytest.mark.parametrize(
    "setup",
    [
        "import qclip_plugin, pyiqa",
        "import pyiqa, qclip_plugin",
        "import site; site.addsitedir({dir!r}); import pyiqa; assert 'qclip_plugin' not in sys.modules",
    ],
    ids=["qclip_plugin-first", "pyiqa-first", "start-up-file-only"],
)
def test_pyiqa_create_metric_qclip_in_fresh_process(setup, start_up_dir):
    result = _last_json(_python(SCORES.format(setup=setup.format(dir=str(start_up_dir)))))
    assert result["shape"] == [3, 1]  # pyiqa's no-reference convention: 4-D is 3 images, 3 scores
    assert result["scores"] == pytest.approx(result["own"], abs=1e-6)  # the same convention in both routes
    assert len(set(result["scores"])) == 3
    assert sorted(result["listed"]) == sorted(PYIQA_PRESETS)
    assert result["mode"] == "NR" and result["lower_better"] is False and result["range"] == "unbounded"
    assert result["loss"] == pytest.approx(sum(result["scores"]) / 3, abs=1e-6)
    assert result["grad"] > 0 and result["finite"]
    assert result["oneliner"] == "torch.Size([4, 1])"


def test_start_up_file_can_be_switched_off(start_up_dir):
    """``QCLIP_PYIQA_HOOK=0``: pyiqa as if qclip_plugin were not installed (the file itself is tested above)."""
    code = f"""
        import json, site, sys
        site.addsitedir({str(start_up_dir)!r})
        from pyiqa.default_model_configs import DEFAULT_CONFIGS
        print(json.dumps({{"qclip": "qclip" in DEFAULT_CONFIGS, "qclip_plugin": "qclip_plugin" in sys.modules}}))
    """
    assert _last_json(_python(code, env={**ENV, ENV_VAR: "0"})) == {"qclip": False, "qclip_plugin": False}


def test_start_up_file_costs_little(start_up_dir):
    """What every interpreter pays: the hook's source compiled and run once (no import beyond sys)."""
    code = f"""
        import json, site, sys, time
        before = set(sys.modules)
        start = time.perf_counter()
        site.addsitedir({str(start_up_dir)!r})
        print(json.dumps({{"ms": 1000 * (time.perf_counter() - start), "new": sorted(set(sys.modules) - before)}}))
    """
    result = _last_json(_python(code))
    assert result["new"] == []
    assert result["ms"] < 50  # ~1 ms measured here; generous for a loaded machine


def test_pyiqa_cli_scores_an_image(tmp_path, start_up_dir, monkeypatch):
    """``pyiqa qclip-tiny -t img.png`` (pyiqa's own command line) equals qclip_plugin's score of the file;
    ``pyiqa qclip`` without weights says how to get them."""
    from PIL import Image

    from qclip_plugin.metrics import create_metric, default_checkpoint

    monkeypatch.setenv("QCLIP_CACHE_DIR", str(tmp_path / "cache"))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    model = create_metric("qclip", preset="tiny", pretrained=False, device="cpu", init_seed=3)
    checkpoint = default_checkpoint("tiny")
    checkpoint.parent.mkdir(parents=True)
    model.net.save_checkpoint(checkpoint)
    image = tmp_path / "img.png"
    Image.fromarray((torch.rand(72, 96, 3) * 255).byte().numpy()).save(image)
    expected = float(create_metric("qclip", preset="tiny", checkpoint=checkpoint, device="cpu")(image))

    def pyiqa(*args: str) -> subprocess.CompletedProcess:  # pyiqa's console script, after site start-up
        cli = f"import site; site.addsitedir({str(start_up_dir)!r}); from pyiqa.pyiqa_cmd import main; main()"
        return subprocess.run(
            [sys.executable, "-c", cli, *args], capture_output=True, text=True, timeout=300, env=env
        )

    done = pyiqa("qclip-tiny", "-t", str(image))
    assert done.returncode == 0, done.stderr[-3000:]
    # pyiqa pprints {'qclip-tiny': {'mean': np.float64(...)}}
    mean = re.search(r"'qclip-tiny': \{'mean': (?:np\.float\d+\()?(-?[\d.e+-]+)", done.stdout)
    assert mean, done.stdout
    assert float(mean[1]) == pytest.approx(expected, abs=1e-5)

    done = pyiqa("qclip", "-t", str(image))
    assert done.returncode != 0 and "not implemented" not in done.stderr
    assert "no trained Q-CLIP weights for preset 'paper'" in done.stderr


def test_pyiqa_names_build_existing_presets():
    from qclip_plugin.models import list_presets

    assert set(PYIQA_PRESETS.values()) <= set(list_presets())
    assert all(
        config["metric_opts"]["preset"] == PYIQA_PRESETS[name] for name, config in pyiqa_configs().items()
    )


def test_pyiqa_arch_entry_point_is_declared():
    import importlib

    tomllib = pytest.importorskip("tomllib")
    declared = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["entry-points"]["pyiqa.archs"]
    module, _, name = declared["qclip"].partition(":")
    assert callable(getattr(importlib.import_module(module), name))


def test_import_qclip_plugin_imports_neither_torch_nor_pyiqa():
    done = _python(
        "import sys, qclip_plugin; print(sorted(m for m in ('pyiqa', 'torch') if m in sys.modules))"
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
