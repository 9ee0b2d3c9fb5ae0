"""End to end: the squad recipe through the real CLI with a tiny random BERT; Chinese QA too."""

import json

import pytest

from conftest import SAMPLES, SHARED, run_cli


def test_squad_recipe_run_directory(tiny_encoder, tmp_path):
    from transformers import AutoModelForQuestionAnswering

    from bert_tasks import Predictor
    from bert_tasks.errors import UserError

    out = tmp_path / "run"
    proc = run_cli("squad", f"encoder={tiny_encoder}", f"train.output_dir={out}", "train.num_train_epochs=1",
                   "data.max_length=128", "task.doc_stride=32")
    assert proc.returncode == 0, proc.stderr[-3000:]
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics) == {"validation", "test"}
    for split in metrics.values():
        assert 0.0 <= split["exact_match"] <= split["f1"] <= 1.0
    assert metrics["test"]["windows"] > metrics["test"]["questions"] == 150  # long passages were windowed
    preds = json.loads((out / "predictions_test.json").read_text())
    nbest = json.loads((out / "nbest_test.json").read_text())
    assert len(preds) == 150 and set(preds) == set(nbest)
    sample = json.loads((SAMPLES / "squad" / "xquad_sample.json").read_text())
    para = sample["data"][0]["paragraphs"][0]
    qa = para["qas"][0]
    predictor = Predictor.from_run(out)
    got = predictor.predict([(qa["question"], para["context"])])[0]
    assert got["answer"] == preds[qa["id"]]
    assert para["context"][got["start"]:got["end"]] == got["answer"]
    # An empty passage has no span: no answer, and a score that JSON can carry (not -inf).
    assert predictor.predict([("what?", "")]) == [{"answer": "", "score": None, "start": None, "end": None, "n_best": []}]
    with pytest.raises(UserError, match=r"input 1 is \(' ', 'Some passage.'\); each input must be a \(question, context\) "
                       r"pair of str, the question not blank"):
        predictor.predict([("what?", "x"), (" ", "Some passage.")])  # before: a blank question was answered
    # the test file as the recipe reads it (SQuAD JSON) predicts as it is, one row per question
    # (before: one row holding the whole document, "needs 'question' and 'context'")
    proc = run_cli("predict", str(out), "--input", str(SAMPLES / "squad" / "xquad_sample.json"),
                   "--output", str(tmp_path / "xq.jsonl"))
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = [json.loads(line) for line in (tmp_path / "xq.jsonl").read_text(encoding="utf-8").splitlines()]
    assert {r["id"]: r["prediction"]["answer"] for r in rows} == preds
    # the test file scored again by `evaluate`: the run's windows, spans and threshold, the same figures
    proc = run_cli("evaluate", str(out), "--data", str(SAMPLES / "squad" / "xquad_sample.json"),
                   "--output", str(tmp_path / "ev"))
    assert proc.returncode == 0, proc.stderr[-2000:]
    scored = json.loads((tmp_path / "ev" / "metrics.json").read_text())["test"]
    for key in ("exact_match", "f1", "loss", "windows", "questions"):
        assert scored[key] == pytest.approx(metrics["test"][key]), key
    assert json.loads((tmp_path / "ev" / "predictions_test.json").read_text()) == preds
    # transformers 5 removed pipeline("question-answering"); the run is a plain QA model folder.
    model = AutoModelForQuestionAnswering.from_pretrained(str(out))
    assert model.config.architectures == ["BertForQuestionAnswering"]


def test_chinese_qa_tiny_model(tmp_path):
    import pytest

    path = SHARED / "cmrc2018" / "cmrc2018_trial.json"
    if not path.is_file():
        pytest.skip(f"{path} not found")
    from bert_tasks.encoder import build_tiny_bert

    encoder = build_tiny_bert(tmp_path / "zh", [path.read_text(encoding="utf-8")], lowercase=False)
    out = tmp_path / "run"
    proc = run_cli("squad", f"encoder={encoder}", f"data.train={path}", "~data.test", "data.validation_group=id",
                   f"train.output_dir={out}", "train.max_steps=20", "data.max_length=128", "task.doc_stride=32")
    assert proc.returncode == 0, proc.stderr[-3000:]
    metrics = json.loads((out / "metrics.json").read_text())
    assert 0.0 <= metrics["validation"]["f1"] <= 1.0
    assert "dropped" in proc.stderr or "did not match" in proc.stderr  # CMRC has answer_start -1 rows
