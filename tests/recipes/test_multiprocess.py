"""Two processes (torchrun, gloo on CPU) match one process with the same global batch.

Both runs are kept on the CPU (no CUDA device visible), so the test means the same on a GPU machine:
two ranks sharing one GPU is not a valid NCCL set-up, and CPU and GPU arithmetic would differ anyway.
"""

import json
import os
import shutil
import subprocess
import sys

import pytest

from conftest import ROOT

# Same examples in the same order on both sides: sequential sampling, no dropout.
COMMON = ["train.train_sampling_strategy=sequential", "train.num_train_epochs=1", "train.logging_steps=5",
          "train.eval_strategy=no", "train.save_strategy=no", "train.learning_rate=1e-3",
          "task.model_config={hidden_dropout_prob: 0.0, attention_probs_dropout_prob: 0.0}"]


def run(cmd, out, recipe, extra):
    proc = subprocess.run([*cmd, recipe, f"encoder={out.parent / 'tiny'}", f"train.output_dir={out}", *COMMON, *extra],
                          cwd=ROOT, capture_output=True, text=True, timeout=900, check=False,
                          env={**os.environ, "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""})
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count("run directory:") == 1, proc.stdout[-2000:]  # printed by one process, not by each
    history = json.loads((out / "trainer_state.json").read_text())["log_history"]
    return [h["loss"] for h in history if "loss" in h], json.loads((out / "metrics.json").read_text())["validation"]


@pytest.mark.skipif(shutil.which("torchrun") is None and not os.path.exists(os.path.join(os.path.dirname(sys.executable), "torchrun")),
                    reason="torchrun not installed")
@pytest.mark.parametrize("recipe, metric", [("sst2", "accuracy"), ("conll2003", "f1")])  # a loss per row, per token
def test_two_processes_match_one(recipe, metric, tiny_encoder, tmp_path):
    shutil.copytree(tiny_encoder, tmp_path / "tiny")
    torchrun = os.path.join(os.path.dirname(sys.executable), "torchrun")
    one_loss, one = run([sys.executable, "-m", "bert_tasks.run"], tmp_path / "one", recipe,
                        ["train.per_device_train_batch_size=32"])
    two_loss, two = run([torchrun, "--nproc_per_node", "2", "-m", "bert_tasks.run"], tmp_path / "two", recipe,
                        ["train.per_device_train_batch_size=16"])
    assert len(one_loss) == len(two_loss) > 3
    # no x2 from average_tokens_across_devices (sst2); tokens weighed alike on both sides (conll2003)
    assert two_loss == pytest.approx(one_loss, rel=2e-3, abs=2e-3)
    assert two[metric] == pytest.approx(one[metric], abs=2e-3)
    # the last evaluation batch's loss over the split's own rows, not accelerate's repeated ones
    assert two["loss"] == pytest.approx(one["loss"], rel=1e-5)
