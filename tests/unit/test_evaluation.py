"""evaluate_run: a finished run scored on a labelled file, as training scored its own splits."""

import json
from pathlib import Path

import pytest

from bert_tasks import evaluate_run, train
from bert_tasks.errors import UserError
from bert_tasks.evaluation import default_output
from conftest import SAMPLES


@pytest.fixture(scope="module")
def sst2_run(tiny_encoder, tmp_path_factory):
    out = tmp_path_factory.mktemp("ev") / "run"
    train("sst2", [f"encoder={tiny_encoder}", f"train.output_dir={out}", "train.max_steps=6"])
    return out


def test_scores_equal_the_runs_own_validation_metrics(sst2_run):
    dev = SAMPLES / "sst2" / "dev.tsv"  # the run's data.validation, read again with its data settings
    folder, metrics = evaluate_run(sst2_run, dev)
    assert folder == str(default_output(sst2_run, dev)) == str(sst2_run / "evaluations" / "dev")
    validation = json.loads((sst2_run / "metrics.json").read_text())["validation"]
    assert metrics["test"]["confusion_matrix"] == validation["confusion_matrix"]
    for key in ("accuracy", "macro_f1", "f1", "mcc", "loss"):
        assert metrics["test"][key] == pytest.approx(validation[key]), key
    saved = json.loads((sst2_run / "evaluations" / "dev" / "metrics.json").read_text())
    assert saved == json.loads(json.dumps(metrics)) and "model_preparation_time" not in saved["test"]
    rows = [json.loads(line) for line in (sst2_run / "evaluations" / "dev" / "predictions_test.jsonl").open()]
    assert len(rows) == 872 and set(rows[0]) == {"text", "label", "prediction", "probability"}
    assert json.loads((sst2_run / "evaluations" / "dev" / "evaluation.json").read_text())["data"] == str(dev)
    again, _ = evaluate_run(sst2_run, dev, batch_size=7)  # an earlier evaluation is replaced
    assert again == folder


def test_another_file_of_the_same_name_gets_its_own_folder(sst2_run, tmp_path):
    # before: b/dev.tsv replaced the evaluation of a/dev.tsv, both in evaluations/dev
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "dev.tsv").write_text("sentence\tlabel\na fine film\t1\na dull plot\t0\n", encoding="utf-8")
    first, _ = evaluate_run(sst2_run, tmp_path / "a" / "dev.tsv")
    second, _ = evaluate_run(sst2_run, str(tmp_path / "b" / "dev.tsv"))
    again, _ = evaluate_run(sst2_run, str(tmp_path / "a" / ".." / "a" / "dev.tsv"))  # the same file: replaced
    assert second != first and Path(second).parent == Path(first).parent == sst2_run / "evaluations"
    assert Path(second).name.startswith("dev-") and again == first  # dev-2, or dev-3 after the samples' dev
    for folder, source in ((first, "a"), (second, "b")):
        assert Path(json.loads((Path(folder) / "evaluation.json").read_text())["data"]).parent.name == source


def test_default_output_is_named_after_the_data(tmp_path):
    assert default_output(tmp_path, "data/dev.tsv") == tmp_path / "evaluations" / "dev"
    assert default_output(tmp_path, ["a/test.char.bmes", "b.bmes"]) == tmp_path / "evaluations" / "test.char"
    assert default_output(tmp_path, "shards/*.tsv") == tmp_path / "evaluations" / "shards"  # not a folder named '*'
    assert default_output(tmp_path, "*.tsv") == tmp_path / "evaluations" / "data"
    assert default_output(tmp_path, "data/dev.tsv.gz") == tmp_path / "evaluations" / "dev"  # not dev.tsv


def test_bad_evaluations_write_nothing(sst2_run, tmp_path):
    unlabelled = tmp_path / "unlabelled.tsv"
    unlabelled.write_text("sentence\na fine film\n", encoding="utf-8")
    with pytest.raises(UserError, match=r"unlabelled.tsv: no gold labels in it to score against"):
        evaluate_run(sst2_run, unlabelled, tmp_path / "out")
    assert not (tmp_path / "out").exists() and not list(tmp_path.glob(".out*"))
    with pytest.raises(UserError, match=r"exists and is not an earlier evaluation \(no evaluation.json\)"):
        evaluate_run(sst2_run, SAMPLES / "sst2" / "dev.tsv", sst2_run)  # never replaces the run itself
    assert (sst2_run / "model.safetensors").is_file()
    bad = tmp_path / "bad.tsv"
    bad.write_text("sentence\tlabel\na fine film\tmaybe\n", encoding="utf-8")
    with pytest.raises(UserError, match=r"row 1: label 'maybe' is not among task.labels"):
        evaluate_run(sst2_run, bad, tmp_path / "out")
    with pytest.raises(UserError, match="no such run directory"):
        evaluate_run(tmp_path / "nowhere", bad)


def test_data_errors_name_the_evaluated_data_not_the_runs_data_test(sst2_run, tmp_path):
    short = tmp_path / "short.tsv"
    short.write_text("sentence\tlabel\na fine film\t1\ndull\n", encoding="utf-8")
    with pytest.raises(UserError, match=r"^evaluate --data: .*short.tsv:3: 1 field\(s\), but the header has 2"):
        evaluate_run(sst2_run, short, tmp_path / "out")
    with pytest.raises(UserError, match=r"^evaluate --data: file not found: .*missing.tsv$"):
        evaluate_run(sst2_run, tmp_path / "missing.tsv", tmp_path / "out")
    with pytest.raises(UserError, match=r"^evaluate --data: no file matches"):
        evaluate_run(sst2_run, str(tmp_path / "none-*.tsv"), tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_a_file_with_other_columns_is_read_with_data_overrides(sst2_run, tmp_path):
    dev = (SAMPLES / "sst2" / "dev.tsv").read_text(encoding="utf-8").splitlines()
    other = tmp_path / "reviews.csv"  # the same rows, as a CSV whose text column is 'review'
    other.write_text("review,label\n" + "\n".join('"' + line.rsplit("\t", 1)[0].replace('"', '""') + '",'
                                                  + line.rsplit("\t", 1)[1] for line in dev[1:]) + "\n", encoding="utf-8")
    with pytest.raises(UserError, match=r"no column 'sentence' for role 'text'.*data.columns.text=<column>"):
        evaluate_run(sst2_run, other, tmp_path / "a")
    _, metrics = evaluate_run(sst2_run, other, tmp_path / "b", overrides=["data.columns.text=review"])
    validation = json.loads((sst2_run / "metrics.json").read_text())["validation"]
    assert metrics["test"]["confusion_matrix"] == validation["confusion_matrix"]  # before: no way to say it
    for bad in ("data.labels=x", "train.seed=1", "encoder=x"):  # the model and its labels stay the run's
        with pytest.raises(UserError, match=rf"evaluate: '{bad}' cannot be set; only how the file is read"):
            evaluate_run(sst2_run, other, tmp_path / "c", overrides=[bad])
    with pytest.raises(UserError, match=r"data.max_length=100000 is longer than the run's model accepts "
                                        r"\(max_position_embeddings=512\); set data.max_length=512 or less"):
        evaluate_run(sst2_run, other, tmp_path / "c", overrides=["data.columns.text=review", "data.max_length=100000"])
    assert not (tmp_path / "c").exists()
    # inputs may be read longer (or shorter) than in training: before, data.max_length could not be set
    _, short = evaluate_run(sst2_run, other, tmp_path / "d", overrides=["data.columns.text=review", "data.max_length=8"])
    assert short["test"]["loss"] != pytest.approx(metrics["test"]["loss"])


def test_cli_evaluate_and_predict_take_data_overrides_before_or_after_the_files(sst2_run, tmp_path, capsys):
    from bert_tasks.run import main

    other = tmp_path / "two.csv"
    other.write_text("review,label\na fine film,1\ndull,0\n", encoding="utf-8")
    for args in ([str(sst2_run), "data.columns.text=review", "--data", str(other)],
                 [str(sst2_run), "--data", str(other), "data.columns.text=review"]):
        assert main(["evaluate", *args, "--output", str(tmp_path / "out")]) == 0
        assert "evaluation: " in capsys.readouterr().out
    assert main(["evaluate", str(sst2_run), "--data", str(other), "train.seed=1"]) == 2
    assert "'train.seed=1' cannot be set" in capsys.readouterr().err
    out = tmp_path / "p.jsonl"
    assert main(["predict", str(sst2_run), "--input", str(other), "--output", str(out)]) == 2
    assert "or name yours: data.columns.<role>=<column>" in capsys.readouterr().err
    for args in (["--input", str(other), "data.columns.text=review"], ["data.columns.text=review", "--input", str(other)]):
        assert main(["predict", str(sst2_run), *args, "--output", str(out)]) == 0
        rows = [json.loads(line) for line in out.open()]
        assert [r["review"] for r in rows] == ["a fine film", "dull"] and all("prediction" in r for r in rows)
    assert main(["predict", str(sst2_run), "--input", str(other), "data.max_length=4"]) == 2
    assert "data.max_length must be at least 5" in capsys.readouterr().err
    assert main(["predict", str(sst2_run), "--input", str(other), "data.format=x"]) == 2
    assert "'data.format'" in capsys.readouterr().err


def test_cli_predict_reads_longer_inputs_with_data_max_length(sst2_run, tmp_path, caplog, capsys):
    # before: an input longer than the run's data.max_length (66 for sst2) was cut, and the warning's
    # advice (predictor.max_length) had no command-line form: data.max_length could not be set
    from bert_tasks.run import main

    text = tmp_path / "long.txt"
    text.write_text(" ".join(["a fine film , well acted"] * 30) + "\n", encoding="utf-8")
    out = tmp_path / "p.jsonl"
    assert main(["predict", str(sst2_run), "--input", str(text), "--output", str(out)]) == 0
    assert "1 of 1 input(s) are longer than 66 tokens" in caplog.text
    cut = json.loads(out.read_text())["prediction"]
    caplog.clear()
    assert main(["predict", str(sst2_run), "--input", str(text), "--output", str(out), "data.max_length=512"]) == 0
    assert "are longer than" not in caplog.text
    assert json.loads(out.read_text())["prediction"]["score"] != pytest.approx(cut["score"])  # all 180 words read
    assert main(["predict", str(sst2_run), "--input", str(text), "data.max_length=513"]) == 2
    assert "data.max_length=513 is longer than the run's model accepts" in caplog.text + capsys.readouterr().err


def test_predictor_max_length_must_fit_the_model(sst2_run):
    from bert_tasks import Predictor

    predictor = Predictor.from_run(sst2_run)
    predictor.max_length = 513
    with pytest.raises(UserError, match=r"max_length=513 does not fit the model: give a whole number from 5 to 512 "
                                        r"\(max_position_embeddings=512\)"):
        predictor.predict(["a fine film"])


def test_python_callers_may_name_paths_with_a_tilde(sst2_run, monkeypatch, tmp_path):
    # before: Predictor.from_run('~/run') said "no such run directory", and predict_file read '~/in.txt'
    # (data paths expand ~) but wrote its predictions under a literal ./~ folder
    from bert_tasks import Predictor
    from bert_tasks.predict import predict_file

    monkeypatch.setenv("HOME", str(sst2_run.parent))
    monkeypatch.chdir(tmp_path)
    assert Predictor.from_run("~/run").predict(["a fine film"])[0]["label"] in ("negative", "positive")
    (sst2_run.parent / "in.txt").write_text("a fine film\nawful\n", encoding="utf-8")
    assert predict_file("~/run", "~/in.txt") == str(sst2_run.parent / "in.predictions.jsonl")
    assert predict_file("~/run", "~/in.txt", "~/out/") == str(sst2_run.parent / "out" / "in.predictions.jsonl")
    folder, _ = evaluate_run("~/run", SAMPLES / "sst2" / "dev.tsv", output_dir="~/ev")
    assert folder == str(sst2_run.parent / "ev") and (sst2_run.parent / "ev" / "metrics.json").is_file()
    assert not (tmp_path / "~").exists()
