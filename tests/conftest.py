"""Shared fixtures: a tiny random BERT built locally, a CLI runner, offline mode."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "recipes" / "data"
SHARED = Path(os.environ.get("BERT_TASKS_SHARED", ROOT.parent / "shared" / "data"))



def sample_texts() -> list[str]:
    texts = ["good great fine bad awful poor movie film plot the a is was not"]
    for path in SAMPLES.rglob("*.t*"):
        texts.append(path.read_text(encoding="utf-8-sig"))
    return texts


def hub_like():
    """A dataset shaped like a hub one: ClassLabel ids (MRPC's names) and a list of ClassLabel tags."""
    from datasets import ClassLabel, Dataset, Features, List, Value

    features = Features({"sentence": Value("string"), "label": ClassLabel(names=["not_equivalent", "equivalent"]),
                         "ner_tags": List(ClassLabel(names=["O", "B-PER", "I-PER"]))})
    return Dataset.from_dict({"sentence": ["a", "b", "c"], "label": [1, 0, -1], "ner_tags": [[0, 1], [1, 2], []]},
                             features=features)


@pytest.fixture(scope="session")
def tiny_encoder(tmp_path_factory) -> str:
    """A 2-layer, 32-wide random BERT whose vocabulary covers the shipped samples."""
    from bert_tasks.encoder import build_tiny_bert

    return build_tiny_bert(tmp_path_factory.mktemp("tiny_bert"), sample_texts())


def run_cli(*args: str, cwd: Path | None = None, timeout: int = 600, stdin: str | None = None
            ) -> subprocess.CompletedProcess:
    """Run ``python -m bert_tasks.run`` for real and capture its output (``stdin``: text fed to it)."""
    return subprocess.run(
        [sys.executable, "-m", "bert_tasks.run", *args],
        input=stdin,
        stdin=None if stdin is not None else subprocess.DEVNULL,  # never waits on the terminal
        cwd=cwd or ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


@pytest.fixture
def cli():
    return run_cli
