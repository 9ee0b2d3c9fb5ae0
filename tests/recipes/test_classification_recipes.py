"""End to end: the real CLI on the shipped recipes with a tiny random BERT and a few overrides."""

import json
import random

import numpy as np
import pytest
from safetensors.numpy import load_file

from conftest import ROOT, run_cli


def read_jsonl(path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.fixture(scope="module")
def sst2_run(tiny_encoder, tmp_path_factory):
    out = tmp_path_factory.mktemp("sst2") / "run"
    proc = run_cli(
        "sst2",
        f"encoder={tiny_encoder}",
        f"train.output_dir={out}",
        "train.num_train_epochs=1",
        "train.per_device_train_batch_size=64",
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out, proc


def test_sst2_run_directory(sst2_run):
    out, proc = sst2_run
    for name in ("model.safetensors", "config.json", "tokenizer.json", "recipe.yaml", "metrics.json",
                 "predictions_validation.jsonl", "training_curves.png", "confusion_matrix_validation.png", "DONE"):
        assert (out / name).is_file(), name
    assert not list(out.glob("pytorch_model*.bin"))
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics) == {"validation"}
    for key in ("accuracy", "macro_f1", "f1", "mcc"):
        assert 0.0 <= metrics["validation"][key] <= 1.0
    assert len(metrics["validation"]["confusion_matrix"]) == 2
    assert f"run directory: {out}" in proc.stdout
    assert "validation: " in proc.stdout and "accuracy=" in proc.stdout
    rows = read_jsonl(out / "predictions_validation.jsonl")
    assert len(rows) == 872
    assert set(rows[0]) == {"text", "label", "prediction", "probability"}
    assert {r["label"] for r in rows} == {"negative", "positive"}
    acc = np.mean([r["label"] == r["prediction"] for r in rows])
    assert acc == pytest.approx(metrics["validation"]["accuracy"])  # file rows line up with the metric


def test_sst2_weights_changed(sst2_run, tiny_encoder):
    out, _ = sst2_run
    before = load_file(f"{tiny_encoder}/model.safetensors")
    after = load_file(out / "model.safetensors")
    key = "embeddings.word_embeddings.weight"
    after_key = next(k for k in after if k.endswith(key))
    assert not np.allclose(before[key], after[after_key])
    assert any(k.startswith("classifier.") for k in after)


def test_sst2_reload_predicts_same_labels(sst2_run):
    from bert_tasks import Predictor

    out, _ = sst2_run
    rows = read_jsonl(out / "predictions_validation.jsonl")[:200]
    predictor = Predictor.from_run(out)
    preds = predictor.predict([r["text"] for r in rows])
    assert [p["label"] for p in preds] == [r["prediction"] for r in rows]
    for p, r in zip(preds, rows):
        assert p["score"] == pytest.approx(r["probability"], abs=1e-4)
    from bert_tasks.errors import UserError

    with pytest.raises(UserError, match="predict takes a list of inputs"):
        predictor.predict("one sentence")
    with pytest.raises(UserError, match="batch_size must be a whole number of at least 1, got 0"):
        predictor.predict(["one sentence"], batch_size=0)


def test_sst2_plain_pipeline_loads_run(sst2_run):
    from transformers import pipeline

    out, _ = sst2_run
    rows = read_jsonl(out / "predictions_validation.jsonl")[:50]
    clf = pipeline("text-classification", model=str(out))
    got = clf([r["text"] for r in rows])
    assert [g["label"] for g in got] == [r["prediction"] for r in rows]


def test_finished_run_is_not_overwritten(sst2_run, tiny_encoder):
    out, _ = sst2_run
    before = (out / "metrics.json").read_text()
    proc = run_cli("sst2", f"encoder={tiny_encoder}", f"train.output_dir={out}", "train.max_steps=1")
    assert proc.returncode == 2
    assert "holds a finished run" in proc.stderr and "overwrite=true" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert (out / "metrics.json").read_text() == before


def test_mrpc_pairs_with_held_out_validation_and_test(tiny_encoder, tmp_path):
    out = tmp_path / "mrpc"
    proc = run_cli("mrpc", f"encoder={tiny_encoder}", f"train.output_dir={out}", "train.num_train_epochs=1")
    assert proc.returncode == 0, proc.stderr[-3000:]
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics) == {"validation", "test"}
    assert metrics["validation"]["confusion_matrix"] and sum(map(sum, metrics["validation"]["confusion_matrix"])) == 408
    assert 0.0 <= metrics["test"]["f1"] <= 1.0
    rows = read_jsonl(out / "predictions_test.jsonl")
    assert len(rows) == 500 and rows[0]["text_pair"]
    assert {r["label"] for r in rows} <= {"paraphrase", "not_paraphrase"}
    # before: single texts given to a pair model were predicted as they were, with no word of it
    (tmp_path / "one.txt").write_text("a sentence without its pair\n", encoding="utf-8")
    proc = run_cli("predict", str(out), "--input", str(tmp_path / "one.txt"))
    assert proc.returncode == 2 and "one.txt: predict: this run was trained on sentence pairs" in proc.stderr
    # the test file as MRPC ships it ('#1 String', '#2 String') predicts through the recipe's data.columns
    proc = run_cli("predict", str(out), "--input", str(ROOT / "recipes/data/mrpc/msr_paraphrase_test.txt"),
                   "--output", str(tmp_path / "test.jsonl"))
    assert proc.returncode == 0, proc.stderr[-2000:]
    again = read_jsonl(tmp_path / "test.jsonl")
    assert [r["prediction"]["label"] for r in again] == [r["prediction"] for r in rows]


def test_loss_falls_on_learnable_set(tiny_encoder, tmp_path):
    rng = random.Random(0)
    words = ["the", "film", "movie", "plot", "was", "is", "a"]

    def rows(n):
        out = []
        for _ in range(n):
            label = rng.randint(0, 1)
            sent = rng.sample(words, 4) + [rng.choice(["good", "great", "fine"] if label else ["bad", "awful", "poor"])]
            rng.shuffle(sent)
            out.append(f"{' '.join(sent)}\t{label}\n")
        return "sentence\tlabel\n" + "".join(out)

    (tmp_path / "train.tsv").write_text(rows(400), encoding="utf-8")
    (tmp_path / "dev.tsv").write_text(rows(100), encoding="utf-8")
    out = tmp_path / "run"
    proc = run_cli(
        "sst2", f"encoder={tiny_encoder}", f"train.output_dir={out}",
        f"data.train={tmp_path / 'train.tsv'}", f"data.validation={tmp_path / 'dev.tsv'}",
        "train.num_train_epochs=8", "train.learning_rate=2e-3", "train.logging_steps=5",
        "train.per_device_train_batch_size=16",
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    history = json.loads((out / "trainer_state.json").read_text())["log_history"]
    losses = [h["loss"] for h in history if "loss" in h]
    assert losses[0] > 0.6 and losses[-1] < 0.2, losses
    assert json.loads((out / "metrics.json").read_text())["validation"]["accuracy"] >= 0.95


def test_predict_cli_writes_next_to_input(sst2_run, tmp_path):
    from bert_tasks import Predictor

    out, _ = sst2_run
    texts = ["a gorgeous film", "dull and lifeless", "it is a film"]
    (tmp_path / "in.txt").write_text("\n".join(texts) + "\n", encoding="utf-8")
    proc = run_cli("predict", str(out), "--input", str(tmp_path / "in.txt"))
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = read_jsonl(tmp_path / "in.predictions.jsonl")
    assert [r["text"] for r in rows] == texts
    expected = Predictor.from_run(out).predict(texts)
    assert [r["prediction"]["label"] for r in rows] == [p["label"] for p in expected]
    # --output -: the same lines on standard output, nothing else there (before: a file named "-")
    piped = run_cli("predict", str(out), "--input", str(tmp_path / "in.txt"), "--output", "-", cwd=tmp_path)
    assert piped.returncode == 0, piped.stderr[-2000:]
    assert [json.loads(line) for line in piped.stdout.splitlines()] == rows and not (tmp_path / "-").exists()
    bad = run_cli("predict", str(out), "--input", str(tmp_path / "missing.txt"))
    assert bad.returncode == 2 and "file not found" in bad.stderr
    (tmp_path / "rows.jsonl").write_text('{"text": "fine"}\n\n{"txt": "typo"}\n', encoding="utf-8")
    bad = run_cli("predict", str(out), "--input", str(tmp_path / "rows.jsonl"))
    assert bad.returncode == 2 and "rows.jsonl:3: an input row needs a 'text' field" in bad.stderr, bad.stderr[-2000:]
    assert not (tmp_path / "rows.predictions.jsonl").exists()
    (tmp_path / "mixed.jsonl").write_text('{"text": "fine"}\n\n{"text": "a", "text_pair": "b"}\n', encoding="utf-8")
    bad = run_cli("predict", str(out), "--input", str(tmp_path / "mixed.jsonl"))
    assert bad.returncode == 2 and "mixed.jsonl:3: predict: the inputs mix 1 single texts and 1" in bad.stderr
    # --input -: standard input, predictions on standard output; messages name <stdin>
    piped = run_cli("predict", str(out), "--input", "-", cwd=tmp_path, stdin="\n".join(texts) + "\n")
    assert piped.returncode == 0, piped.stderr[-2000:]
    assert [json.loads(line) for line in piped.stdout.splitlines()] == rows
    piped = run_cli("predict", str(out), "--input", "-", "--output", "o.jsonl", cwd=tmp_path,
                    stdin='[{"text": "a gorgeous film"}, "a gorgeous film"]')  # a string is a text, as pipelines take
    assert piped.returncode == 0, piped.stderr[-2000:]
    assert [r["prediction"] for r in read_jsonl(tmp_path / "o.jsonl")] == [rows[0]["prediction"]] * 2
    bad = run_cli("predict", str(out), "--input", "-", stdin="fine\n\nsome\tpair\n")
    assert bad.returncode == 2 and "error: <stdin>:3: predict: the inputs mix" in bad.stderr, bad.stderr[-2000:]


def test_predictor_names_the_bad_input(sst2_run):
    from bert_tasks import Predictor
    from bert_tasks.errors import UserError

    predictor = Predictor.from_run(sst2_run[0])
    assert predictor.predict([]) == []
    assert len(predictor.predict(t for t in ["fine", "dull"])) == 2  # any iterable
    # dicts as transformers' pipelines take them (before: "input 0 is {'text': 'fine'}; each input must be ...")
    assert predictor.predict([{"text": "fine"}, {"text": "dull", "id": 7}]) == predictor.predict(["fine", "dull"])
    for inputs, says in (([ "fine", None], "input 1 is None; each input must be a text"),
                         (["fine", {"txt": "dull"}], r"input 1: an input row needs a 'text' field; its fields: \['txt'\]"),
                         ([("a", "b", "c")], r"input 0 is \('a', 'b', 'c'\)"),
                         ({"text": "fine"}, "predict takes a list of inputs"),
                         (["fine", ("a", "b")], "the inputs mix 1 single texts and 1"),
                         ([("a", "b")], "this run was trained on single texts, not \\(text, text_pair\\) pairs")):
        with pytest.raises(UserError, match=says):
            predictor.predict(inputs)
    # a DataFrame is one input per row (before: iterating it gave its column names, one "input" 'text'),
    # and rows may name the run's own columns (SST-2's 'sentence'), as in an input file
    import pandas as pd

    frame = pd.DataFrame({"sentence": ["fine", "dull", "a witty film"], "id": [1, 2, 3]})
    assert predictor.predict(frame) == predictor.predict(["fine", "dull", "a witty film"])
    assert predictor.predict([{"sentence": "dull"}]) == predictor.predict(["dull"])
    # before: torch's AssertionError / RuntimeError from model.to(device)
    with pytest.raises(UserError, match=r"Predictor.from_run: device 'nonsense' is not usable here: Expected one of cpu"):
        Predictor.from_run(sst2_run[0], device="nonsense")


def test_int8_predictor_is_close_to_fp32(sst2_run, tmp_path):
    import torch

    from bert_tasks import Predictor
    from bert_tasks.predict import int8_parity

    out, _ = sst2_run
    rows = read_jsonl(out / "predictions_validation.jsonl")[:200]
    texts = [r["text"] for r in rows]
    predictor = Predictor.from_run(out, int8=True)
    linears = [m for m in predictor.model.modules() if type(m) is torch.nn.Linear]
    assert not linears, "every Linear should be quantised"
    parity = int8_parity(out, texts)
    assert parity["agreement"] >= 0.9, parity["agreement"]
    fp32 = [p["probabilities"]["positive"] for p in parity["fp32"]]
    int8 = [p["probabilities"]["positive"] for p in parity["int8"]]
    assert max(abs(a - b) for a, b in zip(fp32, int8)) < 0.2
    assert int8 != fp32  # really a different (quantised) computation

    (tmp_path / "in.txt").write_text("\n".join(texts[:5]) + "\n", encoding="utf-8")
    proc = run_cli("predict", str(out), "--input", str(tmp_path / "in.txt"), "--int8")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert len(read_jsonl(tmp_path / "in.predictions.jsonl")) == 5


def test_early_stopping_ends_the_run_and_keeps_the_best(tiny_encoder, tmp_path):
    # a threshold no evaluation can beat: every evaluation after the first counts against the patience
    out = tmp_path / "run"
    proc = run_cli("sst2", f"encoder={tiny_encoder}", f"train.output_dir={out}", "train.max_steps=40",
                   "train.eval_strategy=steps", "train.eval_steps=2", "train.logging_steps=2",
                   "early_stopping_patience=2", "early_stopping_threshold=10")
    assert proc.returncode == 0, proc.stderr[-3000:]
    state = json.loads((out / "trainer_state.json").read_text())
    evals = [h["step"] for h in state["log_history"] if "eval_accuracy" in h]
    assert state["global_step"] < 40 and len(evals) <= 3, (state["global_step"], evals)
    assert state["best_model_checkpoint"] and (out / "DONE").is_file()
    import yaml

    saved = yaml.safe_load((out / "recipe.yaml").read_text())
    assert saved["early_stopping_patience"] == 2 and saved["train"]["load_best_model_at_end"] is True
    assert saved["train"]["save_strategy"] == "steps" and saved["train"]["save_steps"] == 2


def test_class_weights_weigh_the_loss_of_training_and_of_a_later_evaluate(tiny_encoder, tmp_path):
    from bert_tasks import evaluate_run

    out = tmp_path / "run"
    proc = run_cli("sst2", f"encoder={tiny_encoder}", f"train.output_dir={out}", "train.max_steps=4",
                   "task.class_weights=balanced")
    assert proc.returncode == 0, proc.stderr[-3000:]
    weights = json.loads((out / "class_weights.json").read_text())
    assert set(weights) == {"negative", "positive"} and weights["negative"] != weights["positive"]
    validation = json.loads((out / "metrics.json").read_text())["validation"]
    rows = read_jsonl(out / "predictions_validation.jsonl")
    gold_p = np.array([r["probability"] if r["prediction"] == r["label"] else 1 - r["probability"] for r in rows])
    w = np.array([weights[r["label"]] for r in rows])
    assert validation["loss"] == pytest.approx(float((w * -np.log(gold_p)).sum() / w.sum()), rel=1e-3)
    assert validation["loss"] != pytest.approx(float(-np.log(gold_p).mean()), rel=1e-3)  # not the plain mean
    dev = ROOT / "recipes" / "data" / "sst2" / "dev.tsv"
    _, again = evaluate_run(out, dev, tmp_path / "ev")
    assert again["test"]["loss"] == pytest.approx(validation["loss"], rel=1e-4)  # the saved weights, no train split
    checkpoint = next(out.glob("checkpoint-*"))  # a checkpoint carries them too (before: "needs a train split")
    assert json.loads((checkpoint / "class_weights.json").read_text()) == weights
    _, scored = evaluate_run(checkpoint, dev, tmp_path / "ev_checkpoint")
    rows = read_jsonl(tmp_path / "ev_checkpoint" / "predictions_test.jsonl")
    gold_p = np.array([r["probability"] if r["prediction"] == r["label"] else 1 - r["probability"] for r in rows])
    assert scored["test"]["loss"] == pytest.approx(float((w * -np.log(gold_p)).sum() / w.sum()), rel=1e-3)


def test_class_weights_join_label_smoothing(tiny_encoder, tmp_path):
    # before: an error (Trainer's smoother never sees the weighted loss); now torch's weighted, smoothed
    # cross-entropy: (1 - e) w_y (-log p_y) + e / C sum_c w_c (-log p_c), summed, over the sum of w_y
    import yaml

    out = tmp_path / "run"
    proc = run_cli("sst2", f"encoder={tiny_encoder}", f"train.output_dir={out}", "train.max_steps=2",
                   "task.class_weights={negative: 1, positive: 5}", "train.label_smoothing_factor=0.5")
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = read_jsonl(out / "predictions_validation.jsonl")
    gold_p = np.array([r["probability"] if r["prediction"] == r["label"] else 1 - r["probability"] for r in rows])
    w = np.array([5.0 if r["label"] == "positive" else 1.0 for r in rows])
    p_negative, p_positive = np.where(w == 1, gold_p, 1 - gold_p), np.where(w == 5, gold_p, 1 - gold_p)
    per_row = {
        "smoothed": (1 - 0.5) * w * -np.log(gold_p) + 0.5 / 2 * (-np.log(p_negative) - 5 * np.log(p_positive)),
        "not smoothed": w * -np.log(gold_p),
    }
    size = yaml.safe_load((out / "recipe.yaml").read_text())["train"]["per_device_eval_batch_size"]
    batches = [slice(start, start + size) for start in range(0, len(rows), size)]

    def trainer_loss(loss):  # Trainer's evaluation loss: the mean over rows of their batch's loss
        return sum(loss[b].sum() / w[b].sum() * len(w[b]) for b in batches) / len(w)

    validation = json.loads((out / "metrics.json").read_text())["validation"]
    assert validation["loss"] == pytest.approx(trainer_loss(per_row["smoothed"]), rel=1e-5)
    assert validation["loss"] != pytest.approx(trainer_loss(per_row["not smoothed"]), rel=1e-3)
