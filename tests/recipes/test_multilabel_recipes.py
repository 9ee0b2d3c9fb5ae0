"""End to end: the GoEmotions multi-label and multi-head recipes through the real CLI on a tiny BERT."""

import json

import numpy as np
import pytest

from conftest import run_cli


def read_jsonl(path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.fixture(scope="module")
def goemotions_run(tiny_encoder, tmp_path_factory):
    out = tmp_path_factory.mktemp("goemotions") / "run"
    proc = run_cli("goemotions", f"encoder={tiny_encoder}", f"train.output_dir={out}", "train.num_train_epochs=1",
                   "task.pos_weight=auto")
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out


def test_goemotions_run_directory(goemotions_run):
    out = goemotions_run
    for name in ("model.safetensors", "thresholds.json", "train_label_frequencies.json", "metrics.json", "predictions_test.jsonl",
                 "per_label_f1_test.png", "DONE"):
        assert (out / name).is_file(), name
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics) == {"validation", "test"}
    for key in ("micro_f1", "macro_f1", "subset_accuracy", "hamming_loss", "macro_f1_at_0.5"):
        assert 0.0 <= metrics["test"][key] <= 1.0
    assert len(metrics["test"]["per_label"]) == 28
    thresholds = json.loads((out / "thresholds.json").read_text())
    assert len(thresholds) == 28 and "neutral" in thresholds
    assert len(set(thresholds.values())) > 1  # tuned per label, not one value
    config = json.loads((out / "config.json").read_text())
    assert config["problem_type"] == "multi_label_classification"


def test_goemotions_checkpoint_with_auto_pos_weight_is_scored_with_the_runs_loss(goemotions_run, tmp_path):
    from bert_tasks import evaluate_run
    from conftest import SAMPLES

    (checkpoint,) = goemotions_run.glob("checkpoint-*")  # one epoch: the checkpoint holds the final weights
    assert (checkpoint / "train_label_frequencies.json").is_file()  # before: only the run had it
    _, metrics = evaluate_run(checkpoint, SAMPLES / "goemotions" / "test.tsv", tmp_path / "ev")
    # before: "task.pos_weight=auto needs a train split (or a run's train_label_frequencies.json)"
    run = json.loads((goemotions_run / "metrics.json").read_text())["test"]
    assert metrics["test"]["loss"] == pytest.approx(run["loss"], rel=1e-4)


def test_goemotions_predictor_uses_saved_thresholds(goemotions_run):
    from bert_tasks import Predictor

    rows = read_jsonl(goemotions_run / "predictions_test.jsonl")[:100]
    preds = Predictor.from_run(goemotions_run).predict([r["text"] for r in rows])
    assert [p["labels"] for p in preds] == [r["predicted"] for r in rows]
    for p, r in zip(preds, rows):
        assert p["scores"]["neutral"] == pytest.approx(r["scores"]["neutral"], abs=1e-4)


def test_goemotions_predict_cli_reads_the_headerless_test_file(goemotions_run, tmp_path):
    from conftest import ROOT

    # before: the first comment was taken for a header, and no row had a 'text' field
    test = ROOT / "recipes/data/goemotions/test.tsv"
    proc = run_cli("predict", str(goemotions_run), "--input", str(test), "--output", str(tmp_path / "o.jsonl"))
    assert proc.returncode == 0, proc.stderr[-2000:]
    got = read_jsonl(tmp_path / "o.jsonl")
    rows = read_jsonl(goemotions_run / "predictions_test.jsonl")
    assert len(got) == len(rows) == 800 and set(got[0]) == {"text", "label", "id", "prediction"}
    assert [g["prediction"]["labels"] for g in got] == [r["predicted"] for r in rows]


def test_goemotions_evaluate_uses_the_tuned_thresholds(goemotions_run, tmp_path):
    from conftest import SAMPLES

    # the headerless test file read with the run's data.header / data.column_names; the thresholds tuned
    # on validation in training score it again, not ones tuned anew
    proc = run_cli("evaluate", str(goemotions_run), "--data", str(SAMPLES / "goemotions" / "test.tsv"),
                   "--output", str(tmp_path / "ev"))
    assert proc.returncode == 0, proc.stderr[-2000:]
    scored = json.loads((tmp_path / "ev" / "metrics.json").read_text())["test"]
    trained = json.loads((goemotions_run / "metrics.json").read_text())["test"]
    for key in ("micro_f1", "macro_f1", "subset_accuracy", "hamming_loss", "macro_f1_at_0.5", "loss"):
        assert scored[key] == pytest.approx(trained[key]), key
    assert json.loads((tmp_path / "ev" / "thresholds.json").read_text()) == json.loads(
        (goemotions_run / "thresholds.json").read_text())


def test_goemotions_pipeline_loads_run(goemotions_run):
    from transformers import pipeline

    rows = read_jsonl(goemotions_run / "predictions_test.jsonl")[:20]
    clf = pipeline("text-classification", model=str(goemotions_run), top_k=None)
    for got, r in zip(clf([r["text"] for r in rows]), rows):
        scores = {g["label"]: g["score"] for g in got}
        assert np.allclose([scores[k] for k in r["scores"]], list(r["scores"].values()), atol=1e-4)


def test_goemotions_jsonl_with_label_names(tiny_encoder, tmp_path):
    rows = [{"body": "thanks so much!", "emotions": ["gratitude"]}, {"body": "wow, what?", "emotions": ["surprise", "confusion"]},
            {"body": "ok", "emotions": ["neutral"]}] * 20
    path = tmp_path / "train.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")
    proc = run_cli("goemotions", f"encoder={tiny_encoder}", f"data.train={path}", f"data.validation={path}", "~data.test",
                   "data.columns.text=body", "data.columns.label=emotions", f"train.output_dir={tmp_path / 'run'}",
                   "train.max_steps=3", "train.eval_strategy=no", "train.save_strategy=no", "~train.load_best_model_at_end")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "validation" in json.loads((tmp_path / "run" / "metrics.json").read_text())


def test_multihead_save_load_same_predictions(tiny_encoder, tmp_path):
    from bert_tasks import Predictor

    out = tmp_path / "run"
    proc = run_cli("goemotions_multihead", f"encoder={tiny_encoder}", f"train.output_dir={out}", "train.num_train_epochs=1")
    assert proc.returncode == 0, proc.stderr[-3000:]
    metrics = json.loads((out / "metrics.json").read_text())
    for head in ("ekman", "sentiment"):
        assert 0.0 <= metrics["test"][head]["accuracy"] <= 1.0
        assert 0.0 <= metrics["test"][head]["macro_f1"] <= 1.0
    assert len(metrics["test"]["ekman"]["confusion_matrix"]) == 7
    rows = read_jsonl(out / "predictions_test.jsonl")[:100]
    preds = Predictor.from_run(out).predict([r["text"] for r in rows])
    assert [p["ekman"]["label"] for p in preds] == [r["ekman"]["prediction"] for r in rows]
    assert [p["sentiment"]["label"] for p in preds] == [r["sentiment"]["prediction"] for r in rows]
    # scored again by `evaluate` on the run's test file: every head's figures and the predictions equal
    from conftest import SAMPLES

    proc = run_cli("evaluate", str(out), "--data", str(SAMPLES / "goemotions" / "test.tsv"),
                   "--output", str(tmp_path / "ev"))
    assert proc.returncode == 0, proc.stderr[-2000:]
    scored = json.loads((tmp_path / "ev" / "metrics.json").read_text())["test"]
    for head in ("ekman", "sentiment"):
        assert scored[head]["confusion_matrix"] == metrics["test"][head]["confusion_matrix"]
        assert scored[head]["macro_f1"] == pytest.approx(metrics["test"][head]["macro_f1"])
    assert scored["loss"] == pytest.approx(metrics["test"]["loss"])
    assert read_jsonl(tmp_path / "ev" / "predictions_test.jsonl") == read_jsonl(out / "predictions_test.jsonl")
    # a plain transformers folder: the pipeline loads it, its labels named head:label (one softmax over all)
    from transformers import pipeline

    scores = pipeline("text-classification", model=str(out), top_k=None)([rows[0]["text"]])[0]
    assert {s["label"] for s in scores} == {f"{h}:{lab}" for h, labels in
                                           json.loads((out / "config.json").read_text())["heads"].items() for lab in labels}


def test_multihead_column_heads_with_blank_cells_train_and_evaluate(tiny_encoder, tmp_path):
    data = tmp_path / "attrs.csv"
    rows = "red big ball,red,big\nblue small cup,blue,small\nred small pen,red,\nblue big box,,big\n"
    data.write_text("text,colour,size\n" + rows * 4, encoding="utf-8")
    out = tmp_path / "run"
    proc = run_cli("goemotions_multihead", f"encoder={tiny_encoder}", f"data.train={data}", f"data.validation={data}",
                   "~data.test", "~data.header", "~data.column_names", "~task.source_labels", "~task.rule",
                   "task.heads={colour: {column: colour, class_weights: balanced}, size: {column: size}}",
                   "train.max_steps=2", f"train.output_dir={out}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    # before: a blank cell was a class '' of its head
    assert json.loads((out / "config.json").read_text())["heads"] == {"colour": ["blue", "red"], "size": ["big", "small"]}
    # balanced over the 12 rows with a colour (4 blue, 8 red), saved for a later evaluate (which has no train)
    assert json.loads((out / "class_weights.json").read_text()) == {"colour": {"blue": 1.5, "red": 0.75}}
    trained = json.loads((out / "metrics.json").read_text())["validation"]
    assert sum(trained["colour"]["per_class"][c]["support"] for c in ("blue", "red")) == 12  # 16 rows, 4 blank
    # before: "task.heads.colour: no train split and no labels" (evaluate has no train split)
    proc = run_cli("evaluate", str(out), "--data", str(data), "--output", str(tmp_path / "ev"))
    assert proc.returncode == 0, proc.stderr[-2000:]
    scored = json.loads((tmp_path / "ev" / "metrics.json").read_text())["test"]
    assert scored["loss"] == pytest.approx(trained["loss"])
    assert scored["colour"]["confusion_matrix"] == trained["colour"]["confusion_matrix"]
    partial = tmp_path / "colour_only.csv"
    partial.write_text("text,colour\nred hat,red\n", encoding="utf-8")
    proc = run_cli("evaluate", str(out), "--data", str(partial), "--output", str(tmp_path / "ev2"))
    assert proc.returncode == 2 and "no column 'size' for head 'size'" in proc.stderr
