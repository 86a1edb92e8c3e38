"""One rule for loading files: nothing is unpickled without an explicit trust flag (issue 14, defect 1).

THE RULE, checked on the source of every module of ``qclip_plugin`` (AST, not text search):

1. ``torch.load(...)`` passes ``weights_only=`` explicitly, and its value is the constant ``True`` or
   an expression naming a variable ``trust_pickle`` (``weights_only=not trust_pickle``). An explicit
   value also keeps ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1`` from turning the check off.
2. Any other call passing ``weights_only=`` (open_clip's ``load_state_dict``, ...) follows 1.
3. ``pickle.load``/``pickle.loads``/``pickle.Unpickler`` (also ``cPickle``, ``dill``,
   ``cloudpickle``, ``joblib.load``, ``torch.serialization.load``, ``numpy.load(allow_pickle=True)``)
   are only called inside an ``if`` whose test names ``trust_pickle`` (or pass
   ``allow_pickle=not trust_pickle`` / a value naming it).
4. ``trust_pickle`` is ``False`` unless the user sets it: ``--trust-pickle`` on the command line,
   ``trust_pickle=True`` in Python, ``trust_pickle=true`` as a protocol run option. A refusal names
   the file and that flag: use :func:`qclip_plugin.torch_files.load_torch_file`, which does all of
   this (mmengine checkpoints: :func:`qclip_plugin.engine.safe_loading.load_checkpoint_file`, with
   the exact allow-list they need).
"""

from __future__ import annotations

import ast
import os
import pickle
import shutil
from pathlib import Path

import pytest
import torch

from qclip_plugin.cli.main import main
from qclip_plugin.torch_files import UntrustedPickleError, load_torch_file

PACKAGE = Path(__file__).resolve().parents[1] / "qclip_plugin"
UNPICKLERS = {
    ("pickle", "load"), ("pickle", "loads"), ("pickle", "Unpickler"), ("cPickle", "load"), ("cPickle", "loads"),
    ("dill", "load"), ("dill", "loads"), ("cloudpickle", "load"), ("cloudpickle", "loads"), ("joblib", "load"),
    ("serialization", "load"),
}  # fmt: skip


def _dotted(node: ast.AST) -> tuple[str, ...]:
    if isinstance(node, ast.Attribute):
        return (*_dotted(node.value), node.attr)
    if isinstance(node, ast.Name):
        return (node.id,)
    return ()


def _names_trust(node: ast.AST | None) -> bool:
    return node is not None and any(isinstance(n, ast.Name) and n.id == "trust_pickle" for n in ast.walk(node))


def violations(source: str, name: str = "<source>") -> list[str]:
    """Every call in ``source`` that breaks the rule, as ``name:line: what``."""
    tree = ast.parse(source)
    parents = {child: parent for parent in ast.walk(tree) for child in ast.iter_child_nodes(parent)}

    def guarded(node: ast.AST) -> bool:
        while node in parents:
            node = parents[node]
            if isinstance(node, ast.If) and _names_trust(node.test):
                return True
        return False

    found = []
    for call in (n for n in ast.walk(tree) if isinstance(n, ast.Call)):
        dotted = _dotted(call.func)
        keywords = {k.arg: k.value for k in call.keywords if k.arg}
        where = f"{name}:{call.lineno}: {'.'.join(dotted) or 'call'}"
        weights_only = keywords.get("weights_only")
        if weights_only is not None and not (
            (isinstance(weights_only, ast.Constant) and weights_only.value is True) or _names_trust(weights_only)
        ):
            found.append(f"{where} with weights_only={ast.unparse(weights_only)}")
        elif dotted[-2:] == ("torch", "load") and weights_only is None:
            found.append(f"{where} without weights_only")
        elif dotted[-2:] in UNPICKLERS and not guarded(call):
            found.append(f"{where} outside `if trust_pickle:`")
        elif dotted[-1:] == ("load",) and "allow_pickle" in keywords:
            allow = keywords["allow_pickle"]
            if not (isinstance(allow, ast.Constant) and allow.value is False) and not _names_trust(allow):
                if not guarded(call):
                    found.append(f"{where} with allow_pickle={ast.unparse(allow)}")
    return found


def _package_violations() -> dict[str, list[str]]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE).as_posix()
        found = violations(path.read_text(encoding="utf-8"), relative)
        if found:
            out[relative] = found
    return out


def test_the_checker_finds_what_the_rule_forbids():
    bad = """
import torch, pickle, numpy as np
torch.load(p)
torch.load(p, weights_only=False)
torch.load(p, map_location="cpu", weights_only=unsafe)
pickle.loads(data)
np.load(p, allow_pickle=True)
open_clip.load_state_dict(p, weights_only=False)
"""
    assert [v.split(": ", 1)[1] for v in violations(bad)] == [
        "torch.load without weights_only",
        "torch.load with weights_only=False",
        "torch.load with weights_only=unsafe",
        "pickle.loads outside `if trust_pickle:`",
        "np.load with allow_pickle=True",
        "open_clip.load_state_dict with weights_only=False",
    ]
    good = """
import torch, pickle, numpy as np
torch.load(p, weights_only=True)
torch.load(p, map_location="cpu", weights_only=not trust_pickle)
if trust_pickle:
    obj = pickle.loads(data)
np.load(p, allow_pickle=False)
"""
    assert violations(good) == []


def test_the_package_loads_nothing_without_the_trust_flag():
    # the FAST-VQA/DOVER adapters included (issue 14's `--option weights=evil.pth`)
    assert _package_violations() == {}


class Payload:
    """Unpickling this creates ``marker``: the stand-in for code a malicious file would run."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


@pytest.fixture()
def evil(tmp_path) -> tuple[Path, Path]:
    marker = tmp_path / "payload_ran"
    path = tmp_path / "evil.pth"
    state = {"clip_model.logit_scale": torch.ones(())}
    torch.save({"state_dict": state, "payload": Payload(marker)}, path)
    return path, marker


def test_a_malicious_pickle_is_refused_by_convert_official(evil, tmp_path, capsys):
    path, marker = evil
    assert main(["convert-official", str(path), str(tmp_path / "out.safetensors")]) == 2
    err = capsys.readouterr().err
    assert str(path) in err and err.count("--trust-pickle") == 1 and "refusing to unpickle" in err
    assert "Traceback" not in err and not marker.exists()


def test_a_malicious_pickle_is_refused_as_a_checkpoint(evil):
    from mmengine.runner.checkpoint import CheckpointLoader

    from qclip_plugin.engine.safe_loading import (
        allow_mmengine_checkpoints,
        load_checkpoint_file,
        trusting_pickles,
    )

    path, marker = evil
    with pytest.raises(UntrustedPickleError, match=r"evil\.pth: refusing to unpickle .*trust_pickle=true"):
        load_checkpoint_file(path)
    allow_mmengine_checkpoints()  # mmengine's load_from / resume go through the same loader
    with pytest.raises(UntrustedPickleError):
        CheckpointLoader.load_checkpoint(str(path), map_location="cpu")
    # TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD cannot switch the check off: weights_only is always passed
    os.environ["TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD"] = "1"
    try:
        with pytest.raises(UntrustedPickleError):
            CheckpointLoader.load_checkpoint(str(path), map_location="cpu")
    finally:
        del os.environ["TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD"]
    assert not marker.exists()
    # the flag is what lets it through
    with trusting_pickles():
        CheckpointLoader.load_checkpoint(str(path), map_location="cpu")
    assert marker.exists()


def test_load_torch_file_reads_tensors_and_refuses_the_rest(evil, tmp_path):
    plain = tmp_path / "plain.pth"
    torch.save({"w": torch.arange(3.0)}, plain)
    assert torch.equal(load_torch_file(plain)["w"], torch.arange(3.0))
    path, marker = evil
    with pytest.raises(UntrustedPickleError, match="--trust-pickle") as info:
        load_torch_file(path)
    assert isinstance(info.value, pickle.UnpicklingError) and not marker.exists()
    copy = tmp_path / "copy.pth"
    shutil.copy(path, copy)
    assert load_torch_file(copy, trust_pickle=True)["state_dict"].keys() == {"clip_model.logit_scale"}
    assert marker.exists()


def test_allow_lets_one_read_take_more_and_keeps_what_others_allowed(tmp_path):
    """Baselines' weights (numpy scalars beside the state dict) go through the same function: their
    allow-list holds for that read only, and entries allowed before (mmengine's) stay allowed."""
    import datetime

    from qclip_plugin.engine.safe_loading import allow_mmengine_checkpoints, mmengine_checkpoint_globals

    allow_mmengine_checkpoints()
    before = torch.serialization.get_safe_globals()
    path = tmp_path / "dated.pth"
    torch.save({"w": torch.ones(2), "date": datetime.date(2024, 5, 1)}, path)
    with pytest.raises(UntrustedPickleError, match="datetime.date"):
        load_torch_file(path)
    shared = mmengine_checkpoint_globals()[0]  # already allowed: must not be taken back on exit
    loaded = load_torch_file(path, allow=[datetime.date, shared])
    assert loaded["date"] == datetime.date(2024, 5, 1) and torch.equal(loaded["w"], torch.ones(2))
    assert torch.serialization.get_safe_globals() == before
    with pytest.raises(UntrustedPickleError):
        load_torch_file(path)


def test_a_pickle_given_as_a_qclip_checkpoint_is_not_unpickled(evil, tmp_path):
    from qclip_plugin.models import build_qclip

    path, marker = evil
    with pytest.raises(ValueError, match="not a safetensors file"):
        build_qclip("tiny", pretrained=None, checkpoint=path)
    assert not marker.exists()
