"""Every bad input of the reliability table: exit code 2, a message that says what and where, no traceback,
and no run directory that claims success. Driven through the real CLI."""

import json

import pytest

from conftest import run_cli


def check(proc, out, *needles):
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-2000:])
    assert "Traceback" not in proc.stderr
    for needle in needles:
        assert needle in proc.stderr, (needle, proc.stderr[-2000:])
    assert not (out / "DONE").exists() and not (out / "metrics.json").exists()


@pytest.fixture
def out(tmp_path):
    return tmp_path / "run"


def tsv(path, rows, header="sentence\tlabel"):
    path.write_text(header + "\n" + "".join(f"{a}\t{b}\n" for a, b in rows), encoding="utf-8")
    return path


def test_malformed_yaml(tmp_path, out):
    bad = tmp_path / "bad.yaml"
    bad.write_text("task: {name: classification\nencoder: embedded\n", encoding="utf-8")
    check(run_cli(str(bad), f"train.output_dir={out}"), out, f"{bad}:2:8: malformed YAML")


def test_unknown_key(out):
    check(run_cli("sst2", "train.num_train_epoch=1", f"train.output_dir={out}"), out,
          "unknown key 'train.num_train_epoch'", "did you mean 'num_train_epochs'")


def test_wrong_type(out):
    check(run_cli("sst2", "train.learning_rate=fast", f"train.output_dir={out}"), out,
          "'train.learning_rate' expects float, got 'fast'")


def test_output_dir_that_is_a_file(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("keep me\n", encoding="utf-8")
    proc = run_cli("sst2", f"train.output_dir={path}")
    assert proc.returncode == 2 and f"train.output_dir '{path}' is a file, not a folder" in proc.stderr, proc.stderr
    assert path.read_text(encoding="utf-8") == "keep me\n"
    # a folder inside a file: before, a bare NotADirectoryError once data and model had loaded
    proc = run_cli("sst2", f"train.output_dir={path}/run")
    assert proc.returncode == 2, proc.stderr
    assert f"train.output_dir '{path}/run': cannot write there ({path} is a file, not a folder)" in proc.stderr


def test_resume_from_a_checkpoint_that_does_not_exist(tmp_path, out):
    check(run_cli("sst2", f"train.output_dir={out}", f"train.resume_from_checkpoint={tmp_path}/checkpoint-9"), out,
          f"train.resume_from_checkpoint '{tmp_path}/checkpoint-9': no such checkpoint folder")
    assert not out.exists()  # refused before anything was written


def test_missing_file_and_offline_hub_name(tmp_path, out, tiny_encoder):
    check(run_cli("sst2", f"encoder={tiny_encoder}", f"data.train={tmp_path}/nope.tsv", f"train.output_dir={out}"),
          out, "file not found", "nope.tsv")
    check(run_cli("sst2", f"encoder={tiny_encoder}", "data.train=someone/some_dataset", f"train.output_dir={out}"),
          out, "someone/some_dataset", "offline mode is on")


def test_missing_column(tmp_path, out, tiny_encoder):
    path = tsv(tmp_path / "t.tsv", [("good", 1), ("bad", 0)], header="review\tlabel")
    check(run_cli("sst2", f"encoder={tiny_encoder}", f"data.train={path}", f"train.output_dir={out}"), out,
          "no column 'sentence'", "['review', 'label']", "data.columns.text=<column>")


def test_empty_split_and_one_class(tmp_path, out, tiny_encoder):
    empty = tsv(tmp_path / "e.tsv", [])
    check(run_cli("sst2", f"encoder={tiny_encoder}", f"data.validation={empty}", f"train.output_dir={out}"), out,
          "data.validation", "empty (0 rows)", "e.tsv")
    one = tsv(tmp_path / "one.tsv", [("good", 1), ("great", 1)])
    check(run_cli("sst2", f"encoder={tiny_encoder}", f"data.train={one}", "~task.labels", f"train.output_dir={out}"),
          out, "train split", "all 2 rows have label '1'")


def test_label_not_in_train(tmp_path, out, tiny_encoder):
    train = tsv(tmp_path / "t.tsv", [("good", "pos"), ("bad", "neg")])
    dev = tsv(tmp_path / "d.tsv", [("fine", "pos"), ("meh", "neutral")])
    check(run_cli("sst2", f"encoder={tiny_encoder}", "~task.labels", f"data.train={train}", f"data.validation={dev}",
                  f"train.output_dir={out}"), out, "row 2: label 'neutral'", "d.tsv")


def test_not_utf8(tmp_path, out, tiny_encoder):
    path = tmp_path / "latin.tsv"
    path.write_bytes("sentence\tlabel\ncaf\xe9\t1\n".encode("latin-1"))
    check(run_cli("sst2", f"encoder={tiny_encoder}", f"data.train={path}", f"train.output_dir={out}"), out,
          "latin.tsv: not UTF-8 text (byte offset 18)")


def test_conll_wrong_columns(tmp_path, out, tiny_encoder):
    path = tmp_path / "x.txt"
    path.write_text("EU NNP B-NP B-ORG\nrejects VBZ O\n", encoding="utf-8")
    check(run_cli("conll2003", f"encoder={tiny_encoder}", f"data.train={path}", f"train.output_dir={out}"), out,
          f"{path}:2: 3 column(s), expected 4")


def test_invalid_tags_are_counted_and_repaired(tmp_path, out, tiny_encoder):
    path = tmp_path / "x.txt"
    path.write_text("EU B-ORG\nrejects O\n\nPeter O\nSmith I-PER\n\nParis B-LOC\n", encoding="utf-8")
    proc = run_cli("conll2003", f"encoder={tiny_encoder}", f"data.train={path}", "~data.validation", "~data.test",
                   "--dry-run")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "1 sentence(s) have tags invalid under iob2" in proc.stderr and f"{path}:5" in proc.stderr
    assert "repaired: a continuation tag that continues no entity starts one" in proc.stderr


def test_qa_answer_not_in_passage(tmp_path, out, tiny_encoder):
    rows = [{"id": "q1", "question": "where?", "context": "in paris", "answers": {"text": ["paris"], "answer_start": [0]}},
            {"id": "q2", "question": "who?", "context": "bob ran", "answers": {"text": ["alice"], "answer_start": [0]}}]
    path = tmp_path / "qa.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")
    proc = run_cli("squad", f"encoder={tiny_encoder}", f"data.train={path}", "~data.validation_from_train",
                   "~data.test", "--dry-run")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "1 answer_start offsets did not match" in proc.stderr  # q1 moved to offset 3
    assert "1 question(s) dropped" in proc.stderr and "id q2" in proc.stderr


def test_task_does_not_fit_data(tmp_path, out, tiny_encoder):
    path = tsv(tmp_path / "s.tsv", [("good film", 1), ("bad", 0)])
    check(run_cli("conll2003", f"encoder={tiny_encoder}", f"data.train={path}", "data.format=tsv",
                  f"train.output_dir={out}"), out, "tagging needs a list of tokens and a list of tags")


def test_finished_output_dir_is_refused(tmp_path, tiny_encoder):
    out = tmp_path / "done"
    out.mkdir()
    (out / "DONE").write_text("finished\n")
    (out / "metrics.json").write_text("{}")
    proc = run_cli("sst2", f"encoder={tiny_encoder}", f"train.output_dir={out}")
    assert proc.returncode == 2 and "holds a finished run" in proc.stderr and "overwrite=true" in proc.stderr
    assert (out / "metrics.json").read_text() == "{}"


def test_max_length_beyond_the_encoders_positions(out, tiny_encoder):
    check(run_cli("sst2", f"encoder={tiny_encoder}", "data.max_length=1000", f"train.output_dir={out}"), out,
          "data.max_length=1000 is longer than encoder", "(max_position_embeddings=512); set data.max_length=512 or less")
