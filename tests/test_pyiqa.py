"""pyiqa integration: after ``import qclip_plugin``, ``pyiqa.create_metric("qclip")`` scores image batches.

Each check runs in a fresh interpreter, because what is tested is the import-time hook and pyiqa's
own registries (a pyiqa already imported by another test would hide an ordering bug).
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

SCRIPT = textwrap.dedent(
    """
    import json, sys, warnings
    import torch
    torch.set_num_threads(1)  # a tiny model: one thread is faster, and the suite shares the CPU
    {imports}
    metric = pyiqa.create_metric("qclip", preset="tiny", pretrained=False, device="cpu")
    torch.manual_seed(0)
    images = torch.rand(3, 3, 64, 80)
    scores = metric(images)
    # the same images as one-frame videos through qclip_plugin's metric API (same seeded model)
    own = qclip_plugin.create_metric("qclip", preset="tiny", pretrained=False, device="cpu")
    reference = own(images.unsqueeze(1))
    metric.as_loss = True  # pyiqa's loss path: gradients and the mean score
    x = images.clone().requires_grad_(True)
    loss = metric(x)
    loss.backward()
    print(json.dumps({{
        "shape": list(scores.shape),
        "scores": scores.flatten().tolist(),
        "reference": reference.tolist(),
        "listed": "qclip" in pyiqa.list_models(metric_mode="NR"),
        "mode": metric.metric_mode, "lower_better": metric.lower_better, "range": metric.score_range,
        "loss": float(loss), "grad": float(x.grad.abs().sum()),
    }}))
    """
)


@pytest.mark.parametrize(
    "imports",
    ["import qclip_plugin, pyiqa", "import pyiqa, qclip_plugin"],
    ids=["qclip_plugin-first", "pyiqa-first"],
)
def test_pyiqa_create_metric_qclip_in_fresh_process(imports):
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT.format(imports=imports)], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["shape"] == [3, 1]  # pyiqa's no-reference convention
    assert result["scores"] == pytest.approx(result["reference"], abs=1e-6)
    assert len(set(result["scores"])) == 3  # three different images, three scores
    assert result["listed"] and result["mode"] == "NR" and result["lower_better"] is False
    assert result["range"] == "unbounded"
    assert result["loss"] == pytest.approx(sum(result["scores"]) / 3, abs=1e-6)
    assert result["grad"] > 0


def test_bridge_tables_without_pyiqa_import():
    """The hook itself must not import pyiqa (``import qclip_plugin`` stays light)."""
    code = "import sys, qclip_plugin; print(sorted(m for m in ('pyiqa', 'torch') if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_pyiqa_arch_entry_point_is_declared():
    from importlib import metadata

    eps = {ep.name: ep.value for ep in metadata.entry_points(group="pyiqa.archs")}
    assert eps.get("qclip") == "qclip_plugin.pyiqa_bridge:register"
