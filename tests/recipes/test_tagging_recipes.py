"""End to end: the tagging recipes through the real CLI with tiny random BERTs."""

import json
import random
import re

import pytest

from conftest import SAMPLES, run_cli


def synthetic_conll(path, n, seed):
    rng = random.Random(seed)
    people, places = ["alice", "bob", "carol"], ["paris", "rome", "new york"]
    lines = ["-DOCSTART- -X- -X- O", ""]
    for _ in range(n):
        words = []
        for _ in range(rng.randint(3, 8)):
            r = rng.random()
            if r < 0.2:
                words.append((rng.choice(people), "PER"))
            elif r < 0.35:
                words.append((rng.choice(places), "LOC"))
            else:
                words.append((rng.choice(["the", "met", "in", "went", "to", "film"]), None))
        prev = None
        for phrase, kind in words:
            for j, w in enumerate(phrase.split()):
                tag = "O" if kind is None else (f"B-{kind}" if j == 0 else f"I-{kind}")
                lines.append(f"{w} NN O {tag}")
            prev = kind  # noqa: F841
        lines.append("")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


@pytest.fixture(scope="module")
def conll_run(tiny_encoder, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ner")
    synthetic_conll(tmp / "train.txt", 300, 0)
    synthetic_conll(tmp / "dev.txt", 60, 1)
    out = tmp / "run"
    proc = run_cli(
        "conll2003", f"encoder={tiny_encoder}", f"train.output_dir={out}",
        f"data.train={tmp / 'train.txt'}", f"data.validation={tmp / 'dev.txt'}", f"data.test={tmp / 'dev.txt'}",
        "train.num_train_epochs=8", "train.learning_rate=3e-3", "train.per_device_train_batch_size=16",
        "train.logging_steps=5",
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out


def test_tagging_learns_and_writes_run(conll_run):
    out = conll_run
    metrics = json.loads((out / "metrics.json").read_text())
    test = metrics["test"]
    for key in ("precision", "recall", "f1", "token_accuracy", "argmax_f1"):
        assert 0.0 <= test[key] <= 1.0
    assert test["f1"] > 0.9, test
    assert test["invalid_sequences"] == 0
    assert set(test["per_type"]) == {"PER", "LOC"}
    for split in ("validation", "test"):  # entity F1 per type, as multilabel plots F1 per label
        assert (out / f"per_type_f1_{split}.png").read_bytes()[:4] == b"\x89PNG"
    losses = [h["loss"] for h in json.loads((out / "trainer_state.json").read_text())["log_history"] if "loss" in h]
    assert losses[-1] < losses[0] / 3
    lines = (out / "predictions_test.conll").read_text().splitlines()
    assert lines[0].count(" ") == 2  # token gold predicted


def test_tagging_predictor_spans_and_pipeline(conll_run):
    from transformers import pipeline

    from bert_tasks import Predictor

    text = "alice went to new york"
    got = Predictor.from_run(conll_run).predict([text, ["bob", "met", "carol"]])
    ents = [(e["type"], e["text"], e["start"], e["end"]) for e in got[0]["entities"]]
    assert ents == [("PER", "alice", 0, 5), ("LOC", "new york", 14, 22)]
    assert [e["text"] for e in got[1]["entities"]] == ["bob", "carol"]
    tagger = pipeline("token-classification", model=str(conll_run))
    assert next(t["entity"] for t in tagger("alice went to rome")) in ("S-PER", "B-PER")


def test_resume_chinese_character_tagging(tmp_path):
    from bert_tasks.encoder import build_tiny_bert

    texts = [p.read_text(encoding="utf-8") for p in (SAMPLES / "resume_ner").glob("*.bmes")]
    encoder = build_tiny_bert(tmp_path / "zh_bert", texts, lowercase=False)
    out = tmp_path / "run"
    proc = run_cli("resume_ner", f"encoder={encoder}", f"train.output_dir={out}", "train.num_train_epochs=1")
    assert proc.returncode == 0, proc.stderr[-3000:]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["test"]["invalid_sequences"] == 0
    assert "scheme detected in train: bmes" in proc.stderr
    line = (out / "predictions_test.conll").read_text(encoding="utf-8").splitlines()[0]
    assert len(line.split()[0]) == 1  # one character per token


def test_tagging_predict_cli_jsonl(conll_run, tmp_path):
    rows = [{"text": "alice went to rome"}, {"tokens": ["bob", "met", "carol"]}]
    (tmp_path / "in.jsonl").write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")
    proc = run_cli("predict", str(conll_run), "--input", str(tmp_path / "in.jsonl"), "--output", str(tmp_path / "o.jsonl"))
    assert proc.returncode == 0, proc.stderr[-2000:]
    got = [json.loads(line) for line in (tmp_path / "o.jsonl").read_text().splitlines()]
    assert [e["text"] for e in got[0]["prediction"]["entities"]] == ["alice", "rome"]
    assert got[1]["prediction"]["tags"][0] in ("S-PER", "B-PER")
    # a JSON list whose records are token lists, as Predictor.predict takes them (before: refused)
    (tmp_path / "in.json").write_text(json.dumps([["bob", "met", "carol"], "alice went to rome"]), encoding="utf-8")
    proc = run_cli("predict", str(conll_run), "--input", str(tmp_path / "in.json"), "--output", str(tmp_path / "l.jsonl"))
    assert proc.returncode == 0, proc.stderr[-2000:]
    listed = [json.loads(line) for line in (tmp_path / "l.jsonl").read_text().splitlines()]
    assert listed[0]["tokens"] == ["bob", "met", "carol"]
    assert listed[0]["prediction"] == got[1]["prediction"] and listed[1]["prediction"] == got[0]["prediction"]


def test_tagging_predict_cli_reads_a_conll_file_as_sentences(conll_run, tmp_path):
    # before: each "word POS chunk tag" line was predicted as a text of its own
    synthetic_conll(tmp_path / "new.txt", 5, 7)
    proc = run_cli("predict", str(conll_run), "--input", str(tmp_path / "new.txt"), "--output", str(tmp_path / "o.jsonl"))
    assert proc.returncode == 0, proc.stderr[-2000:]
    got = [json.loads(line) for line in (tmp_path / "o.jsonl").read_text().splitlines()]
    assert len(got) == 5 and all(r["prediction"]["tokens"] == r["tokens"] for r in got)
    assert all(len(r["tags"]) == len(r["tokens"]) for r in got)  # the file's own tags, kept beside the prediction


def test_tagging_parity_with_pipeline(conll_run):
    """pipeline("token-classification") and the predictor (argmax decoding) agree word by word."""
    from transformers import pipeline

    from bert_tasks import Predictor

    predictor = Predictor.from_run(conll_run)
    predictor.adapter.options.decode = "argmax"  # the pipeline has no constrained decoding
    texts = ["alice went to new york", "the film met bob in rome", "carol carol paris"]
    tagger = pipeline("token-classification", model=str(conll_run), aggregation_strategy="none")
    for text, got in zip(texts, predictor.predict(texts)):
        firsts = {}
        for t in tagger(text):
            firsts.setdefault(t["start"], t["entity"])  # the first piece of each word
        starts = [m.start() for m in re.finditer(r"\S+", text)]
        pipe = [firsts.get(s, "O") for s in starts]
        assert got["tags"] == pipe, (text, got["tags"], pipe)


def test_tagging_predict_cli_reads_an_unlabelled_token_file_as_sentences(conll_run, tmp_path):
    # before: each token line of an untagged .conll file was predicted as a text of its own
    (tmp_path / "new.conll").write_text("-DOCSTART-\n\nalice\nwent\n\n\nbob\nmet\ncarol\n", encoding="utf-8")
    proc = run_cli("predict", str(conll_run), "--input", str(tmp_path / "new.conll"))
    assert proc.returncode == 0, proc.stderr[-2000:]
    got = [json.loads(line) for line in (tmp_path / "new.predictions.jsonl").read_text().splitlines()]
    assert [r["tokens"] for r in got] == [["alice", "went"], ["bob", "met", "carol"]]
    assert all(r["prediction"]["tokens"] == r["tokens"] for r in got)


def test_evaluate_cli_scores_a_file_as_the_run_scored_its_test_split(conll_run, tmp_path):
    test_file = conll_run.parent / "dev.txt"  # the run's data.test (no train split read: scheme found in it)
    proc = run_cli("evaluate", str(conll_run), "--data", str(test_file), "--output", str(tmp_path / "ev"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"evaluation: {tmp_path / 'ev'}" in proc.stdout and "test: " in proc.stdout
    scored = json.loads((tmp_path / "ev" / "metrics.json").read_text())["test"]
    trained = json.loads((conll_run / "metrics.json").read_text())["test"]
    assert scored["per_type"] == trained["per_type"]
    for key in ("f1", "precision", "recall", "token_accuracy", "argmax_f1", "loss"):
        assert scored[key] == pytest.approx(trained[key]), key
    assert (tmp_path / "ev" / "predictions_test.conll").read_text() == (conll_run / "predictions_test.conll").read_text()
    other = tmp_path / "other.txt"
    other.write_text("EU B-ORG\nrejects O\n\n", encoding="utf-8")
    proc = run_cli("evaluate", str(conll_run), "--data", str(other), "--output", str(tmp_path / "ev2"))
    assert proc.returncode == 2 and (f"entity types ['ORG'] are not among the run's types ['LOC', 'PER'] "
                                     f"(the first at {other}:1)") in proc.stderr
    assert not (tmp_path / "ev2").exists() and not list(tmp_path.glob(".ev2*"))  # nothing half-written
