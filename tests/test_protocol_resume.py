"""A protocol killed mid-training and resumed writes the uninterrupted run's leaderboard (issue 14, 6).

A tiny protocol (12 generated 4-frame videos, the ``tiny`` model, 3 epochs) runs once uninterrupted;
a second run in a child process is killed with SIGKILL during epoch 2, then resumed with
``resume=true``. Before the fix, the resumed leaderboard lost the untrained-baseline rows.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pandas as pd
import pytest

from qclip_plugin.benchmark.protocols import CONFIG_ROOT, run_protocol
from qclip_plugin.cli.main import main

REPO = Path(__file__).resolve().parents[1]

CONFIG = """
_base_ = ['{base}']
train_cfg = dict(max_epochs=3)
param_scheduler = [dict(type='LinearLR', start_factor=0.1, by_epoch=True, begin=0, end=1, convert_to_iter_based=True)]
train_dataloader = dict(batch_size=4)
val_dataloader = dict(batch_size=4)
test_dataloader = dict(batch_size=4)
default_hooks = dict(logger=dict(interval=1))
protocol = dict(
    _delete_=True, name='cross-dataset', method='Q-CLIP', published_dir='none',
    train_sets={{'tiny': dict(type='VQADataset', ann_file='{labels}', data_root='{root}')}},
    split=dict(ratio=0.67, val_ratio=0.25, seeds=[0]), heldout_test=True, test_sets={{}},
    evaluate_untrained=True, init_checkpoint=None,
)
"""

# Runs the protocol and stalls after epoch 1 is checkpointed, saying so, until it is killed.
CHILD = """
import sys, time
from mmengine.hooks import Hook
from qclip_plugin.engine import runner
from qclip_plugin.benchmark import protocols

class Stall(Hook):
    priority = "LOWEST"  # epoch 1 is checkpointed and validated
    def after_val_epoch(self, r, metrics=None):
        if r.epoch == 1:
            print("EPOCH 1 SAVED", flush=True)
            time.sleep(600)

build = runner.build_runner
def stalling(*args, **kwargs):
    r = build(*args, **kwargs)
    r.register_hook(Stall())
    return r
runner.build_runner = stalling
protocols.run_protocol(sys.argv[1], preflight=False, work_dir=sys.argv[2], leaderboard_dir=sys.argv[3])
"""


def _videos(folder: Path, count: int = 12) -> Path:
    """Textures with growing noise; MOS falls with it."""
    rng = np.random.default_rng(0)
    lines = []
    for i in range(count):
        level = i / (count - 1)
        base = rng.integers(60, 200, (1, 112, 112, 3)).astype(np.float32)
        frames = np.clip(base + rng.normal(0, 80 * level, (4, 112, 112, 3)), 0, 255).astype(np.uint8)
        path = folder / f"v{i:02d}.mp4"
        with av.open(str(path), "w") as container:
            stream = container.add_stream("libx264", rate=25)
            stream.height, stream.width, stream.pix_fmt = 112, 112, "yuv420p"
            stream.options = {"qp": "0", "preset": "ultrafast"}
            for frame in frames:
                container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
            container.mux(stream.encode())
        lines.append(f"{path.name}, -1, -1, {5 - 4 * level:.3f}")
    labels = folder / "labels.txt"
    labels.write_text("\n".join(lines) + "\n")
    return labels


@pytest.fixture(scope="module")
def protocol(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("tiny_protocol")
    labels = _videos(folder)
    config = folder / "tiny_protocol.py"
    config.write_text(CONFIG.format(base=CONFIG_ROOT / "protocols" / "demo" / "cross-dataset.py",
                                    labels=labels, root=folder))  # fmt: skip
    return config


def _measured(board: Path) -> pd.DataFrame:
    rows = pd.read_csv(board / "leaderboard.csv")
    return (
        rows[rows["kind"] == "measured"]
        .drop(columns=["date", "commit"], errors="ignore")
        .reset_index(drop=True)
    )


@pytest.mark.slow  # three protocol runs, one in a child process (~20 s idle, ~50 s on a loaded machine)
@pytest.mark.usefixtures("single_thread")
def test_killed_then_resumed_protocol_writes_the_uninterrupted_leaderboard(protocol, tmp_path):
    full = run_protocol(str(protocol), preflight=False, work_dir=tmp_path / "full", leaderboard_dir=tmp_path / "lb_full")
    methods = set(full.rows["method"])
    assert methods == {"Q-CLIP (tiny)", "Q-CLIP (tiny), untrained"}, methods

    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
               OMP_NUM_THREADS="1")  # fmt: skip
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(protocol), str(tmp_path / "cut"), str(tmp_path / "lb_cut")],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env,
    )  # fmt: skip
    try:
        for line in child.stdout:
            if line.startswith("EPOCH 1 SAVED"):
                break
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.kill()
        child.wait(timeout=60)
    run_dir = tmp_path / "cut" / "tiny" / "seed0"
    assert (run_dir / "epoch_1.pth").is_file() and not (run_dir / "epoch_2.pth").exists()
    assert not (tmp_path / "lb_cut").exists()

    resumed = run_protocol(str(protocol), preflight=False, resume=True, work_dir=tmp_path / "cut",
                           leaderboard_dir=tmp_path / "lb_cut")  # fmt: skip
    assert (run_dir / "epoch_3.pth").is_file()
    a, b = _measured(tmp_path / "lb_full"), _measured(tmp_path / "lb_cut")
    assert list(a["method"]) == list(b["method"]) and len(b) == 2  # the untrained row is kept
    metrics = ["SROCC", "PLCC", "KROCC", "RMSE"]
    pd.testing.assert_frame_equal(a.drop(columns=metrics), b.drop(columns=metrics))
    assert np.allclose(a[metrics].to_numpy(float), b[metrics].to_numpy(float), atol=1e-6)
    assert resumed.runs[0].result.selected_epoch == full.runs[0].result.selected_epoch


def test_ctrl_c_in_a_protocol_says_how_to_resume(protocol, tmp_path, monkeypatch, capsys):
    from qclip_plugin.benchmark import protocols

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(protocols, "train_and_test", interrupted)
    code = main(["run", f"protocol={protocol}", "--preflight", "off", "--work-dir", str(tmp_path / "w"),
                 "--output", str(tmp_path / "lb")])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 130 and "Traceback" not in err
    assert (
        f"interrupted: {tmp_path / 'w' / 'tiny' / 'seed0'} keeps the checkpoints" in err
        and "--resume" in err  # the flag (the library says resume=True)
    )
