"""The throughput benchmark (``qclip-bench bench``): ratios in wall and CPU time, tables, one tiny run."""

from __future__ import annotations

import json

import pytest

from qclip_plugin.benchmark.throughput import (
    Measurement,
    ThroughputResult,
    _ratios,
    run_throughput,
    write_results,
)


def _result() -> ThroughputResult:
    rows = [
        # stage, workers, videos, wall seconds, CPU seconds
        ("decode (floor)", 1, 20, 2.0, 2.5),
        ("decode (floor)", 2, 20, 1.6, 3.0),
        ("decode (floor, loader threads)", 1, 20, 2.0, 2.5),
        ("decode (floor, loader threads)", 2, 20, 1.25, 2.5),
        ("load/UNISampl", 1, 20, 2.5, 2.5),
        ("load/UNISampl", 2, 20, 1.5625, 2.5),
        ("score (end to end)", 1, 20, 2.5, 2.5),
        ("score (end to end)", 2, 20, 2.0, 2.0),
    ]
    measurements = [Measurement(s, w, n, wall, {}, cpu) for s, w, n, wall, cpu in rows]
    result = ThroughputResult(measurements, {}, {}, {})
    result.ratios = _ratios(result, 1, 2, ["UNISampl"])
    result.cpu_ratios = _ratios(result, 1, 2, ["UNISampl"], cpu=True)
    return result


def test_ratios_in_wall_and_cpu_time():
    result = _result()
    assert result.ratios == pytest.approx(
        {
            "score_2w_over_decode_2w": 1.6 / 2.0,
            "load_UNISampl_2w_over_1w": 1.6,
            "decode_2w_over_1w": 1.25,
            "score_2w_over_1w": 1.25,
            "score_2w_over_decode_loader_threads_2w": 1.25 / 2.0,
        }
    )
    # videos per CPU second: 20/2.0 scoring against 20/3.0 decoding; 2 workers spend what 1 does on loading
    assert result.cpu_ratios["score_2w_over_decode_2w"] == pytest.approx(1.5)
    assert result.cpu_ratios["load_UNISampl_2w_over_1w"] == pytest.approx(1.0)
    assert result.rate("load/UNISampl", 2) == pytest.approx(12.8)
    assert result.rate("load/UNISampl", 2, cpu=True) == pytest.approx(8.0)
    with pytest.raises(KeyError, match="no measurement of forward"):
        result.rate("forward", 1)


def test_tables_and_json(tmp_path):
    result = _result()
    table = result.markdown()
    assert "| load/UNISampl | 8.00 | 12.80 |  |" in table
    assert "| score_2w_over_decode_2w | 0.800 | 1.500 | >= 0.8 | yes |" in table
    assert "| load_UNISampl_2w_over_1w | 1.600 | 1.000 | >= 1.6 | yes |" in table
    json_path, md_path = write_results(result, tmp_path)
    data = json.loads(json_path.read_text())
    assert data["cpu_ratios"]["score_2w_over_decode_2w"] == pytest.approx(1.5)
    assert data["measurements"][0]["videos_per_cpu_second"] == pytest.approx(8.0)
    assert md_path.read_text() == table


def test_a_tiny_run_measures_every_stage_in_wall_and_cpu_time(videos_dir):
    result = run_throughput(
        [videos_dir / "carphone_distorted.mp4"],
        num_frames=2,
        samplers=["UNISampl"],
        repeats=2,
        rounds=1,
        batch_size=2,
        forward_iterations=1,
        gpu=False,
        log=lambda _: None,
    )
    stages = {(m.stage, m.workers) for m in result.measurements}
    for stage in ("decode (floor)", "decode (floor, loader threads)", "load/UNISampl", "score (end to end)"):
        assert {(stage, 1), (stage, 2)} <= stages
    data_stages = [m for m in result.measurements if m.workers > 0]
    assert all(m.videos == 2 and m.seconds > 0 and m.cpu_seconds > 0 for m in data_stages)
    assert set(result.ratios) == set(result.cpu_ratios) and "load_UNISampl_2w_over_1w" in result.ratios
