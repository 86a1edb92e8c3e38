from mmengine.registry import DATASETS as MM_DATASETS
from mmengine.registry import METRICS as MM_METRICS
from mmengine.registry import MODELS as MM_MODELS

from qclip_plugin import registry
from qclip_plugin.cli.main import main

SAMPLERS = ["RandSampl", "UNISampl", "UNIRandStart", "MSESortedUNI", "SegMSEMean", "SegMSEMedian", "Mixed"]


def test_registries_are_scoped_children_of_mmengine_roots():
    for reg, parent in [(registry.MODELS, MM_MODELS), (registry.DATASETS, MM_DATASETS), (registry.METRICS, MM_METRICS)]:
        assert reg.scope == "qclip_plugin"
        assert reg.parent is parent
        assert parent.children["qclip_plugin"] is reg
        assert reg._locations, "locations must name the modules that fill the registry"


def test_cli_list_names_every_registry_and_the_seven_samplers(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for name in registry.ALL_REGISTRIES:
        assert f"{name} (" in out
    assert main(["list", "samplers"]) == 0
    lines = [line.strip() for line in capsys.readouterr().out.splitlines()[1:]]
    assert lines == sorted(SAMPLERS)
    assert main(["list", "nonsense"]) == 2


def test_cli_list_shows_quality_metrics_with_their_package(capsys):
    assert main(["list", "quality-metrics"]) == 0
    out = capsys.readouterr().out
    qclip_line = next(line for line in out.splitlines() if line.strip().startswith("qclip "))
    assert "qclip-plugin" in qclip_line and "qclip_plugin.metrics.qclip:create_qclip_metric" in qclip_line
