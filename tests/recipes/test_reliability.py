"""Determinism, kill-and-resume, and NaN stops, through the real CLI on a tiny BERT."""

import json
import os
import signal
import subprocess
import sys
import time

from conftest import ROOT, run_cli

COMMON = ["train.num_train_epochs=2", "train.per_device_train_batch_size=64", "train.eval_strategy=no",
          "train.save_strategy=steps", "train.save_steps=20", "train.save_total_limit=10", "train.logging_steps=10"]


def metrics(out):
    return json.loads((out / "metrics.json").read_text())["validation"]


def test_same_seed_same_metrics(tiny_encoder, tmp_path):
    runs = []
    for name in ("a", "b"):
        proc = run_cli("sst2", f"encoder={tiny_encoder}", f"train.output_dir={tmp_path / name}", *COMMON)
        assert proc.returncode == 0, proc.stderr[-2000:]
        runs.append(metrics(tmp_path / name))
    assert runs[0]["accuracy"] == runs[1]["accuracy"]
    assert runs[0]["loss"] == runs[1]["loss"]


def test_sigkill_then_resume_matches_uninterrupted(tiny_encoder, tmp_path):
    full = tmp_path / "full"
    proc = run_cli("sst2", f"encoder={tiny_encoder}", f"train.output_dir={full}", *COMMON)
    assert proc.returncode == 0, proc.stderr[-2000:]

    killed = tmp_path / "killed"
    args = [sys.executable, "-m", "bert_tasks.run", "sst2", f"encoder={tiny_encoder}", f"train.output_dir={killed}", *COMMON]
    child = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while time.time() < deadline and not list(killed.glob("checkpoint-*/trainer_state.json")):
        time.sleep(0.2)
    child.send_signal(signal.SIGKILL)
    child.wait()
    assert list(killed.glob("checkpoint-*")), "no checkpoint before the kill"
    assert (killed / ".bert_tasks.lock").exists()  # the killed run's lock file stays, its lock does not
    assert not (killed / "DONE").exists() and not (killed / "metrics.json").exists()

    proc = run_cli("sst2", f"encoder={tiny_encoder}", f"train.output_dir={killed}", *COMMON,
                   "train.resume_from_checkpoint=auto")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert (killed / "DONE").exists() and not (killed / ".bert_tasks.lock").exists()
    a, b = metrics(full), metrics(killed)
    assert abs(a["loss"] - b["loss"]) < 1e-4 and a["accuracy"] == b["accuracy"]


def test_nan_loss_stops_with_step_and_checkpoint(tiny_encoder, tmp_path):
    out = tmp_path / "nan"
    proc = run_cli("sst2", f"encoder={tiny_encoder}", f"train.output_dir={out}", *COMMON,
                   "train.learning_rate=1e9", "train.logging_steps=1", "train.max_grad_norm=0")
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "NaN/inf at step" in proc.stderr and "Last good checkpoint" in proc.stderr
    assert not (out / "DONE").exists() and not (out / "metrics.json").exists()


def test_ctrl_c_saves_a_checkpoint_to_resume_from(tiny_encoder, tmp_path):
    out = tmp_path / "interrupted"
    args = [sys.executable, "-m", "bert_tasks.run", "sst2", f"encoder={tiny_encoder}", f"train.output_dir={out}",
            "train.num_train_epochs=50", "train.save_strategy=no", "train.eval_strategy=no", "train.logging_steps=5"]
    # A suite started in the background (`cmd &` in a script) has SIGINT ignored, which a child inherits, and
    # Python then installs no KeyboardInterrupt handler. A handled signal is reset to the default at exec, so
    # the child starts as from a terminal.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        child = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    finally:
        signal.signal(signal.SIGINT, previous)
    deadline = time.time() + 300
    while time.time() < deadline and not (out / "recipe.yaml").exists():
        time.sleep(0.2)
    time.sleep(8)  # well into training
    child.send_signal(signal.SIGINT)
    _, err = child.communicate(timeout=300)
    assert child.returncode == 130, err[-2000:]
    assert "checkpoint saved:" in err
    checkpoints = list(out.glob("checkpoint-*/model.safetensors"))
    assert checkpoints and not (out / "DONE").exists()


def test_run_and_checkpoints_hold_no_pickle(tiny_encoder, tmp_path):
    out = tmp_path / "run"
    proc = run_cli("sst2", f"encoder={tiny_encoder}", f"train.output_dir={out}", "train.max_steps=4",
                   "train.save_strategy=steps", "train.save_steps=2", "train.eval_strategy=no")
    assert proc.returncode == 0, proc.stderr[-2000:]
    files = [p for p in out.rglob("*") if p.is_file()]
    assert not [str(p) for p in files if p.suffix in (".bin", ".pt", ".pth", ".pkl", ".pickle")]
    checkpoint = out / "checkpoint-4"
    for name in ("model.safetensors", "optimizer.safetensors", "scheduler.safetensors", "rng_state.safetensors"):
        assert (checkpoint / name).is_file(), name
    # every file has the mode of config.json (written by open()), not the 0600 of mkstemp and safetensors
    mode = (out / "config.json").stat().st_mode & 0o777
    assert {str(p.relative_to(out)): oct(p.stat().st_mode & 0o777) for p in files if p.stat().st_mode & 0o777 != mode} == {}


def test_resume_refuses_a_pickled_optimizer_state(tiny_encoder, tmp_path):
    out = tmp_path / "run"
    common = [f"encoder={tiny_encoder}", f"train.output_dir={out}", "train.max_steps=4", "train.save_strategy=steps",
              "train.save_steps=2", "train.eval_strategy=no"]
    proc = run_cli("sst2", *common)
    assert proc.returncode == 0, proc.stderr[-2000:]
    checkpoint = out / "checkpoint-2"
    (checkpoint / "optimizer.safetensors").rename(checkpoint / "optimizer.pt")
    proc = run_cli("sst2", *common, "train.max_steps=6", f"train.resume_from_checkpoint={checkpoint}")
    assert proc.returncode == 2
    assert "optimizer.pt" in proc.stderr and "pickle" in proc.stderr and "Traceback" not in proc.stderr


def test_overwrite_replaces_the_previous_run(tiny_encoder, tmp_path):
    out = tmp_path / "run"
    first = run_cli("sst2", f"encoder={tiny_encoder}", f"train.output_dir={out}", "train.max_steps=4",
                    "train.save_strategy=steps", "train.save_steps=2", f"data.test={ROOT}/recipes/data/sst2/dev.tsv")
    assert first.returncode == 0, first.stderr[-2000:]
    assert (out / "predictions_test.jsonl").is_file() and (out / "checkpoint-4").is_dir()
    again = run_cli("sst2", f"encoder={tiny_encoder}", f"train.output_dir={out}", "train.max_steps=1", "overwrite=true")
    assert again.returncode == 0, again.stderr[-2000:]
    # nothing of the first run is left to pass for the second's: no test predictions, no step-4 checkpoint
    assert not (out / "predictions_test.jsonl").exists() and not (out / "checkpoint-4").exists()
    assert set(json.loads((out / "metrics.json").read_text())) == {"validation"} and (out / "DONE").is_file()


def test_a_folder_in_use_by_another_run_is_refused(tiny_encoder, tmp_path):
    from bert_tasks.rundir import run_lock

    out = tmp_path / "busy"
    out.mkdir()
    (out / "checkpoint-3").mkdir()  # as the other run's
    with run_lock(out):  # this test process plays the other run
        proc = run_cli("sst2", f"encoder={tiny_encoder}", f"train.output_dir={out}", "overwrite=true")
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert f"train.output_dir '{out}' is in use by another run (process {os.getpid()})" in proc.stderr
    assert sorted(p.name for p in out.iterdir()) == ["checkpoint-3"]  # before: overwrite=true emptied it


def test_a_finished_run_under_home_tilde_is_kept(tiny_encoder, tmp_path, monkeypatch):
    # before: the checks and the lock looked at a literal ./~/run folder (and made it), while transformers
    # wrote to $HOME/run, so a second run replaced the finished one without overwrite=true
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # run_cli passes the environment on
    args = ("sst2", f"encoder={tiny_encoder}", "train.output_dir=~/run", "train.max_steps=1")
    first = run_cli(*args, cwd=tmp_path)
    assert first.returncode == 0, first.stderr[-2000:]
    assert (tmp_path / "home" / "run" / "DONE").is_file() and not (tmp_path / "~").exists()
    again = run_cli(*args, cwd=tmp_path)
    assert again.returncode == 2 and "holds a finished run" in again.stderr, again.stderr[-2000:]


def test_a_run_into_its_own_encoder_folder_is_refused(tiny_encoder, tmp_path):
    # before: the run saved its classifier over the encoder's model.safetensors and tokenizer
    import shutil

    encoder = tmp_path / "encoder"
    shutil.copytree(tiny_encoder, encoder)
    before = (encoder / "model.safetensors").read_bytes()
    for extra in ([], ["overwrite=true"]):
        proc = run_cli("sst2", f"encoder={encoder}", f"train.output_dir={encoder}/", "train.max_steps=1", *extra)
        assert proc.returncode == 2, proc.stderr[-2000:]
        assert f"is the folder of encoder '{encoder}': the run would save its model over" in proc.stderr
    assert (encoder / "model.safetensors").read_bytes() == before and not (encoder / "recipe.yaml").exists()
