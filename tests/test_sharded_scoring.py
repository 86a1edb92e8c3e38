"""Sharded scoring: ``score_videos(shard=(i, N))`` / ``--shard i/N``, resume per part, ``merge_shards`` /
``qclip-bench merge`` byte-identical to an unsharded run; shard arithmetic."""

from __future__ import annotations

import csv
import shutil

import pytest

from qclip_plugin.benchmark.scoring import manifest_path, merge_shards, score_videos, shard_output
from qclip_plugin.cli.main import main
from qclip_plugin.engine.distributed import parse_shard, shard_slice

CLIPS = ("carphone_distorted.mp4", "carphone_pristine.mp4", "bikes.mp4")


pytestmark = pytest.mark.usefixtures("single_thread")


@pytest.fixture(scope="module")
def metric(tiny_metric):
    return tiny_metric


@pytest.fixture(scope="module")
def videos(tmp_path_factory, videos_dir):
    folder = tmp_path_factory.mktemp("videos")
    for name in CLIPS:
        shutil.copy(videos_dir / name, folder / name)
    shutil.copy(videos_dir / "empty.mp4", folder / "d_empty.mp4")  # sorts last: 4 videos, 1 unreadable
    return folder


def test_shard_slices_are_contiguous_balanced_and_cover_everything():
    items = list(range(10))
    parts = [shard_slice(items, i, 4) for i in range(4)]
    assert parts == [[0, 1, 2], [3, 4, 5], [6, 7], [8, 9]]
    assert [shard_slice(items[:2], i, 3) for i in range(3)] == [[0], [1], []]
    assert parse_shard("3/4") == (3, 4)
    for bad in ("4/4", "-1/2", "1", "a/b", "0/0"):
        with pytest.raises(ValueError, match="i/N"):
            parse_shard(bad)


def test_sharded_run_merges_into_the_unsharded_file(metric, videos, tmp_path):
    # batch 2 and 2 shards of 2 videos: the same batches as the unsharded run, so even the last
    # digits of the scores agree and the files can be compared byte for byte
    whole = tmp_path / "whole" / "scores.csv"
    score_videos(metric, [videos], whole, batch_size=2, progress=False)
    sharded = tmp_path / "sharded" / "scores.csv"
    summaries = [score_videos(metric, [videos], sharded, batch_size=2, progress=False, shard=(i, 2)) for i in (1, 0)]
    assert [(s.scored, s.failed) for s in summaries] == [(1, 1), (2, 0)]
    assert not sharded.exists() and shard_output(sharded, 0, 2).is_file() and manifest_path(sharded).is_file()
    merge_shards(sharded)
    assert sharded.read_bytes() == whole.read_bytes()
    rows = list(csv.DictReader(whole.open(newline="")))
    assert [r["status"] for r in rows] == ["ok", "ok", "ok", "failed"]

    # a part resumes like any output: nothing scored again, failures retried
    again = score_videos(metric, [videos], sharded, batch_size=2, progress=False, shard=(0, 2))
    assert (again.scored, again.skipped) == (0, 2)


def test_merge_names_missing_and_unfinished_parts(metric, videos, tmp_path):
    output = tmp_path / "scores.csv"
    with pytest.raises(FileNotFoundError, match="not scored in shards"):
        merge_shards(output)
    score_videos(metric, [videos], output, batch_size=4, progress=False, shard=(0, 3))
    with pytest.raises(FileNotFoundError, match=r"2 of 3 parts .* are missing: .*part-00001-of-00003"):
        merge_shards(output)
    # an interrupted shard: its part exists but lacks rows
    for i in (1, 2):
        score_videos(metric, [videos], output, batch_size=4, progress=False, shard=(i, 3))
    part = shard_output(output, 2, 3)
    part.write_text(part.read_text().splitlines()[0] + "\r\n")
    with pytest.raises(ValueError, match=r"1 of 4 videos have no row .*d_empty.mp4.*run it again"):
        merge_shards(output)
    # another shard count for the same output is refused instead of mixing the parts
    with pytest.raises(ValueError, match="another sharded run"):
        score_videos(metric, [videos], output, batch_size=4, progress=False, shard=(0, 2))


def test_cli_shards_then_merge(videos, tmp_path, capsys):
    output = tmp_path / "cli.csv"
    common = [str(videos), "--preset", "tiny", "--untrained", "--device", "cpu", "--frames", "4",
              "--batch-size", "1", "--quiet", "--output", str(output)]
    for i in range(3):
        assert main(["score", *common, "--shard", f"{i}/3"]) == 0
    assert main(["merge", str(output), "--remove-parts"]) == 0
    assert not manifest_path(output).exists() and not shard_output(output, 0, 3).exists()
    whole = tmp_path / "whole.csv"
    assert main(["score", *common[:-1], str(whole)]) == 0
    assert output.read_bytes() == whole.read_bytes()
    capsys.readouterr()
    assert main(["merge", str(tmp_path / "none.csv")]) == 2  # a user error: message, no traceback
    assert "was not scored in shards" in capsys.readouterr().err


def test_distributed_scoring_without_torchrun_is_score_videos(videos, tmp_path, monkeypatch):
    from qclip_plugin.benchmark.scoring import score_videos_distributed

    for name in ("RANK", "LOCAL_RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(name, raising=False)
    options = dict(preset="tiny", pretrained=False, num_frames=4)
    one = score_videos_distributed("qclip", [videos], tmp_path / "a.csv", metric_options=options, device="cpu",
                                   progress=False)  # fmt: skip
    from qclip_plugin.metrics import create_metric

    reference = score_videos(create_metric("qclip", device="cpu", **options), [videos], tmp_path / "b.csv",
                             progress=False)  # fmt: skip
    assert one.scores == reference.scores and one.merged is None and one.shard is None
    assert (tmp_path / "a.csv").read_bytes() == (tmp_path / "b.csv").read_bytes()
    part = score_videos_distributed("qclip", [videos], tmp_path / "c.csv", metric_options=options, device="cpu",
                                    shard=(1, 2), progress=False)  # fmt: skip
    assert part.shard == (1, 2) and part.output == shard_output(tmp_path / "c.csv", 1, 2)


def test_shard_under_torchrun_is_refused_before_anything_starts(videos, tmp_path, monkeypatch):
    from qclip_plugin.benchmark.scoring import ShardsError, score_videos_distributed

    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("LOCAL_RANK", "0")
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("MASTER_ADDR", "127.0.0.1")
    monkeypatch.setenv("MASTER_PORT", "1")
    with pytest.raises(ShardsError, match="drop --shard"):
        score_videos_distributed("qclip", [videos], tmp_path / "s.csv", shard=(0, 2))
    assert not list(tmp_path.iterdir())


@pytest.mark.slow
def test_torchrun_ranks_score_their_shards_and_rank0_merges(videos, tmp_path):
    """``torchrun -m qclip_plugin.cli score``: two gloo ranks on the CPU, the merged file byte-identical
    to one process's."""
    import os
    import socket
    import subprocess
    import sys

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    env.update(OMP_NUM_THREADS="1", CUDA_VISIBLE_DEVICES="")
    common = [str(videos), "--preset", "tiny", "--untrained", "--frames", "4", "--batch-size", "1", "--quiet"]
    command = [sys.executable, "-m", "torch.distributed.run", "--nnodes=1", "--nproc_per_node=2",
               "--master_addr=127.0.0.1", f"--master_port={port}", "-m", "qclip_plugin.cli", "score", *common,
               "--output", str(tmp_path / "ranks.csv")]  # fmt: skip
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert f"merged 2 shards -> {tmp_path / 'ranks.csv'}" in done.stdout
    assert main(["score", *common, "--device", "cpu", "--output", str(tmp_path / "one.csv")]) == 0
    assert (tmp_path / "ranks.csv").read_bytes() == (tmp_path / "one.csv").read_bytes()
