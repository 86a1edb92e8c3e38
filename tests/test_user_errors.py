"""Crashes become messages naming the file (and the line), exit code 2 (issue 14, defects 5 and 7).

``evaluate`` with no usable prediction row or a non-UTF-8 prediction file, a checkpoint whose
metadata is not JSON or whose tensors hold NaN: each is one message on stderr from ``qclip-bench``,
no traceback (``--debug`` shows it), and a :class:`~qclip_plugin.errors.UserError` in Python.
"""

from __future__ import annotations

import shutil

import pytest
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from qclip_plugin.benchmark.predictions import PredictionsError, evaluate_predictions_file
from qclip_plugin.cli.main import main
from qclip_plugin.errors import UserError
from qclip_plugin.models import build_qclip
from qclip_plugin.models.checkpoint import CheckpointError, read_checkpoint_metadata


@pytest.fixture()
def labels(tmp_path):
    path = tmp_path / "labels.txt"
    path.write_text("".join(f"v{i}.mp4, -1, -1, {1 + i * 0.5}\n" for i in range(6)))
    return path


def _evaluate(predictions, labels, capsys) -> tuple[int, str]:
    code = main(["evaluate", "--predictions", str(predictions), "--labels", str(labels)])
    return code, capsys.readouterr().err


def test_evaluate_with_no_usable_row_says_so(tmp_path, labels, capsys):
    header_only = tmp_path / "header.csv"
    header_only.write_text("path,score,status,error,metric\n")
    all_failed = tmp_path / "failed.csv"
    all_failed.write_text("path,score,status,error,metric\n"
                          + "".join(f"v{i}.mp4,,failed,empty file,0123456789ab\n" for i in range(6)))  # fmt: skip
    for path, detail in ((header_only, "0 rows"), (all_failed, "6 rows (the status column says every video failed)")):
        code, err = _evaluate(path, labels, capsys)
        assert code == 2 and "Traceback" not in err, err
        assert f"{path}: no usable prediction row: {detail}" in err
    with pytest.raises(PredictionsError):
        evaluate_predictions_file(all_failed, labels)


def test_evaluate_names_the_line_of_a_non_utf8_or_non_numeric_file(tmp_path, labels, capsys):
    latin = tmp_path / "latin1.csv"
    latin.write_bytes(b"name,score\nv0.mp4,1.0\ncaf\xe9.mp4,2.0\n")
    code, err = _evaluate(latin, labels, capsys)
    assert code == 2 and f"{latin}, line 3: not UTF-8 text (byte 0xe9)" in err and "Traceback" not in err
    words = tmp_path / "words.csv"
    words.write_text("name,score\nv0.mp4,1.0\nv1.mp4,high\n")
    code, err = _evaluate(words, labels, capsys)
    assert code == 2 and f"{words}, line 3: the 'score' column holds 'high', not a number" in err


def test_debug_shows_the_traceback(tmp_path, labels):
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(PredictionsError, match="is empty"):
        main(["--debug", "evaluate", "--predictions", str(empty), "--labels", str(labels)])


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ckpt")
    return build_qclip("tiny", pretrained=None).save_checkpoint(folder / "tiny.safetensors")


def _rewrite(source, target, tensors=None, **metadata):
    with safe_open(str(source), framework="pt") as handle:
        meta = dict(handle.metadata())
    save_file(tensors if tensors is not None else load_file(str(source)), str(target), metadata={**meta, **metadata})
    return target


def test_invalid_checkpoint_metadata_names_the_file_and_field(checkpoint, tmp_path, capsys, videos_dir):
    broken = _rewrite(checkpoint, tmp_path / "broken.safetensors", config='{"layers": 2,')
    with pytest.raises(CheckpointError, match=r"broken\.safetensors: its metadata field 'config' is not valid JSON"):
        read_checkpoint_metadata(broken)
    code = main(["score", str(videos_dir / "carphone_distorted.mp4"), "--checkpoint", str(broken), "--preset", "tiny",
                 "--device", "cpu", "--quiet", "--output", str(tmp_path / "s.csv")])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2 and "broken.safetensors: its metadata field 'config'" in err and "Traceback" not in err


def test_a_checkpoint_with_nan_tensors_is_refused_naming_them(checkpoint, tmp_path, capsys, videos_dir):
    tensors = load_file(str(checkpoint))
    names = sorted(k for k in tensors if not k.startswith("backbone."))[:2]
    for name in names:
        tensors[name] = tensors[name].clone().fill_(float("nan"))
    bad = _rewrite(checkpoint, tmp_path / "nan.safetensors", tensors)
    with pytest.raises(CheckpointError, match=rf"2 tensors hold NaN or infinite values \({names[0]}, {names[1]}\)"):
        build_qclip("tiny", pretrained=None, checkpoint=bad)
    video = tmp_path / "v.mp4"
    shutil.copy(videos_dir / "carphone_distorted.mp4", video)
    output = tmp_path / "s.csv"
    code = main(["score", str(video), "--checkpoint", str(bad), "--preset", "tiny", "--device", "cpu", "--quiet",
                 "--output", str(output)])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2 and names[0] in err and "Traceback" not in err and not output.exists()


def test_user_errors_are_also_builtin_errors():
    # library callers can catch the builtin the error describes, or UserError for all of them
    assert issubclass(PredictionsError, ValueError) and issubclass(CheckpointError, ValueError)
    assert all(issubclass(e, UserError) for e in (PredictionsError, CheckpointError))
