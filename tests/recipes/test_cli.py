"""The CLI's flags and its error contract (exit code, one short message, no traceback)."""

from conftest import run_cli


def test_list():
    proc = run_cli("--list")
    assert proc.returncode == 0
    names = [line.split()[0] for line in proc.stdout.splitlines()]
    assert "sst2" in names and "mrpc" in names


def test_help_names_the_predict_command():
    proc = run_cli("--help")
    assert proc.returncode == 0
    assert "python -m bert_tasks.run predict RUN_DIR --input" in " ".join(proc.stdout.split())
    proc = run_cli("predict", "--help")
    assert proc.returncode == 0 and "--int8" in proc.stdout
    assert "python -m bert_tasks.run evaluate RUN_DIR --data FILE" in " ".join(run_cli("--help").stdout.split())
    proc = run_cli("evaluate", "--help")
    assert proc.returncode == 0 and "--data" in proc.stdout and "--output" in proc.stdout


def test_print_config_applies_overrides():
    proc = run_cli("mrpc", "train.max_steps=3", "~train.weight_decay", "--print-config")
    assert proc.returncode == 0
    assert "max_steps: 3" in proc.stdout and "weight_decay" not in proc.stdout
    assert "text_pair: '#2 String'" in proc.stdout


def test_dry_run_shows_splits_labels_and_first_example(tiny_encoder):
    proc = run_cli("mrpc", f"encoder={tiny_encoder}", "--dry-run")
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = proc.stdout
    assert '"train": 1592' in out and '"validation": 408' in out and '"test": 500' in out
    assert 'labels: ["not_paraphrase", "paraphrase"]' in out
    tokens = next(line for line in out.splitlines() if "tokens:" in line)
    assert tokens.split()[1] == "[CLS]" and tokens.count("[SEP]") == 2
    segments = next(line for line in out.splitlines() if "segment ids:" in line)
    assert " 1" in segments and segments.split()[2] == "0"


def test_dry_run_counts_sentences_not_windows(tiny_encoder, tmp_path):
    # a sentence longer than the window is split into several encoded examples; the split's size is
    # still its sentences (before: the windows, e.g. 1922 "rows" for Weibo NER's 1,350 sentences)
    conll = tmp_path / "train.txt"
    long = [f"w{i} {'B-PER' if i == 0 else 'O'}" for i in range(40)]
    conll.write_text("\n".join(["EU B-ORG", "rejects O", "", *long, "", "Peter B-PER", "Blackburn I-PER", ""]))
    proc = run_cli("conll2003", f"encoder={tiny_encoder}", f"data.train={conll}", "~data.validation", "~data.test",
                   "data.max_length=16", "train.eval_strategy=no", "--dry-run")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert 'splits: {"train": 3}' in proc.stdout
    windowed = next(line for line in proc.stdout.splitlines() if line.startswith("windowed:"))
    assert int(windowed.split(":")[-1].rstrip("}")) > 0


def test_print_config_and_dry_run_are_one_or_the_other():
    proc = run_cli("sst2", "--print-config", "--dry-run")  # before: the dry run was silently skipped
    assert proc.returncode == 2 and "argument --dry-run: not allowed with argument --print-config" in proc.stderr


def test_bad_input_exits_2_with_short_message():
    proc = run_cli("sst2", "train.learnin_rate=1")
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: ") and "did you mean 'learning_rate'" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_debug_shows_traceback():
    proc = run_cli("sst2", "train.learnin_rate=1", "--debug")
    assert proc.returncode != 0 and "Traceback" in proc.stderr


def test_missing_data_file(tmp_path):
    proc = run_cli("sst2", f"data.train={tmp_path}/none.tsv", "--dry-run")
    assert proc.returncode == 2 and "file not found" in proc.stderr and "none.tsv" in proc.stderr


def test_predict_batch_size_must_be_positive(tmp_path):
    proc = run_cli("predict", str(tmp_path), "--input", str(tmp_path / "in.txt"), "--batch-size", "0")
    assert proc.returncode == 2 and "--batch-size: must be at least 1, got 0" in proc.stderr


def test_errors_outside_exception_become_one_line(capsys):
    from bert_tasks.run import _guarded

    class PanicException(BaseException):  # what pyo3 raises for a Rust panic in tokenizers
        pass

    def work():
        raise PanicException("stride must be strictly less than max_len")

    assert _guarded(False, work) == 1
    assert capsys.readouterr().err == (
        "error: PanicException: stride must be strictly less than max_len (run with --debug for the traceback)\n"
    )
