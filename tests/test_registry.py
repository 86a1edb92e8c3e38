from mmengine.registry import DATASETS as MM_DATASETS
from mmengine.registry import METRICS as MM_METRICS
from mmengine.registry import MODELS as MM_MODELS

from qclip_plugin import registry
from qclip_plugin.bench.cli import main


def test_registries_are_scoped_children_of_mmengine_roots():
    for reg, parent in [(registry.MODELS, MM_MODELS), (registry.DATASETS, MM_DATASETS), (registry.METRICS, MM_METRICS)]:
        assert reg.scope == "qclip_plugin"
        assert reg.parent is parent
        assert parent.children["qclip_plugin"] is reg
        assert reg._locations, "locations must name the modules that fill the registry"


def test_cli_list_names_every_registry(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for name in registry.ALL_REGISTRIES:
        assert f"{name} (" in out
    assert main(["list", "nonsense"]) == 2
