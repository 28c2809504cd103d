"""The reader's environment, made as Binder (repo2docker) makes it, executes every chapter.

The repository's files are copied to a scratch folder; a fresh virtual environment gets exactly
what repo2docker installs: ``pip install -r binder/requirements.txt`` from the repository root
(which includes requirements.txt), and, only when there is no ``binder/`` folder and the
repository is a Python package, ``pip install .`` (repo2docker's rule,
``PythonBuildPack._is_python_package``). Then:

* requirements.txt holds no build or test tool;
* ``metalib`` is imported from the checkout (editable), and an edit under ``metalib/`` is seen by
  a new kernel (what a reader gets after "restart kernel");
* every chapter executes in such an environment: that is ``make notebooks``, whose strict book
  build runs its kernel from ``_build/reader-venv`` (made by the same pip command), so the chapters
  are executed once, not once here and once in the build.

The install time and the environment's size are printed (run with ``-s`` to see them); they are
not asserted. pip's cache is used (``make`` has just filled it), so the time printed here is a
cached install; a first Binder build downloads the same packages."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BUILD_TOOLS = ("jupyter-book", "jupyter_book", "sphinx", "pytest", "nbval", "ruff")


def repo2docker_steps(repo):
    """The pip commands repo2docker runs for ``repo`` (its Python build pack, in order)."""
    binder = repo / "binder" if (repo / "binder").is_dir() else None
    config = (binder or repo) / "requirements.txt"
    steps = [["-r", str(config.relative_to(repo))]] if config.is_file() else []
    package = False
    if binder is None:
        if (repo / "setup.py").is_file():
            package = True
        elif (repo / "pyproject.toml").is_file():
            pyproject = tomllib.loads(
                (repo / "pyproject.toml").read_text(encoding="utf-8")
            )
            package = "project" in pyproject and "build-system" in pyproject
    if package:
        steps.append(["."])
    return steps


def requirement_names(path, seen=()):
    names = []
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line.startswith(("-r ", "--requirement ")):
            names += requirement_names(path.parent / line.split(None, 1)[1], seen)
        elif line and not line.startswith("-"):
            names.append(re.split(r"[<>=!~\[; ]", line, maxsplit=1)[0].lower())
    return names


def test_requirements_hold_no_build_or_test_tool():
    names = requirement_names(ROOT / "requirements.txt")
    assert {"numpy", "matplotlib", "ipywidgets", "ipykernel"} <= set(names), names
    bad = [n for n in names if n.startswith(BUILD_TOOLS)]
    assert not bad, (
        f"requirements.txt (what Binder installs) holds build/test tools: {bad}"
    )
    binder = ROOT / "binder" / "requirements.txt"
    if binder.is_file():
        assert set(requirement_names(binder)) == set(names), (
            "binder/requirements.txt must install requirements.txt, nothing else"
        )


@pytest.fixture(scope="module")
def reader_env(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("reader")
    repo = tmp / "repo"
    files = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    for name in filter(None, files):
        src = ROOT / name.decode()
        if src.is_file():
            (repo / name.decode()).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, repo / name.decode())
    venv = tmp / "venv"
    start = time.monotonic()
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    for step in repo2docker_steps(repo):
        subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", *step],
            cwd=repo,
            check=True,
        )
    seconds = time.monotonic() - start
    size = sum(
        f.stat().st_size for f in venv.rglob("*") if f.is_file() and not f.is_symlink()
    )
    print(
        f"\nreader environment: {repo2docker_steps(repo)} took {seconds:.0f} s, {size / 1e6:.0f} MB"
    )
    return repo, python


def test_metalib_is_editable_and_an_edit_reaches_a_new_kernel(reader_env):
    repo, python = reader_env
    where = subprocess.run(
        [str(python), "-c", "import metalib; print(metalib.__file__)"],
        cwd=repo / "chapters",
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert Path(where).resolve() == (repo / "metalib" / "__init__.py").resolve(), (
        f"metalib is imported from {where}, not from the checkout: an edit would not be used"
    )
    init = repo / "metalib" / "__init__.py"
    init.write_text(
        init.read_text(encoding="utf-8") + "\nREADER_EDIT = 42\n", encoding="utf-8"
    )
    seen = subprocess.run(
        [str(python), "-c", "import metalib; print(metalib.READER_EDIT)"],
        cwd=repo / "chapters",
        capture_output=True,
        text=True,
    )
    init.write_text(
        init.read_text(encoding="utf-8").replace("\nREADER_EDIT = 42\n", "")
    )
    assert seen.stdout.strip() == "42", (
        f"the edit did not reach a new interpreter: {seen.stderr}"
    )
