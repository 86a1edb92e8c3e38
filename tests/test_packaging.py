"""The package as users install it: every import declared, the shipped files found, and the wheel working
outside the checkout.

The wheel test builds the source distribution and a wheel from it, installs the wheel with ``--no-deps`` into a
new environment outside the checkout that sees this environment's packages (torch, pyiqa, ...) through a
``.pth`` line, not downloading anything, and runs the command line from another folder.
"""

from __future__ import annotations

import ast
import base64
import csv
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from importlib import metadata
from pathlib import Path

import pytest

from qclip_plugin import resources
from qclip_plugin.integrations.pyiqa_hook import PTH_NAME, startup_line

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
#: The baselines' packages: the authors' repositories, installed by users from a clone (not on PyPI).
EXTERNAL = {"dover", "fastvqa"}
#: What a source tree copy for building leaves out (build outputs, caches, generated leaderboards).
COPY_IGNORE = shutil.ignore_patterns(
    ".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", ".pytest_cache", ".ruff_cache", "work_dirs",
    "results", "*-demo",
)  # fmt: skip


# --- every import is declared ----------------------------------------------------------------------


def _imports(path: Path) -> list[tuple[str, bool]]:
    """(top-level module, at module level?) of each absolute import in ``path``; imports inside a function
    or a ``try`` are optional ones."""
    found: list[tuple[str, bool]] = []

    def visit(node: ast.AST, nested: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.Import):
                found.extend((alias.name.split(".")[0], not nested) for alias in child.names)
            elif isinstance(child, ast.ImportFrom) and child.level == 0 and child.module:
                found.append((child.module.split(".")[0], not nested))
            visit(child, nested or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Try)))

    visit(ast.parse(path.read_text(encoding="utf-8")), False)
    return found


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _requirement_names(requirements: list[str], extras: dict[str, list[str]]) -> set[str]:
    """Distribution names of ``requirements``; ``qclip-plugin[x]`` stands for the names of extra ``x``."""
    names = set()
    for requirement in requirements:
        name = _normalise(re.split(r"[\s<>=!~;\[(]", requirement, maxsplit=1)[0])
        if name == "qclip-plugin":
            for extra in re.findall(r"\[([^\]]*)\]", requirement)[0].split(","):
                names |= _requirement_names(extras[extra.strip()], extras)
        else:
            names.add(name)
    return names


def _undeclared(
    files: list[Path], allowed: set[str], local: set[str], module_level_allowed: set[str], where: str
) -> list[str]:
    distributions = metadata.packages_distributions()
    problems = []
    for path in files:
        for module, module_level in _imports(path):
            if module in sys.stdlib_module_names or module in local:
                continue
            names = {_normalise(d) for d in distributions.get(module, [module])}
            if not names & (module_level_allowed if module_level else allowed):
                kind = "at module level: not a core dependency" if module_level else f"not in {where}"
                problems.append(f"{path.relative_to(REPO)}: {module} ({kind})")
    return sorted(set(problems))


def test_every_import_is_declared():
    """Each third-party import of the package, its tests and benchmarks comes from a declared distribution:
    module-level imports of the package from a core dependency, optional (function-level) ones from a core
    dependency or an extra, or the baselines' own packages; tests and benchmarks from the core or the test
    extra. (The distributions are this environment's: an import no installed package provides fails too.)"""
    tomllib = pytest.importorskip("tomllib")
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    declared = project.get("optional-dependencies", {})
    core = _requirement_names(project["dependencies"], declared)
    extras = {name: _requirement_names(reqs, declared) for name, reqs in declared.items()}
    any_extra = set().union(*extras.values()) if extras else set()
    package = sorted((REPO / "qclip_plugin").rglob("*.py"))
    checks = sorted((REPO / "tests").rglob("*.py")) + sorted((REPO / "benchmarks").rglob("*.py"))
    # the tests' own modules and the stand-in packages they put on sys.path
    local = {"qclip_plugin", *EXTERNAL} | {p.stem for p in checks} | {p.parent.name for p in checks}
    problems = _undeclared(
        package, core | any_extra | EXTERNAL, {"qclip_plugin"}, core, "the dependencies or extras"
    )
    tested = core | extras.get("test", set())
    problems += _undeclared(checks, tested, local, tested, "the dependencies or the test extra")
    assert not problems, "imports not declared in pyproject.toml:\n" + "\n".join(problems)


# --- the shipped files --------------------------------------------------------------------------------


def test_no_default_path_leaves_the_package():
    """Paths are built from the package's own location in ``resources.py`` only (and never upwards elsewhere)."""
    upward = re.compile(r"__file__\)[^\n]*\.(parents\[|parent\.parent)")
    offenders = [
        str(path.relative_to(REPO))
        for path in (REPO / "qclip_plugin").rglob("*.py")
        if path.name != "resources.py" and upward.search(path.read_text(encoding="utf-8"))
    ]
    assert offenders == []
    assert (
        "site-packages"
        not in subprocess.run(
            [sys.executable, "-m", "qclip_plugin.cli.main", "bench", "--help"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )


def test_resources_come_from_the_checkout_here_and_from_the_package_when_installed(tmp_path, monkeypatch):
    from qclip_plugin.benchmark.leaderboard import PUBLISHED_DIR
    from qclip_plugin.benchmark.protocols import CONFIG_ROOT

    assert CONFIG_ROOT == REPO / "benchmark_configs" and PUBLISHED_DIR == REPO / "leaderboard" / "published"
    shipped = tmp_path / ".mim"
    (shipped / "benchmark_configs").mkdir(parents=True)
    monkeypatch.setattr(resources, "SHIPPED_DIR", shipped)
    assert (
        resources.resource_dir("benchmark_configs") == shipped / "benchmark_configs"
    )  # an installed copy wins
    assert resources.resource_dir("leaderboard/published") == REPO / "leaderboard" / "published"
    with pytest.raises(ValueError, match="unknown package resource"):
        resources.resource_dir("tests")


def test_missing_published_rows_are_an_error(tmp_path):
    from qclip_plugin.benchmark.leaderboard import PublishedRowsMissingError, load_published

    with pytest.raises(PublishedRowsMissingError, match=str(tmp_path / "nowhere")):
        load_published("cross-dataset", directory=tmp_path / "nowhere")


# --- building ---------------------------------------------------------------------------------------


def _run(args: list, cwd: Path, env: dict | None = None, timeout: int = 600) -> subprocess.CompletedProcess:
    done = subprocess.run(
        [str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )
    assert done.returncode == 0, (
        f"{' '.join(map(str, args))} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    )
    return done


def _record(wheel: zipfile.ZipFile) -> dict[str, str]:
    name = next(n for n in wheel.namelist() if n.endswith(".dist-info/RECORD"))
    return {row[0]: row[1] for row in csv.reader(io.StringIO(wheel.read(name).decode())) if row}


def _sha256(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


@pytest.fixture(scope="module")
def source_copy(tmp_path_factory) -> Path:
    """The checkout's files in a folder of their own, so building writes nothing into the checkout."""
    source = tmp_path_factory.mktemp("source") / "qclip_plugin-src"
    shutil.copytree(REPO, source, ignore=COPY_IGNORE)
    return source


@pytest.fixture(scope="module")
def wheel(source_copy, tmp_path_factory) -> Path:
    """A wheel built from the source distribution, as ``python -m build`` does (this environment's setuptools)."""
    out = tmp_path_factory.mktemp("dist")
    code = f"from setuptools import build_meta; print(build_meta.build_sdist({str(out)!r}))"
    sdist = out / _run([sys.executable, "-c", code], cwd=source_copy).stdout.strip().splitlines()[-1]
    pip = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q"]
    _run([*pip, "-w", out, sdist], cwd=out)
    return next(out.glob("qclip_plugin-*.whl"))


def test_wheel_carries_configs_published_rows_license_and_start_up_file(wheel):
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        record = _record(archive)
        pth = archive.read(PTH_NAME)
    shipped = "qclip_plugin/.mim/"
    for name in resources.RESOURCES:
        expected = {
            f"{shipped}{p.relative_to(REPO).as_posix()}" for p in (REPO / name).rglob("*") if p.is_file()
        }
        expected = {e for e in expected if "__pycache__" not in e}
        assert expected and expected <= names, sorted(expected - names)[:5]
    assert pth.decode() == startup_line() and record[PTH_NAME] == _sha256(pth)
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)


def test_editable_wheel_carries_the_start_up_file(source_copy, tmp_path):
    """``pip install -e .`` gets the start-up file too (setuptools' editable wheel, then setup.py's addition)."""
    code = f"from setuptools import build_meta; print(build_meta.build_editable({str(tmp_path)!r}))"
    name = _run([sys.executable, "-c", code], cwd=source_copy).stdout.strip().splitlines()[-1]
    with zipfile.ZipFile(tmp_path / name) as archive:
        pth = archive.read(PTH_NAME)
        record = _record(archive)
        assert not any(n.startswith("qclip_plugin/.mim/") for n in archive.namelist())  # the checkout is read
    assert pth.decode() == startup_line() and record[PTH_NAME] == _sha256(pth)
    assert set(record) == set(zipfile.ZipFile(tmp_path / name).namelist())  # every file listed once


# --- the wheel outside the checkout ----------------------------------------------------------------


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory) -> tuple[Path, dict]:
    """A new environment with the wheel (no dependencies) that sees this environment's packages."""
    env_dir = tmp_path_factory.mktemp("env") / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", env_dir], cwd=env_dir.parent)
    python = env_dir / "bin" / "python"
    _run([sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "--no-index", "-q", wheel],
         cwd=env_dir.parent)  # fmt: skip
    site_packages = Path(_run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                              cwd=env_dir.parent).stdout.strip())  # fmt: skip
    assert (site_packages / PTH_NAME).is_file()
    ours = dict.fromkeys([sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]])
    (site_packages / "zz_test_environment.pth").write_text("".join(f"{p}\n" for p in ours))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # nothing from the checkout
    env["OMP_NUM_THREADS"] = "2"
    return env_dir, env


@pytest.mark.slow
def test_wheel_works_outside_the_checkout(installed, tmp_path):
    env_dir, env = installed
    bin_dir = env_dir / "bin"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()

    code = (
        "import json, pyiqa, torch; m = pyiqa.create_metric('qclip', preset='tiny', pretrained=False); "
        "shape = m(torch.rand(4, 3, 224, 224)).shape; import qclip_plugin.resources as r; "
        "print(json.dumps([str(shape), r.__file__, str(r.resource_dir('benchmark_configs')), "
        "str(r.resource_dir('leaderboard/published'))]))"
    )
    shape, *paths = json.loads(_run([bin_dir / "python", "-c", code], elsewhere, env).stdout.splitlines()[-1])
    assert shape == "torch.Size([4, 1])"  # pyiqa found Q-CLIP through the installed start-up file
    assert all(Path(p).resolve().is_relative_to(env_dir.resolve()) for p in paths), paths
    assert paths[1].endswith("qclip_plugin/.mim/benchmark_configs")

    listed = _run([bin_dir / "qclip-bench", "list", "quality-metrics"], elsewhere, env).stdout
    assert re.search(r"qclip\s+qclip-plugin 0\.1\.0", listed)
    assert "site-packages" not in _run([bin_dir / "qclip-bench", "bench", "--help"], elsewhere, env).stdout

    run = [bin_dir / "qclip-bench", "run", "protocol=cross-dataset", "preset=demo", "train.max_epochs=1",
           "--work-dir", "w", "--output", "lb"]  # fmt: skip
    _run(run, elsewhere, env, timeout=900)
    import pandas as pd

    board = pd.read_csv(elsewhere / "lb" / "leaderboard.csv")
    assert sorted(set(board["test_set"])) == ["demo-A (held-out)", "demo-B"]
    assert board.groupby("test_set")["method"].apply(
        lambda m: m.str.endswith(", untrained").sum()
    ).tolist() == [1, 1]
    assert board["SROCC"].between(-1, 1).all() and len(board) == 4  # trained and untrained on each set
    assert "protocols/demo/cross-dataset.py" in (elsewhere / "lb" / "leaderboard.md").read_text()

    _run([bin_dir / "qclip-bench", "visualize", "efficiency", "--output", "eff"], elsewhere, env)
    assert "published" in (elsewhere / "eff" / "efficiency.csv").read_text()

    if not SHARED_DATA.is_dir():
        pytest.skip(
            f"evaluate --leaderboard needs DOVER's released predictions in {SHARED_DATA}; the rest passed"
        )
    evaluate = [
        bin_dir / "qclip-bench", "evaluate", "--predictions", SHARED_DATA / "reference_predictions/dover/KoNViD.csv",
        "--labels", SHARED_DATA / "labels/KoNViD/labels.txt", "--leaderboard", "dover", "--method", "DOVER",
        "--test-set", "KoNViD-1k", "--protocol", "cross-dataset",
    ]  # fmt: skip
    _run(evaluate, elsewhere, env)
    from qclip_plugin.benchmark.leaderboard import load_published

    table = pd.read_csv(elsewhere / "dover" / "leaderboard.csv")
    published = load_published("cross-dataset", ["KoNViD-1k"])
    assert len(published) > 0
    assert sorted(table.loc[table["kind"] == "published", "method"]) == sorted(published["method"])
    assert table.loc[table["kind"] == "measured", "method"].tolist() == ["DOVER"]
