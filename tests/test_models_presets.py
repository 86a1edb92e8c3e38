"""The model table (qclip_plugin/models/presets.py) is the one place presets and ablations live.

The mmengine configs name its rows instead of restating them, QCLIPConfig has no defaults for
what a row states, the level words and the template are written once (models/prompts.py), and
every row's trainable-parameter count is what it was before the table (recorded with the
configs it replaced: ``_base_/models/qclip_paper_<ablation>.py`` and the overrides inlined in
``paper/``).
"""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path

import pytest
from mmengine.config import Config

from qclip_plugin.errors import UserError
from qclip_plugin.models import (
    ABLATIONS,
    MODEL_SPECS,
    PRESETS,
    QCLIP,
    QCLIPConfig,
    build_qclip,
    get_ablation,
    get_preset,
    list_ablations,
    list_presets,
    load_backbone,
    parameter_report,
    resolve_config,
)
from qclip_plugin.models.prompts import ANTONYM_LEVELS, FIVE_LEVELS, PROMPT_TEMPLATE, mode_levels

REPO = Path(__file__).resolve().parents[1]
CONFIGS = REPO / "benchmark_configs"
PAPER = CONFIGS / "paper"

# trainable parameters of the paper model with each ablation on PE-Core-L-14-336, and of the tiny
# model (two of four blocks) where the ablation fits it: recorded before the table replaced the
# configs, from those configs
PAPER_COUNTS = {
    "escma_1_layers": 42_225, "escma_2_layers": 61_691, "escma_4_layers": 100_623, "escma_6_layers": 139_555,
    "escma_8_layers": 178_487, "escma_12_layers": 256_351, "escma_24_layers": 489_943,
    "prompts_antonym": 136_480, "prompts_antonym_learnable": 139_552, "prompts_five_levels": 136_483,
    "prompts_five_levels_learnable": 139_555,
    "scma_visual_only": 140_268, "scma_text_only": 140_268, "scma_unshared": 277_459, "scma_shared": 140_275,
    "scma_shared_layers": 139_555,
}
TINY_COUNTS = {
    "escma_1_layers": 2_865, "escma_2_layers": 4_091, "escma_4_layers": 6_543,
    "prompts_antonym": 3_896, "prompts_antonym_learnable": 4_088, "prompts_five_levels": 3_899,
    "prompts_five_levels_learnable": 4_091,
    "scma_visual_only": 4_232, "scma_text_only": 4_232, "scma_unshared": 8_267, "scma_shared": 4_235,
    "scma_shared_layers": 4_091,
}


def _qclip_args(path: Path) -> dict:
    return dict(Config.fromfile(str(path)).model.qclip)


def test_the_table_has_the_presets_and_the_papers_ablations():
    assert list_presets() == ["paper", "release", "tiny"] == sorted(PRESETS)
    assert list_ablations() == sorted(PAPER_COUNTS) == sorted(ABLATIONS)
    assert {spec.kind for spec in MODEL_SPECS.values()} == {"preset", "ablation"}
    for name in list_ablations():
        assert MODEL_SPECS[name].source.startswith(("paper table 3", "paper table 4", "paper figure 5"))
        assert dict(ABLATIONS[name]) == get_ablation(name) == MODEL_SPECS[name].fields
    # presets are complete: every QCLIPConfig field without a default comes from the row
    required = {f.name for f in dataclasses.fields(QCLIPConfig) if f.default is dataclasses.MISSING}
    for name in list_presets():
        assert required <= set(get_preset(name)), name
        assert dict(PRESETS[name]) == get_preset(name)
    # rows based on another state only what differs
    for name, spec in MODEL_SPECS.items():
        if spec.base:
            base = get_preset(spec.base)
            assert all(base.get(k) != v for k, v in spec.fields.items()), name


def test_config_defaults_are_neutral():
    with pytest.raises(TypeError, match="missing"):
        QCLIPConfig()  # nothing to fall back on: the values are the table's
    defaults = {f.name: f.default for f in dataclasses.fields(QCLIPConfig) if f.default is not dataclasses.MISSING}
    assert defaults == dict(branches=None, share_branches=None, share_layers=None, levels=None,
                            head_init_std=None, backbone_seed=0)


def test_preset_values():
    paper, release, tiny = (get_preset(n) for n in ("paper", "release", "tiny"))
    assert (paper["bottleneck"], paper["layers"], paper["placement"], paper["resize"]) == (8, 6, "parallel", "decoder")
    assert paper["prompt_template"] == PROMPT_TEMPLATE and "levels" not in paper  # the mode's, prompts.py
    assert (release["bottleneck"], release["placement"], release["gate_per_layer"], release["proj_norm"]) == (
        128, "serial", False, False)
    assert release["levels"] == ("bad", "poor", "fair", "good", "excellent") and release["resize"] == "pil"
    assert (tiny["backbone"], tiny["pretrained"], tiny["layers"]) == ("QCLIP-Tiny", None, 2)
    assert resolve_config("paper").levels == FIVE_LEVELS == ("excellent", "good", "fair", "poor", "bad")
    get_preset("paper")["layers"] = 99  # copies: the table is not changed through them
    assert get_preset("paper")["layers"] == 6


def test_unknown_names_are_user_errors():
    with pytest.raises(UserError, match=r"unknown Q-CLIP preset 'papr'; did you mean 'paper'\? choose one of paper, release"):
        build_qclip("papr")
    with pytest.raises(ValueError, match=r"unknown Q-CLIP ablation 'escma_3_layers'; did you mean .*choose one of escma_12_layers"):
        resolve_config("paper", ablation="escma_3_layers")
    with pytest.raises(ValueError, match="unknown Q-CLIP ablation 'paper'"):
        get_ablation("paper")  # a preset is not an ablation


def test_model_configs_name_a_preset_only():
    files = sorted(p.name for p in (CONFIGS / "_base_" / "models").glob("*.py"))
    assert files == ["qclip_paper.py", "qclip_release.py", "qclip_tiny.py"]
    for name in ("paper", "release", "tiny"):
        cfg = Config.fromfile(str(CONFIGS / "_base_" / "models" / f"qclip_{name}.py"))
        assert cfg.model.type == "QCLIPVQAModel" and cfg.model.loss.rank_weight == 0.3
        assert dict(cfg.model.qclip) == {"preset": name}


def _paper_ablation_configs() -> dict[str, list[Path]]:
    return {d: sorted((PAPER / d).glob("*.py")) for d in ("table3_scma", "table4_prompts", "figure5_escma_layers")}


def test_paper_ablation_configs_name_their_table_row():
    named = {}
    for paths in _paper_ablation_configs().values():
        for path in paths:
            args = _qclip_args(path)
            # the row's name and nothing else: no QCLIPConfig field is restated
            assert set(args) == {"preset", "ablation"} and args["preset"] == "paper", path
            named[path.relative_to(PAPER).as_posix()] = args["ablation"]
            # the config resolves to the row: the paper preset with exactly the row's fields changed
            expected = resolve_config("paper", **get_ablation(args["ablation"]))
            assert resolve_config(**args) == expected, path
    rows = {src: sorted(n for n in list_ablations() if MODEL_SPECS[n].source.startswith(f"paper {src}"))
            for src in ("table 3", "table 4", "figure 5")}
    by_folder = {f: sorted(v for k, v in named.items() if k.startswith(f)) for f in _paper_ablation_configs()}
    assert by_folder["table3_scma"] == rows["table 3"]  # one config per row, and back
    assert by_folder["table4_prompts"] == rows["table 4"]
    # figure 5: every layer count but one, which the configs leave to `model.ablation=escma_1_layers`
    assert set(rows["figure 5"]) - set(by_folder["figure5_escma_layers"]) == {"escma_1_layers"}
    assert named["figure5_escma_layers/layers_4.py"] == "escma_4_layers"
    assert named["table3_scma/visual_only.py"] == "scma_visual_only"
    assert named["table4_prompts/antonym.py"] == "prompts_antonym"


def test_table3_rows_without_layer_sharing():
    visual = resolve_config("paper", ablation="scma_visual_only").scma_config(6)
    assert (visual.branches, visual.share_branches, visual.share_layers) == (("visual",), False, False)
    text = resolve_config("paper", ablation="scma_text_only").scma_config(6)
    assert (text.branches, text.share_branches, text.share_layers) == (("text",), False, False)


def test_overrides_ablations_and_presets_compose():
    # overrides win over the row; the row applies on top of any preset
    assert resolve_config("paper", ablation="escma_4_layers", layers=12).layers == 12
    release = resolve_config("release", ablation="escma_12_layers")
    assert (release.layers, release.bottleneck, release.placement) == (12, 128, "serial")
    # which levels a prompt mode uses: prompts.mode_levels; an explicit order of the same words is kept
    assert resolve_config("release", ablation="prompts_antonym").levels == ANTONYM_LEVELS == mode_levels("antonym")
    assert resolve_config("release", ablation="prompts_five_levels").levels == FIVE_LEVELS[::-1]
    assert resolve_config("release", prompt_mode="antonym").levels == ("good", "bad")
    assert resolve_config("paper", ablation="prompts_antonym", levels=("bad", "good")).levels == ("bad", "good")
    assert resolve_config("paper", ablation="prompts_antonym").prompt_settings() == dict(
        levels=("good", "bad"), n_ctx=0, learnable_context=False)


def test_protocol_override_keeps_the_ablation(tmp_path):
    from qclip_plugin.benchmark.overrides import apply_overrides

    cfg = Config.fromfile(str(PAPER / "figure5_escma_layers" / "layers_4.py"))
    apply_overrides(cfg, {"model.preset": "release"})
    config = resolve_config(**dict(cfg.model.qclip))
    assert (config.layers, config.bottleneck) == (4, 128)


@pytest.mark.parametrize("ablation", sorted(TINY_COUNTS))
def test_every_ablation_builds_on_tiny_with_its_count(ablation):
    model = build_qclip("tiny", ablation=ablation)
    assert parameter_report(model).trainable == TINY_COUNTS[ablation]
    assert model.ablation == ablation and model.preset == "tiny"
    fields = get_ablation(ablation)
    assert all(getattr(model.config, k) == v for k, v in fields.items())


def test_params_cli_takes_an_ablation(capsys):
    import json

    from qclip_plugin.cli.main import main

    assert main(["params", "preset=tiny", "ablation=scma_unshared", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["trainable"] == TINY_COUNTS["scma_unshared"]


def test_paper_release_and_every_ablation_count_on_pe_core_l(tmp_path):
    """The one PE-Core-L-14-336 build (random weights, ~4 GB): both presets and every ablation on one backbone."""
    backbone = load_backbone("PE-Core-L-14-336", None)

    def report(preset, ablation=None):
        model = QCLIP(backbone, resolve_config(preset, pretrained=None, ablation=ablation), preset=preset)
        return model, parameter_report(model)

    paper_model, paper = report("paper")
    path = paper_model.save_checkpoint(tmp_path / "paper.safetensors")
    assert path.stat().st_size < 600_000  # well under 1 MB
    _, release = report("release")
    assert paper.trainable == 139_555 and 139_000 <= paper.trainable <= 142_000
    assert paper.trainable_components == {
        "E-SCMA": 116_796 + 144, "P-SCMA": 19_538, "prompts": 3_072, "head": 5, "backbone": 0,
    }
    assert release.trainable == 1_907_977
    assert release.trainable_components["E-SCMA"] == 6 * (131_200 + 132_096 + 2_048) + 33_024 + 2
    assert release.trainable_components["P-SCMA"] == 131_200 + 16_512 + 132_096 + 2
    assert paper.components["backbone"] == 671_138_817  # 671.1 M, DESIGN.md
    counts = {name: report("paper", name)[1].trainable for name in list_ablations()}
    assert counts == PAPER_COUNTS


def test_level_words_and_template_are_written_once():
    """No module but models/prompts.py spells a level word or the template as a string literal."""
    words = {*FIVE_LEVELS, *ANTONYM_LEVELS, PROMPT_TEMPLATE}
    found = []
    for path in sorted((REPO / "qclip_plugin").rglob("*.py")):
        if path.name == "prompts.py" and path.parent.name == "models":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and node.value in words:
                found.append(f"{path.relative_to(REPO)}:{node.lineno}: {node.value!r}")
    assert found == []


def test_describe_qclip_names_the_model_a_config_builds():
    """Issue 13: the demo leaderboard said "preset: tiny" for a model with bottleneck 32 in 4 layers."""
    from qclip_plugin.models import describe_qclip

    demo = _qclip_args(CONFIGS / "protocols" / "demo" / "cross-dataset.py")
    assert parameter_report(build_qclip(**demo)).trainable == 24_975
    assert describe_qclip(**demo) == "QCLIP tiny (bottleneck=32, layers=4) — 24,975 trainable parameters"
    assert describe_qclip("tiny") == "QCLIP tiny — 4,091 trainable parameters"
    # an ablation's own fields are part of its name, not overrides; an override equal to the row is no override
    assert describe_qclip("tiny", ablation="scma_unshared", sharing="unshared") == (
        f"QCLIP tiny, ablation scma_unshared — {TINY_COUNTS['scma_unshared']:,} trainable parameters"
    )
