import json

import pytest

from bert_tasks.errors import UserError
from bert_tasks.recipe import list_recipes
from bert_tasks.training import build_trainer


@pytest.mark.parametrize("name", [name for name, _ in list_recipes()])
def test_metric_names_are_what_evaluation_reports(name, tiny_encoder, tmp_path):
    trainer = build_trainer(name, [f"encoder={tiny_encoder}", f"train.output_dir={tmp_path}", "train.report_to=none"])
    names = trainer.job.adapter.metric_names()
    assert names, "every shipped task knows its metrics before training"
    reported = trainer.evaluate()
    assert {f"eval_{n}" for n in names} <= set(reported), (names, sorted(reported))
    default = trainer.job.adapter.default_metric
    assert default in ["loss", *names]


def test_a_misspelt_best_metric_fails_before_training(tiny_encoder, tmp_path):
    with pytest.raises(UserError, match=r"train.metric_for_best_model 'acuracy' is not a metric of task classification "
                                        r"\(did you mean 'accuracy'\?\); its metrics: loss, accuracy, macro_f1"):
        build_trainer("sst2", [f"encoder={tiny_encoder}", f"train.output_dir={tmp_path}",
                               "train.metric_for_best_model=acuracy"])
    trainer = build_trainer("sst2", [f"encoder={tiny_encoder}", f"train.output_dir={tmp_path}",
                                     "train.metric_for_best_model=eval_f1_positive"])  # Trainer's eval_ prefix is fine
    assert trainer.args.metric_for_best_model == "eval_f1_positive"


def test_output_dir_of_a_previous_run(tmp_path):
    """A finished run is kept unless overwrite=true; an unfinished run's checkpoints are not silently mixed
    with a fresh start; overwrite=true empties a run folder, and leaves a folder that is no run alone."""
    from bert_tasks.recipe import load_recipe
    from bert_tasks.training import _check_output_dir, _clear_previous_run

    out = tmp_path / "run"
    (out / "checkpoint-10").mkdir(parents=True)
    (out / "checkpoint-9").mkdir()
    (out / "predictions_test.jsonl").write_text("{}\n")

    def check(*overrides):
        _check_output_dir(load_recipe("sst2", [f"train.output_dir={out}", *overrides]))

    with pytest.raises(UserError, match=r"holds checkpoints of an unfinished run \(checkpoint-9, checkpoint-10\); "
                                        r"resume it with train.resume_from_checkpoint=auto, or set overwrite=true"):
        check()
    check("train.resume_from_checkpoint=auto")
    check("overwrite=true")
    (out / "DONE").write_text("finished\n")
    with pytest.raises(UserError, match="holds a finished run; choose another train.output_dir, or set overwrite=true"):
        check()

    # overwrite=true refuses to empty a folder the recipe reads from (before: the data file was removed)
    (out / "mine.tsv").write_text("sentence\tlabel\n")
    with pytest.raises(UserError, match=r"overwrite=true would empty train.output_dir .*, but data.validation "
                                        r"\(.*mine.tsv\) is inside it"):
        check("overwrite=true", f"data.validation={out}/mine.tsv")
    with pytest.raises(UserError, match=r"but encoder \(.*run\) is inside it"):
        check("overwrite=true", f"encoder={out}")

    _clear_previous_run(out)
    assert out.is_dir() and not list(out.iterdir())
    other = tmp_path / "project"  # no DONE and no checkpoint: not a run, nothing removed
    other.mkdir()
    (other / "recipe.yaml").write_text("task: classification\n")
    _clear_previous_run(other)
    assert (other / "recipe.yaml").is_file()


def test_rows_cut_at_max_length_are_counted_exactly(tiny_encoder, tmp_path, caplog):
    from transformers import AutoTokenizer

    from bert_tasks.recipe import load_recipe
    from bert_tasks.training import prepare_job, rows_cut

    tokenizer = AutoTokenizer.from_pretrained(tiny_encoder)
    texts = ["a gorgeous film", "dull", "a gorgeous , witty film that never drags", "the film is dull and lifeless"]
    lengths = [len(tokenizer(t)["input_ids"]) for t in texts]
    limit = sorted(lengths)[1]  # one row exactly this long (kept whole), two longer (cut)
    (tmp_path / "t.tsv").write_text("sentence\tlabel\n" + "".join(f"{t}\t{i % 2}\n" for i, t in enumerate(texts)))
    recipe = load_recipe("sst2", [f"encoder={tiny_encoder}", f"data.train={tmp_path}/t.tsv", "~data.validation",
                                  f"data.max_length={limit}", f"train.output_dir={tmp_path}/out"])
    with caplog.at_level("INFO", logger="bert_tasks"):
        job = prepare_job(recipe)
    cut = sum(n > limit for n in lengths)
    assert cut >= 1 and rows_cut(job) == {"train": cut}
    assert f"train: {cut} of 4 rows (" in caplog.text and f"longer than data.max_length={limit} tokens" in caplog.text
    # windowed tasks never cut a row
    job.adapter.cuts_at_max_length = False
    assert rows_cut(job) == {}


def test_a_trainer_trained_by_hand_locks_its_output_dir(tiny_encoder, tmp_path):
    import subprocess
    import sys

    from bert_tasks.rundir import LOCK

    out = tmp_path / "busy"
    hold = "import sys\nfrom bert_tasks.rundir import run_lock\nwith run_lock(sys.argv[1]):\n print('held', flush=True)\n sys.stdin.read()"
    other = subprocess.Popen([sys.executable, "-c", hold, str(out)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    trainer = build_trainer("sst2", [f"encoder={tiny_encoder}", f"train.output_dir={out}", "train.report_to=none",
                                     "train.max_steps=2", "train.save_strategy=steps", "train.save_steps=1"])
    try:
        assert other.stdout.readline() == "held\n"
        with pytest.raises(UserError, match=rf"'{out}' is in use by another run \(process {other.pid}\)"):
            trainer.train()  # before: trained into the folder the other run was writing
        assert sorted(p.name for p in out.iterdir()) == [LOCK]
    finally:
        other.communicate("")
    trainer.train()
    assert sorted(p.name for p in out.iterdir()) == ["checkpoint-1", "checkpoint-2", "recipe.yaml"]  # lock released

    # a checkpoint, and a model saved by hand, load as runs (before: "not a run directory (no recipe.yaml)")
    from bert_tasks import Predictor

    trainer.save_model()
    direct = trainer.predict(trainer.job.features["validation"]).predictions.argmax(-1)[:3].tolist()
    for folder in (out, out / "checkpoint-2"):
        got = Predictor.from_run(folder).predict(trainer.job.rows["validation"]["text"][:3])
        assert [trainer.model.config.label2id[p["label"]] for p in got] == direct


@pytest.mark.parametrize("override, package, says", [
    ("train.report_to=wandb", "wandb", r"train.report_to \['wandb'\]: WandbCallback requires wandb"),
    ("train.optim=adamw_bnb_8bit", "bitsandbytes", r"train.optim 'adamw_bnb_8bit': You need to install `bitsandbytes`"),
])
def test_a_missing_logger_or_optimizer_package_fails_before_anything_loads(override, package, says, tmp_path):
    import importlib.util

    if importlib.util.find_spec(package):
        pytest.skip(f"{package} is installed here")
    # the encoder does not exist: an error about the package shows it was checked before the model loads
    with pytest.raises(UserError, match=says):  # before: once data and model had loaded and training began
        build_trainer("sst2", ["encoder=/nonexistent/encoder", f"train.output_dir={tmp_path / 'r'}", override])
    assert not (tmp_path / "r").exists()


def test_push_to_hub_offline_or_without_a_token_fails_before_anything_loads(tmp_path, monkeypatch):
    from huggingface_hub import constants

    # the encoder does not exist: an error about the hub shows it was checked before the model loads
    overrides = ["encoder=/nonexistent/encoder", f"train.output_dir={tmp_path / 'r'}", "train.push_to_hub=true"]
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(UserError, match=r"train.push_to_hub: offline mode is on \(HF_HUB_OFFLINE\)"):
        build_trainer("sst2", overrides)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))  # no stored token there
    monkeypatch.setattr(constants, "HF_TOKEN_PATH", str(tmp_path / "hf" / "token"))
    with pytest.raises(UserError, match=r"train.push_to_hub: no Hugging Face token here; log in"):
        build_trainer("sst2", overrides)
    assert not (tmp_path / "r").exists()


def test_bf16_on_a_cpu_without_it_warns(tmp_path, monkeypatch, caplog):
    import torch

    from bert_tasks import load_recipe, training

    if torch.cuda.is_available():
        pytest.skip("bf16 runs on the GPU here")
    recipe = load_recipe("sst2", [f"train.output_dir={tmp_path}", "train.bf16=true"])
    for native, warned in ((False, True), (True, False)):
        monkeypatch.setattr(training, "native_bf16", lambda native=native: native)
        caplog.clear()
        with caplog.at_level("WARNING", logger="bert_tasks"):
            assert training.training_arguments(recipe).bf16
        assert ("train.bf16 on a CPU without native bf16" in caplog.text) is warned, caplog.text
    monkeypatch.undo()
    assert training.native_bf16() in (True, False)  # torch's own test answers here


def test_resume_refuses_a_checkpoint_of_another_recipe(tmp_path, caplog):
    # before: labels in another order trained on silently; another task failed on the weights' shapes
    # and another layer_lr_decay on the optimizer's parameter groups, after data and model had loaded
    from bert_tasks import load_recipe
    from bert_tasks.training import _check_resume_matches

    out = tmp_path / "run"
    checkpoint = out / "checkpoint-2"
    checkpoint.mkdir(parents=True)
    base = [f"train.output_dir={out}"]
    (checkpoint / "recipe.yaml").write_text(load_recipe("sst2", base).to_yaml(), encoding="utf-8")

    def check(*overrides, recipe="sst2", resume=str(checkpoint)):
        _check_resume_matches(load_recipe(recipe, [*base, f"train.resume_from_checkpoint={resume}", *overrides]))

    check("train.learning_rate=1e-5", "train.max_steps=9")  # the schedule may change
    for resume in (str(checkpoint), "auto"):  # auto: the newest checkpoint of train.output_dir
        with pytest.raises(UserError, match=r"task.labels \{0: 'negative', 1: 'positive'\} there, \{0: 'positive', "
                                            r"1: 'negative'\} here\); resume with the recipe it was trained with"):
            check("task.labels={0: positive, 1: negative}", resume=resume)
    with pytest.raises(UserError, match=r"another recipe \(task.name 'classification' there, 'tagging' here\); "):
        check(recipe="conll2003")
    with pytest.raises(UserError, match=r"\(layer_lr_decay null there, 0.8 here\)"):
        check("layer_lr_decay=0.8")
    with pytest.raises(UserError, match=r"\(encoder 'embedded' there, '/elsewhere' here\)"):
        check("encoder=/elsewhere")
    with caplog.at_level("WARNING", logger="bert_tasks"):
        check("data.max_length=40")
    assert "with other data than it was trained on: data.max_length 66 there, 40 here" in caplog.text
    (checkpoint / "recipe.yaml").unlink()  # a checkpoint without its recipe: nothing to compare
    check("task.labels={0: positive, 1: negative}")


@pytest.mark.parametrize("name, says", [
    ("goemotions", "task multilabel cannot use it \\(its loss is a sigmoid per label"),  # before: Trainer warned, dropped it
    ("goemotions_multihead", "task multihead cannot use it"),  # before: a shape error at the first step
    ("squad", "task span_qa cannot use it \\(its loss is over start and end positions"),  # before: ignored silently
    ("sst2", None), ("conll2003", None),  # Trainer's smoother: one class id per row or per token
])
def test_label_smoothing_is_refused_where_the_loss_cannot_take_it(name, says, tmp_path):
    from bert_tasks import load_recipe
    from bert_tasks.training import training_arguments

    recipe = load_recipe(name, [f"train.output_dir={tmp_path}", "train.label_smoothing_factor=0.1"])
    if says is None:
        assert training_arguments(recipe).label_smoothing_factor == 0.1
    else:
        with pytest.raises(UserError, match=f"^train.label_smoothing_factor: {says}"):
            training_arguments(recipe)


@pytest.mark.parametrize("override, says", [
    ("prediction_loss_only=true", "needs false here \\(metrics and prediction files"),  # before: KeyError eval_f1
    ("eval_do_concat_batches=false", "needs true here \\(metrics score a whole split"),  # before: ValueError in metrics
    ("batch_eval_metrics=true", "needs false here"),  # before: compute_metrics "must take a compute_result"
    ("remove_unused_columns=false", "needs true here \\(the encoded rows carry"),  # before: "Unable to create tensor"
])
def test_arguments_the_evaluation_depends_on_are_named(override, says, tmp_path):
    from bert_tasks import load_recipe
    from bert_tasks.training import training_arguments

    with pytest.raises(UserError, match=f"^train.{override}: bert_tasks {says}"):
        training_arguments(load_recipe("conll2003", [f"train.output_dir={tmp_path}", f"train.{override}"]))
    same = override.replace("true", "x").replace("false", "true").replace("x", "false")  # the value it needs: fine
    assert training_arguments(load_recipe("conll2003", [f"train.output_dir={tmp_path}", f"train.{same}"]))


def test_a_recipe_without_train_data_is_named_before_anything_loads(tmp_path):
    # the encoder does not exist: the error about data.train shows it came first
    with pytest.raises(UserError, match=r"sst2.yaml: data.train is not set; a run trains on it"):
        build_trainer("sst2", ["encoder=/nonexistent/encoder", f"train.output_dir={tmp_path}", "data.train=null"])


def test_finish_run_completes_a_run_trained_by_hand(tiny_encoder, tmp_path, caplog):
    import json

    from bert_tasks import Predictor, finish_run

    out = tmp_path / "run"
    trainer = build_trainer("sst2", [f"encoder={tiny_encoder}", f"train.output_dir={out}", "train.max_steps=3"])
    trainer.train()  # the user's own call; the TrainOutput is not kept
    run_dir, metrics = finish_run(trainer)
    assert run_dir == str(out) and (out / "DONE").is_file()
    assert json.loads((out / "metrics.json").read_text())["validation"]["accuracy"] == metrics["validation"]["accuracy"]
    results = json.loads((out / "train_results.json").read_text())
    assert {"train_runtime", "train_loss", "epoch"} <= set(results) and "step" not in results
    for name in ("model.safetensors", "recipe.yaml", "trainer_state.json", "training_curves.png",
                 "predictions_validation.jsonl", "confusion_matrix_validation.png"):
        assert (out / name).is_file(), name
    with caplog.at_level("WARNING", logger="bert_tasks"):
        Predictor.from_run(run_dir).predict(["a fine film"])
    assert "DONE" not in caplog.text  # before: "no DONE marker" for any run not made by train()
    with pytest.raises(UserError, match="finish_run takes a Trainer made by bert_tasks.build_trainer"):
        from transformers import Trainer, TrainingArguments

        finish_run(Trainer(model=trainer.model, args=TrainingArguments(str(tmp_path / "plain"), use_cpu=True)))


def test_a_trainer_trained_by_hand_starts_its_run_as_train_does(tiny_encoder, tmp_path):
    from bert_tasks import finish_run, train

    out = tmp_path / "run"
    base = [f"encoder={tiny_encoder}", f"train.output_dir={out}", "train.save_strategy=steps", "train.save_steps=2",
            "train.eval_strategy=steps", "train.eval_steps=2"]
    train("sst2", [*base, "train.max_steps=6"])
    trainer = build_trainer("sst2", [*base, "train.max_steps=4"])
    with pytest.raises(UserError, match=r"holds a finished run; .*or set overwrite=true"):
        trainer.train()  # before: trained into the finished run's folder, its DONE and checkpoint-6 left there
    assert (out / "DONE").is_file() and (out / "checkpoint-6").is_dir()  # refused before anything changed
    trainer = build_trainer("sst2", [*base, "train.max_steps=4", "overwrite=true"])
    trainer.train()
    assert sorted(p.name for p in out.iterdir()) == ["checkpoint-2", "checkpoint-4", "recipe.yaml"]
    trainer.train()  # a second call continues the same run: nothing is refused or removed
    finish_run(trainer)
    assert (out / "DONE").is_file()
    trainer = build_trainer("sst2", [*base, "train.max_steps=2", "train.resume_from_checkpoint=auto"])
    trainer.train(resume_from_checkpoint=True)  # resuming keeps the folder (here: nothing left to train)
    assert (out / "checkpoint-4").is_dir()


def test_fp16_on_a_cpu_says_it_trains_in_fp32(tiny_encoder, tmp_path, monkeypatch, caplog):
    import torch

    from bert_tasks import training

    if torch.cuda.is_available():
        pytest.skip("fp16 runs on the GPU here")
    overrides = [f"encoder={tiny_encoder}", f"train.output_dir={tmp_path}", "train.fp16=true"]
    with caplog.at_level("WARNING", logger="bert_tasks"):
        trainer = build_trainer("sst2", overrides)
    assert "train.fp16 on a CPU: accelerate trains in fp32 there" in caplog.text
    assert trainer.args.fp16 and not trainer.accelerator.native_amp  # what the warning says: no autocast
    for native, hinted in ((True, True), (False, False)):
        monkeypatch.setattr(training, "native_bf16", lambda native=native: native)
        caplog.clear()
        with caplog.at_level("WARNING", logger="bert_tasks"):
            training.training_arguments(trainer.job.recipe)
        assert ("train.bf16=true is mixed precision here" in caplog.text) is hinted


@pytest.mark.parametrize("name", ["sst2", "goemotions", "conll2003"])  # the head's own loss, an adapter's loss function, a loss over tokens
def test_gradient_accumulation_trains_as_one_larger_batch(name, tiny_encoder, tmp_path):
    """Before: transformers 5 passed num_items_in_batch to BERT's heads (they take **kwargs), which
    ignore it, and then left the loss undivided: gradient_accumulation_steps=2 doubled the loss and
    the gradients."""
    from bert_tasks.training import train

    logs = {}
    for batch, steps in ((16, 1), (8, 2), (4, 4)):
        train(name, [
            f"encoder={tiny_encoder}", f"train.output_dir={tmp_path / str(steps)}", "train.max_steps=2",
            "train.logging_steps=1", f"train.per_device_train_batch_size={batch}",
            f"train.gradient_accumulation_steps={steps}", "train.train_sampling_strategy=sequential",
            "train.eval_strategy=no", "~data.validation", "~data.test",
            "task.model_config={hidden_dropout_prob: 0.0, attention_probs_dropout_prob: 0.0}",
        ])
        history = json.loads((tmp_path / str(steps) / "trainer_state.json").read_text())["log_history"]
        logs[steps] = [v for e in history if "loss" in e for v in (e["loss"], e["grad_norm"])]
    assert len(logs[1]) == 4  # two steps' loss and gradient norm
    for steps in (2, 4):
        assert logs[steps] == pytest.approx(logs[1], rel=1e-4)


def test_transformers_argument_errors_name_recipe_keys_not_flags(tmp_path):
    # before: "... requires non-zero --logging_steps" (transformers' command-line flag)
    from bert_tasks.recipe import load_recipe
    from bert_tasks.training import training_arguments

    with pytest.raises(UserError, match=r"^train: .*requires non-zero train\.logging_steps$"):
        training_arguments(load_recipe("sst2", [f"train.output_dir={tmp_path}", "train.logging_steps=0"]))


@pytest.mark.parametrize("kind, usable", [("roberta", 30), ("bert", 32)])
def test_max_length_fits_the_positions_the_encoder_can_number(kind, usable, tmp_path):
    # RoBERTa numbers positions from pad_token_id + 1: of 32 embeddings, 30 tokens (roberta-base: 514, 512)
    import torch
    from transformers import AutoConfig, AutoModel

    from bert_tasks.recipe import load_recipe
    from bert_tasks.training import check_max_length

    config = AutoConfig.for_model(kind, vocab_size=50, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                                  num_attention_heads=2, max_position_embeddings=32, pad_token_id=1)
    model = AutoModel.from_config(config).eval()
    model.save_pretrained(tmp_path / kind)
    with torch.no_grad():
        model(input_ids=torch.full((1, usable), 5))  # the longest input it takes
        with pytest.raises(RuntimeError):  # index out of bounds (the token_type_ids buffer)
            model(input_ids=torch.full((1, usable + 1), 5))
    check_max_length(load_recipe("sst2", [f"encoder={tmp_path / kind}", f"data.max_length={usable}"]))
    with pytest.raises(UserError, match=rf"data.max_length={usable + 1} is longer .* set data.max_length={usable} or less"):
        check_max_length(load_recipe("sst2", [f"encoder={tmp_path / kind}", f"data.max_length={usable + 1}"]))


def test_max_length_is_not_capped_for_relative_positions_only(tmp_path):
    # DeBERTa-v3 (position_biased_input false) has no absolute position embeddings: 512 is no limit
    import torch
    from transformers import DebertaV2Config, DebertaV2Model

    from bert_tasks.recipe import load_recipe
    from bert_tasks.training import check_max_length

    config = DebertaV2Config(vocab_size=50, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                             num_attention_heads=2, max_position_embeddings=32, position_biased_input=False,
                             relative_attention=True, position_buckets=8, pos_att_type=["p2c", "c2p"])
    model = DebertaV2Model(config).eval()
    model.save_pretrained(tmp_path)
    with torch.no_grad():
        assert model(input_ids=torch.full((1, 100), 5)).last_hidden_state.shape == (1, 100, 16)
    check_max_length(load_recipe("sst2", [f"encoder={tmp_path}", "data.max_length=100"]))
