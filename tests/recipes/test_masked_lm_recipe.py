"""End to end: masked-LM continued pretraining (recipe sst2_mlm) through the real CLI on a tiny BERT,
then the result loaded by transformers' fill-mask pipeline and fine-tuned by another recipe."""

import json
import math
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file

from conftest import run_cli


@pytest.fixture(scope="module")
def mlm_run(tiny_encoder, tmp_path_factory):
    out = tmp_path_factory.mktemp("mlm") / "run"
    proc = run_cli("sst2_mlm", f"encoder={tiny_encoder}", f"train.output_dir={out}", "train.max_steps=60",
                   "train.learning_rate=3e-3", "train.eval_strategy=steps", "train.eval_steps=30")
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out, proc


def test_mlm_run_directory_and_metrics(mlm_run, tiny_encoder):
    out, proc = mlm_run
    for name in ("model.safetensors", "tokenizer.json", "recipe.yaml", "metrics.json", "predictions_validation.jsonl",
                 "training_curves.png", "DONE"):
        assert (out / name).is_file(), name
    config = json.loads((out / "config.json").read_text())
    assert config["architectures"] == ["BertForMaskedLM"]
    metrics = json.loads((out / "metrics.json").read_text())["validation"]
    vocab = config["vocab_size"]
    # A random head scores about ln(vocabulary) per token; training must do clearly better.
    assert metrics["loss"] < math.log(vocab) - 1.0
    assert metrics["perplexity"] == pytest.approx(math.exp(metrics["loss"]), rel=1e-6)
    assert 0.0 < metrics["accuracy"] <= 1.0
    state = json.loads((out / "trainer_state.json").read_text())
    evals = [e["eval_loss"] for e in state["log_history"] if "eval_loss" in e]
    assert len(evals) == 2 and evals[1] < evals[0]
    rows = [json.loads(line) for line in (out / "predictions_validation.jsonl").read_text().splitlines()]
    assert len(rows) == 872 and set(rows[0]) == {"text", "masked", "predicted"}
    assert sum(len(r["masked"]) for r in rows) == metrics["masked_tokens"]
    hits = sum(a == b for r in rows for a, b in zip(r["masked"], r["predicted"]))
    assert hits / metrics["masked_tokens"] == pytest.approx(metrics["accuracy"])  # the file lines up with the metric
    assert "perplexity=" in proc.stdout


def test_mlm_run_fills_masks_in_a_plain_pipeline_as_the_predictor_does(mlm_run):
    from transformers import pipeline

    from bert_tasks import Predictor

    out, _ = mlm_run
    texts = ["a [MASK] film", "the plot is [MASK] and the acting [MASK]"]
    got = Predictor.from_run(out).predict(texts)
    fill = pipeline("fill-mask", model=str(out), top_k=5)
    assert len(got[1]["masks"]) == 2 and len(got[0]["masks"][0]) == 5
    want = fill(texts[0])
    assert [m["token"] for m in got[0]["masks"][0]] == [fill.tokenizer.convert_ids_to_tokens(w["token"]) for w in want]
    assert [m["score"] for m in got[0]["masks"][0]] == pytest.approx([w["score"] for w in want], abs=1e-5)


def test_mlm_predict_without_a_mask_is_an_error(mlm_run, tmp_path):
    out, _ = mlm_run
    inputs = tmp_path / "in.txt"
    inputs.write_text("a [MASK] film\nno mask here\n", encoding="utf-8")
    proc = run_cli("predict", str(out), "--input", str(inputs), "--output", str(tmp_path / "o.jsonl"))
    assert proc.returncode == 2
    assert "has no [MASK] token" in proc.stderr and not (tmp_path / "o.jsonl").exists()


def test_a_task_recipe_fine_tunes_the_continued_pretrained_encoder(mlm_run, tiny_encoder, tmp_path):
    out, _ = mlm_run
    run = tmp_path / "sst2"
    proc = run_cli("sst2", f"encoder={out}", f"train.output_dir={run}", "train.max_steps=3", "train.learning_rate=1e-5")
    assert proc.returncode == 0, proc.stderr[-3000:]
    tuned, mlm, tiny = (load_file(p / "model.safetensors") for p in (run, out, Path(tiny_encoder)))
    key = "encoder.layer.0.attention.self.query.weight"
    start_mlm, start_tiny = mlm[f"bert.{key}"], tiny[key]
    assert not np.allclose(start_mlm, start_tiny)  # continued pretraining moved the encoder
    assert np.abs(tuned[f"bert.{key}"] - start_mlm).max() < np.abs(tuned[f"bert.{key}"] - start_tiny).max()


def test_mlm_on_a_plain_text_corpus(tiny_encoder, tmp_path):
    from conftest import SAMPLES

    lines = [line.rsplit("\t", 1)[0] for line in (SAMPLES / "sst2/train.tsv").read_text(encoding="utf-8").splitlines()[1:]]
    (tmp_path / "train.txt").write_text("\n\n".join(lines[:300]), encoding="utf-8")  # blank lines between texts
    (tmp_path / "dev.txt").write_text("\n".join(lines[300:400]), encoding="utf-8")
    out = tmp_path / "run"
    proc = run_cli("sst2_mlm", f"encoder={tiny_encoder}", f"train.output_dir={out}", "train.max_steps=3",
                   "data.format=text", "~data.columns", f"data.train={tmp_path / 'train.txt'}",
                   f"data.validation={tmp_path / 'dev.txt'}", "--dry-run")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert 'splits: {"train": 300, "validation": 100}' in proc.stdout
    shown = dict(line.strip().split(": ", 1) for line in proc.stdout.splitlines()[-4:])
    tokens, masked = shown["tokens"].split(), shown["masked (one draw)"].split()
    assert len(tokens) == len(masked) and masked != tokens  # the row as a training batch shows it
    targets = [t.split(":", 1) for t in shown["predicted at"].split()]
    assert targets and all(tokens[int(i)] == token for i, token in targets)
    assert all(a == b for i, (a, b) in enumerate(zip(tokens, masked)) if str(i) not in dict(targets))


def test_mlm_skips_blank_rows_and_windows_long_texts(tiny_encoder, tmp_path):
    from conftest import SAMPLES

    lines = [line.rsplit("\t", 1)[0] for line in (SAMPLES / "sst2/train.tsv").read_text(encoding="utf-8").splitlines()[1:]]
    # 48 blank texts: length-grouped batches put them together, batches with nothing to predict (before: steps of loss 0)
    train = [{"sentence": ""}] * 48 + [{"sentence": s} for s in lines[:64]]
    (tmp_path / "train.jsonl").write_text("\n".join(json.dumps(r) for r in train), encoding="utf-8")
    (tmp_path / "dev.jsonl").write_text("\n".join(json.dumps({"sentence": s}) for s in lines[64:96]), encoding="utf-8")
    out = tmp_path / "run"
    proc = run_cli("sst2_mlm", f"encoder={tiny_encoder}", f"train.output_dir={out}", "train.max_steps=8",
                   "train.per_device_train_batch_size=4", "train.logging_steps=1", "data.max_length=12",
                   f"data.train={tmp_path / 'train.jsonl'}", f"data.validation={tmp_path / 'dev.jsonl'}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "48 row(s) with no token to predict (blank text) skipped, the first at row 1" in proc.stderr
    losses = [e["loss"] for e in json.loads((out / "trainer_state.json").read_text())["log_history"] if "loss" in e]
    assert len(losses) == 8 and min(losses) > 1.0, losses  # every step predicts tokens
    metrics = json.loads((out / "metrics.json").read_text())["validation"]
    assert math.isfinite(metrics["loss"]) and metrics["windowed_texts"] > 0
    records = [json.loads(line) for line in (out / "predictions_validation.jsonl").read_text().splitlines()]
    assert [r["text"] for r in records] == lines[64:96]  # one record per text, its windows joined
    assert "rows are longer than data.max_length" not in proc.stderr  # windows, not cut rows
