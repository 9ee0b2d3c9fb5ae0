"""Packaging: a plain (non-editable) install carries every module, the shipped recipes and their data."""

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib")  # Python 3.11+

ROOT = Path(__file__).resolve().parents[2]


def _run(args: list, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *map(str, args)], check=False, capture_output=True, text=True, **kwargs)


def _packaging() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]


def test_every_subpackage_and_recipe_data_folder_is_listed():
    listed = set(_packaging()["packages"])
    code = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "bert_tasks").rglob("__init__.py")}
    recipes = {"bert_tasks.recipes"} | {
        ".".join(("bert_tasks", "recipes", *d.relative_to(ROOT / "recipes").parts))
        for d in (ROOT / "recipes").rglob("*") if d.is_dir() and d.name != "__pycache__"
    }
    assert code | recipes <= listed, f"add to pyproject.toml's packages: {sorted((code | recipes) - listed)}"
    assert _packaging()["package-dir"] == {"bert_tasks.recipes": "recipes"}


def test_a_built_wheel_holds_the_recipes_and_runs_them_from_site_packages(tmp_path):
    pytest.importorskip("setuptools", reason="building the wheel without isolation needs setuptools")
    source = tmp_path / "source"  # a copy, so that the build's scratch folders stay out of the checkout
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    for name in ("bert_tasks", "recipes"):
        shutil.copytree(ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
    build = _run(["-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", tmp_path / "dist", source],
                 cwd=tmp_path)
    assert build.returncode == 0, build.stderr[-2000:]
    (wheel,) = (tmp_path / "dist").glob("bert_tasks-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    shipped = {
        "bert_tasks/recipes/" + p.relative_to(ROOT / "recipes").as_posix()
        for p in (ROOT / "recipes").rglob("*") if p.is_file() and "__pycache__" not in p.parts
    }
    assert shipped and shipped <= names, f"missing from the wheel: {sorted(shipped - names)[:5]}"

    site = tmp_path / "site"
    install = _run(["-m", "pip", "install", "-q", "--no-deps", "--target", site, wheel])
    assert install.returncode == 0, install.stderr[-2000:]
    env = {**os.environ, "PYTHONPATH": str(site), "HF_HUB_OFFLINE": "1"}
    listed = _run(["-m", "bert_tasks.run", "--list"], cwd=tmp_path, env=env)
    assert listed.returncode == 0, listed.stderr
    assert {line.split()[0] for line in listed.stdout.splitlines()} >= {"sst2", "mrpc", "conll2003", "squad"}
    config = _run(["-m", "bert_tasks.run", "sst2", "--print-config"], cwd=tmp_path, env=env)
    assert config.returncode == 0, config.stderr
    train = next(line.split(":", 1)[1].strip() for line in config.stdout.splitlines()
                 if line.strip().startswith("train:") and "tsv" in line)
    assert Path(train) == site / "bert_tasks" / "recipes" / "data" / "sst2" / "train.tsv"
    assert Path(train).is_file()
