"""Correlation metrics and mappings against scipy, pyiqa and DOVER's published numbers; VQAMetric."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from qclip_plugin.evaluation.correlation import (
    MAPPINGS,
    evaluate_predictions,
    fit_mapping,
    krocc,
    logistic5,
    plcc,
    rmse,
    srocc,
)
from qclip_plugin.evaluation.vqa_metric import VQAMetric
from qclip_plugin.registry import METRICS


def _noisy_logistic(seed: int, n: int = 300) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    y = 1.0 + 4.0 / (1.0 + np.exp(-2.5 * x)) + rng.normal(scale=0.25, size=n)
    return x, y


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_correlations_equal_scipy_on_random_data(seed):
    rng = np.random.default_rng(seed)
    mos = rng.uniform(1, 5, size=257)
    pred = mos + rng.normal(scale=1.0, size=257)
    pred[::10] = pred[1::10][: len(pred[::10])]  # ties
    assert srocc(pred, mos) == stats.spearmanr(pred, mos)[0]
    assert krocc(pred, mos) == stats.kendalltau(pred, mos)[0]
    assert plcc(pred, mos) == stats.pearsonr(pred, mos)[0]
    assert rmse(pred, mos) == pytest.approx(np.sqrt(np.mean((pred - mos) ** 2)), abs=1e-12)


def test_hand_computed_case():
    pred = [1.0, 2.0, 3.0, 4.0]
    mos = [1.0, 3.0, 2.0, 4.0]
    # one discordant pair out of six: tau = (5 - 1) / 6; rho = 1 - 6 * 2 / (4 * 15)
    assert krocc(pred, mos) == pytest.approx(4 / 6)
    assert srocc(pred, mos) == pytest.approx(0.8)
    assert plcc(pred, mos) == pytest.approx(0.8)  # same ranks and values
    assert rmse(pred, mos) == pytest.approx(math.sqrt(0.5))
    out = evaluate_predictions(pred, mos, "none")
    assert out == {"SROCC": pytest.approx(0.8), "PLCC": pytest.approx(0.8), "KROCC": pytest.approx(4 / 6),
                   "RMSE": pytest.approx(math.sqrt(0.5)), "mapping": "none"}
    # perfectly anti-ranked
    assert srocc([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)
    assert krocc([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)


def test_linear_mapping_rescales_to_mos_mean_and_std():
    x, y = _noisy_logistic(3)
    x = 0.01 * x - 7.0  # scale must not matter
    mapped = fit_mapping(x, y, "linear")(x)
    assert mapped.mean() == pytest.approx(y.mean(), abs=1e-12)
    assert mapped.std() == pytest.approx(y.std(), abs=1e-12)
    out = evaluate_predictions(x, y, "linear")
    assert out["PLCC"] == pytest.approx(stats.pearsonr(x, y)[0], abs=1e-12)
    dover_style = (x - x.mean()) / x.std() * y.std() + y.mean()
    assert out["RMSE"] == pytest.approx(np.sqrt(np.mean((dover_style - y) ** 2)), abs=1e-12)
    assert out["mapping"] == "linear"


def test_logistic4_matches_pyiqa():
    from pyiqa.metrics.correlation_coefficient import calculate_plcc, calculate_rmse

    for seed in range(3):
        x, y = _noisy_logistic(seed)
        out = evaluate_predictions(x, y, "logistic4")
        assert out["mapping"] == "logistic4"
        assert out["PLCC"] == pytest.approx(calculate_plcc(x, y, fit_scale="logistic_4params"), abs=1e-9)
        # pyiqa adds eps=1e-8 under the square root
        assert out["RMSE"] == pytest.approx(calculate_rmse(x, y, fit_scale="logistic_4params"), abs=1e-6)
        assert out["PLCC"] > stats.pearsonr(x, y)[0]  # the curve fits a logistic better than a line


def test_logistic5_recovers_a_known_curve_where_a_fixed_guess_fails():
    rng = np.random.default_rng(7)
    x = rng.uniform(-0.05, 0.05, size=400)  # a small-scale score, as raw model outputs often are
    truth = (60.0, 120.0, 0.01, 50.0, 40.0)
    y = logistic5(x, *truth)
    fitted = fit_mapping(x, y, "logistic5")
    assert fitted.fallback is None
    np.testing.assert_allclose(fitted(x), y, atol=1e-4)
    np.testing.assert_allclose([fitted.params[k] for k in ("b1", "b2", "b3", "b4", "b5")], truth, rtol=1e-3)
    from pyiqa.metrics.correlation_coefficient import calculate_plcc

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pyiqa_plcc = calculate_plcc(x, y, fit_scale="logistic_5params")
    # pyiqa's fixed guess (10, 0, mean(y), 0.1, 0.1) stays on the straight line here
    assert pyiqa_plcc == pytest.approx(stats.pearsonr(x, y)[0], abs=1e-6) and pyiqa_plcc < 0.97
    assert evaluate_predictions(x, y, "logistic5")["PLCC"] == pytest.approx(1.0, abs=1e-9)


def test_logistic_fallback_is_named():
    x = np.array([0.0, 0.0, 0.0, 1.0])
    y = np.array([1.0, 2.0, 3.0, 4.0])
    with pytest.warns(RuntimeWarning, match="least-squares line"):
        out = evaluate_predictions(x, y, "logistic5")  # 4 points for 5 parameters
    assert out["mapping"] == "logistic5->line"
    slope, intercept = np.polyfit(x, y, 1)
    assert out["RMSE"] == pytest.approx(np.sqrt(np.mean((slope * x + intercept - y) ** 2)))


def test_constant_predictions_give_nan_correlations():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no scipy ConstantInputWarning leaks
        out = evaluate_predictions([2.0, 2.0, 2.0], [1.0, 2.0, 3.0], "linear")
    assert math.isnan(out["SROCC"]) and math.isnan(out["PLCC"]) and math.isnan(out["KROCC"])
    assert out["RMSE"] == pytest.approx(np.std([1.0, 2.0, 3.0]))  # mapped to the MOS mean


def test_bad_input_is_explained():
    with pytest.raises(ValueError, match="3 predictions for 2 MOS"):
        evaluate_predictions([1, 2, 3], [1, 2])
    with pytest.raises(ValueError, match="not finite"):
        evaluate_predictions([1, np.nan, 3], [1, 2, 3])
    with pytest.raises(ValueError, match="unknown mapping 'cubic'"):
        evaluate_predictions([1, 2, 3], [1, 2, 3], "cubic")


# DESIGN.md §4: DOVER's released predictions, two branches z-scored and summed.
DOVER = {
    "KoNViD": (0.8825, 0.8836),
    "LIVE_VQC": (0.8291, 0.8533),
    "LSVQ_test": (0.8866, 0.8870),
    "LSVQ_1080p": (0.7927, 0.8283),
}


@pytest.mark.parametrize("name", sorted(DOVER))
def test_dover_released_predictions_reproduce_published_numbers(shared_data, name):
    table = pd.read_csv(shared_data / "reference_predictions" / "dover" / f"{name}.csv")
    branches = [(table[c] - table[c].mean()) / table[c].std() for c in ("aesthetic", "technical")]
    out = evaluate_predictions((branches[0] + branches[1]).to_numpy(), table["mos"].to_numpy(), "linear")
    assert (round(out["SROCC"], 4), round(out["PLCC"], 4)) == DOVER[name]
    for mapping in MAPPINGS:  # every mapping converges on real data, and SROCC never depends on it
        other = evaluate_predictions((branches[0] + branches[1]).to_numpy(), table["mos"].to_numpy(), mapping)
        assert other["mapping"] == mapping
        assert other["SROCC"] == out["SROCC"]


def _predict_outputs(names, mos, preds):
    return [{"name": n, "mos": m, "pred_score": p} for n, m, p in zip(names, mos, preds, strict=True)]


def test_vqa_metric_averages_clips_per_video(tmp_path):
    import torch

    metric = METRICS.build(dict(type="VQAMetric", mapping="none", predictions_file=str(tmp_path / "p.csv")))
    assert isinstance(metric, VQAMetric)
    # video a: clips 1.0 and 3.0 -> 2.0; b: 5.0; c: clips 0.0, 1.0, 2.0 -> 1.0
    metric.process({}, _predict_outputs(["a", "b", "c"], [2.0, 4.0, 1.5], [1.0, 5.0, 0.0]))
    metric.process({}, [{"name": "c", "mos": torch.tensor(1.5), "pred_score": torch.tensor([1.0])},
                        {"name": "a", "mos": 2.0, "pred_score": 3.0},
                        {"name": "c", "mos": 1.5, "pred_score": 2.0}])
    got = metric.evaluate(size=6)
    pred, mos = np.array([2.0, 5.0, 1.0]), np.array([2.0, 4.0, 1.5])
    expect = evaluate_predictions(pred, mos, "none")
    assert set(got) == {"vqa/SROCC", "vqa/PLCC", "vqa/KROCC", "vqa/RMSE"}
    for key in ("SROCC", "PLCC", "KROCC", "RMSE"):
        assert got[f"vqa/{key}"] == pytest.approx(expect[key])
    table = pd.read_csv(tmp_path / "p.csv")
    assert table["name"].tolist() == ["a", "b", "c"]
    np.testing.assert_allclose(table["pred"], pred)
    np.testing.assert_allclose(table["mos"], mos)
    assert table["num_clips"].tolist() == [2, 1, 3]
    assert metric.last_mapping == "none"
    assert metric.results == []  # reset for the next evaluation


def test_vqa_metric_mapping_option_and_prefix():
    x, y = _noisy_logistic(5, n=60)
    names = [f"v{i}" for i in range(60)]
    results = {}
    for mapping in ("linear", "logistic4"):
        metric = VQAMetric(mapping=mapping, prefix="KoNViD")
        metric.process({}, _predict_outputs(names, y, x))
        results[mapping] = metric.evaluate(size=60)
        assert results[mapping]["KoNViD/PLCC"] == pytest.approx(evaluate_predictions(x, y, mapping)["PLCC"])
    assert results["linear"]["KoNViD/SROCC"] == results["logistic4"]["KoNViD/SROCC"]
    assert results["linear"]["KoNViD/PLCC"] != results["logistic4"]["KoNViD/PLCC"]
    with pytest.raises(ValueError, match="unknown mapping"):
        VQAMetric(mapping="logistic3")


def test_vqa_metric_names_a_missing_key():
    metric = VQAMetric()
    with pytest.raises(KeyError, match="pred_score"):
        metric.process({}, [{"name": "a", "mos": 1.0, "score": 2.0}])


def test_vqa_metric_builds_in_an_mmengine_evaluator_under_the_project_scope():
    from mmengine.evaluator import Evaluator
    from mmengine.registry import DefaultScope

    with DefaultScope.overwrite_default_scope("qclip_plugin"):
        evaluator = Evaluator([dict(type="VQAMetric", mapping="logistic4")])
    assert isinstance(evaluator.metrics[0], VQAMetric) and evaluator.metrics[0].mapping == "logistic4"
    x, y = _noisy_logistic(9, n=40)
    evaluator.process(_predict_outputs([f"v{i}" for i in range(40)], y, x))
    got = evaluator.evaluate(40)
    assert got["vqa/SROCC"] == pytest.approx(stats.spearmanr(x, y)[0])
