"""Assemble a ``transformers.Trainer`` from a recipe, run it, and fill the run directory.

``build_trainer(recipe)`` returns a real ``Trainer`` (a thin subclass that only
keeps evaluation order and writes checkpoints without pickle, see :class:`TaskTrainer`); ``train(recipe)`` is what the
CLI runs: build, train, save, evaluate every split, write the run directory.

Run directory (``train.output_dir``):

=========================  ==================================================
``model.safetensors`` ...  model, config and tokenizer (``save_pretrained``)
``recipe.yaml``            the fully resolved recipe
``metrics.json``           ``{"validation": {...}, "test": {...}}``
``train_results.json``     runtime, examples/s, final training loss
``predictions_<split>``    one row per input (``.jsonl``)
``*.png``                  training curves, per-split plots of the task
``checkpoint-<step>/``     model + optimizer/scheduler/RNG state as safetensors
``data/<split>.parquet``   a split given from Python as a table in memory (named in recipe.yaml)
``DONE``                   written last: the run finished
=========================  ==================================================
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re
from collections.abc import Iterable
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from . import plots
from .checkpoint_state import load_state, save_state
from .config_check import closest
from .data import SPLITS, load_splits
from .encoder import load_tokenizer, load_with_hint, position_limit, remote_code, resolve_encoder
from .errors import UserError, shown
from .recipe import Recipe, load_recipe, read_yaml
from .rundir import (
    LOCK,
    FolderInUse,
    cannot_write,
    clear_finished,
    file_mode,
    held_here,
    is_finished,
    mark_finished,
    run_lock,
    write_json,
    write_text,
)
from .tables import is_table, save_tables
from .tasks import get_task
from .vocabulary import report_unknown, unknown_counts

log = logging.getLogger("bert_tasks")

OPTIMIZER_STATE = "optimizer.safetensors"
SCHEDULER_STATE = "scheduler.safetensors"
SCALER_STATE = "scaler.safetensors"


@dataclass
class Job:
    """Everything a run holds besides the Trainer's own state."""

    recipe: Recipe
    adapter: Any
    tokenizer: Any
    rows: dict  # split -> normalised Dataset (text, text_pair, label, ...)
    features: dict  # split -> encoded Dataset (input_ids, ...)
    sources: dict  # split -> where it came from
    cut: dict = field(default_factory=dict)  # split -> rows cut at data.max_length (rows_cut)
    unknown: dict = field(default_factory=dict)  # split -> (unknown word pieces, word pieces) (vocabulary)


def _trainer_class():
    import torch
    from transformers import Trainer

    class TaskTrainer(Trainer):
        """``Trainer`` whose evaluation and prediction keep the dataset's order.

        transformers 5 reuses ``LengthGroupedSampler`` for evaluation when
        ``train_sampling_strategy="group_by_length"``, which returns
        ``trainer.predict(ds)`` rows shuffled relative to ``ds``. Predictions
        files must line up with their inputs, so evaluation is sequential.
        """

        def __init__(self, *args: Any, job: Job | None = None, **kwargs: Any):
            super().__init__(*args, **kwargs)
            self.job = job
            # Every loss here is a per-batch mean: adapters' own, and the heads' (BERT's heads take
            # **kwargs, so transformers 5 would pass them num_items_in_batch, which they ignore, and
            # then not divide by the accumulation steps: gradient_accumulation_steps=2 doubled the
            # loss and the gradients). Trainer divides by the accumulation steps instead.
            self.model_accepts_loss_kwargs = False
            # A head's own loss over labelled tokens (tagging, masked LM) is its token mean, rescaled to
            # the mean over every token of the update (see compute_loss); under nn.DataParallel (several
            # GPUs, one process) each replica's mean is kept.
            self.token_mean = bool(job is not None and job.adapter.loss_over_tokens and self.compute_loss_func is None
                                   and self.args.n_gpu <= 1)
            self.loss_is_scaled_for_ga = self.token_mean

        def train(self, *args: Any, **kwargs: Any):
            # A Trainer from build_trainer() trained by hand locks its output_dir too (train() already holds it),
            # and its first train() starts the run there as train() does (start_run).
            if not self.is_world_process_zero():
                return super().train(*args, **kwargs)
            with locked_output_dir(self.args.output_dir):
                if self.job is not None and not getattr(self, "_run_started", False):
                    resume = args[0] if args else kwargs.get("resume_from_checkpoint")
                    start_run(self.job.recipe, Path(self.args.output_dir), resuming=bool(resume))
                    self._run_started = True  # later train() calls continue this run
                return super().train(*args, **kwargs)

        def get_batch_samples(self, epoch_iterator, num_batches: int, device: Any):
            # The labelled tokens of one update (all its accumulation steps), over every process with
            # train.average_tokens_across_devices (transformers counts them only for losses it passes them to).
            batches, count = super().get_batch_samples(epoch_iterator, num_batches, device)
            if self.token_mean and count is None and batches and "labels" in batches[0]:
                count = sum((batch["labels"] != -100).sum() for batch in batches).to(device)
                if self.args.average_tokens_across_devices and self.args.world_size > 1:
                    count = self.accelerator.gather(count).sum()
            return batches, count

        def compute_loss(self, model, inputs, return_outputs: bool = False, num_items_in_batch: Any = None):
            """A head's mean over the labelled tokens of its batch, times that batch's share of the
            update's tokens: the sum over the update's batches (and, summed by DDP's gradient average
            times the world size, its processes) is the mean over all of its tokens. So 2 accumulation
            steps of 8 rows, or 2 processes of 8, train as one batch of 16 (a mean of per-batch means
            weighs a batch of few tokens as much as one of many)."""
            if not self.token_mean or num_items_in_batch is None:
                return super().compute_loss(model, inputs, return_outputs=return_outputs, num_items_in_batch=num_items_in_batch)
            tokens = (inputs["labels"] != -100).sum()  # before the label smoother takes the labels out
            loss, outputs = super().compute_loss(model, inputs, return_outputs=True)  # this batch's token mean
            share = tokens / num_items_in_batch
            if self.args.average_tokens_across_devices:
                share = share * self.accelerator.num_processes
            loss = loss * share
            return (loss, outputs) if return_outputs else loss

        def prediction_step(self, model, inputs, prediction_loss_only: bool, ignore_keys: Any = None):
            # Under DDP accelerate completes each process's last evaluation batch with rows from the start
            # of the split, and drops their outputs where it gathers them, but the batch's loss is one mean
            # over all of its rows: that batch's loss is taken again over its own rows alone.
            loss, logits, labels = super().prediction_step(model, inputs, prediction_loss_only, ignore_keys=ignore_keys)
            own = self._own_rows(inputs)
            if loss is not None and own:
                own_inputs = {key: value[:own] for key, value in inputs.items()}
                loss = super().prediction_step(model, own_inputs, True, ignore_keys=ignore_keys)[0]
            return loss, logits, labels

        def _own_rows(self, inputs: dict) -> int | None:
            """How many rows of this last evaluation batch are the split's own (None: all, or none)."""
            state = self.accelerator.gradient_state
            if self.args.world_size <= 1 or not state.end_of_dataloader or state.remainder <= 0:
                return None
            from transformers.trainer_pt_utils import find_batch_size

            rows = find_batch_size(inputs)
            # the gathered batches, process after process, are cut to their first `remainder` rows
            own = min(max(state.remainder - self.args.process_index * rows, 0), rows)
            return own if 0 < own < rows else None

        def create_optimizer(self, model=None):
            decay = self.job.recipe.layer_lr_decay if self.job is not None else None
            if self.optimizer is None and decay is not None and decay != 1.0:
                from .layer_lr import parameter_groups

                target = self.model if model is None else model
                cls, kwargs = self.get_optimizer_cls_and_kwargs(self.args, target)
                groups = parameter_groups(
                    target, decay, kwargs.pop("lr", self.args.learning_rate), self.args.weight_decay,
                    self.get_decay_parameter_names(target),
                )
                self.optimizer = cls(groups, **kwargs)
            return super().create_optimizer(model)

        def predict(self, test_dataset, *args: Any, **kwargs: Any):
            # Adapters that map features back to rows (tagging windows) need to know the split.
            if self.job is not None:
                split = next((s for s, ds in self.job.features.items() if ds is test_dataset), None)
                self.job.adapter.eval_split = split
            try:
                return super().predict(test_dataset, *args, **kwargs)
            finally:
                if self.job is not None:
                    self.job.adapter.eval_split = "validation"

        def _set_signature_columns_if_needed(self) -> None:
            # Columns the adapter's collator reads (word ids for whole-word masking) survive
            # remove_unused_columns, which keeps only the model's forward arguments.
            fresh = self._signature_columns is None
            super()._set_signature_columns_if_needed()
            if fresh and self.job is not None:
                self._signature_columns += [c for c in self.job.adapter.collator_columns if c not in self._signature_columns]

        def _get_eval_sampler(self, eval_dataset):
            if self.args.world_size <= 1:
                return torch.utils.data.SequentialSampler(eval_dataset)
            return None  # accelerate shards in order and gathers in order

        # -- checkpoints without pickle: safetensors state files (see checkpoint_state.py) --
        def _engine_saves_state(self) -> bool:
            return bool(self.is_deepspeed_enabled or self.is_fsdp_enabled)

        def _save(self, output_dir: str | None = None, state_dict: dict | None = None) -> None:
            super()._save(output_dir, state_dict)
            # safetensors writes 0600 files whatever the umask (safetensors issue #782): give them open()'s mode
            for weights in Path(output_dir or self.args.output_dir).glob("*.safetensors"):
                os.chmod(weights, file_mode())
            # training_args.bin is a pickle of TrainingArguments; recipe.yaml records them instead.
            Path(output_dir or self.args.output_dir, "training_args.bin").unlink(missing_ok=True)
            if self.job is not None:  # so Predictor.from_run loads a checkpoint, or a model saved by hand
                write_text(Path(output_dir or self.args.output_dir, "recipe.yaml"), self.job.recipe.to_yaml())
                self.job.adapter.save_prepared(str(output_dir or self.args.output_dir))  # and evaluate scores it alike

        def _save_optimizer_and_scheduler(self, output_dir: str) -> None:
            if self._engine_saves_state():
                return super()._save_optimizer_and_scheduler(output_dir)
            if self.args.should_save:
                save_state(self.optimizer.state_dict(), Path(output_dir, OPTIMIZER_STATE))
                save_state(self.lr_scheduler.state_dict(), Path(output_dir, SCHEDULER_STATE))

        def _load_optimizer_and_scheduler(self, checkpoint: str | None) -> None:
            if checkpoint is None or self._engine_saves_state():
                return super()._load_optimizer_and_scheduler(checkpoint)
            opt, sched = Path(checkpoint, OPTIMIZER_STATE), Path(checkpoint, SCHEDULER_STATE)
            if opt.is_file() and sched.is_file():
                self.optimizer.load_state_dict(load_state(opt, device=self.args.device))
                self.lr_scheduler.load_state_dict(load_state(sched))
            elif Path(checkpoint, "optimizer.pt").is_file():
                raise UserError(
                    f"{checkpoint}: the optimizer state is a pickle (optimizer.pt), which bert_tasks does not load; "
                    "resume from a checkpoint written by bert_tasks, or start again with overwrite=true"
                )

        def _save_scaler(self, output_dir: str) -> None:
            scaler = getattr(self.accelerator, "scaler", None)
            if scaler is not None and self.args.should_save:
                save_state(scaler.state_dict(), Path(output_dir, SCALER_STATE))

        def _load_scaler(self, checkpoint: str | None) -> None:
            scaler = getattr(self.accelerator, "scaler", None)
            if checkpoint is not None and scaler is not None and Path(checkpoint, SCALER_STATE).is_file():
                scaler.load_state_dict(load_state(Path(checkpoint, SCALER_STATE)))

        def _rng_file(self, folder: str) -> Path:
            rank = f"_{self.args.process_index}" if self.args.world_size > 1 else ""
            return Path(folder, f"rng_state{rank}.safetensors")

        def _save_rng_state(self, output_dir: str) -> None:
            import random

            import numpy as np

            state = {"python": random.getstate(), "numpy": np.random.get_state(), "cpu": torch.random.get_rng_state()}
            if torch.cuda.is_available():
                distributed = self.args.world_size > 1
                state["cuda"] = torch.cuda.random.get_rng_state() if distributed else torch.cuda.random.get_rng_state_all()
            save_state(state, self._rng_file(output_dir))

        def _load_rng_state(self, checkpoint: str | None) -> None:
            import random

            import numpy as np

            if checkpoint is None or not self._rng_file(checkpoint).is_file():
                return
            state = load_state(self._rng_file(checkpoint))
            random.setstate(state["python"])
            np.random.set_state(state["numpy"])
            torch.random.set_rng_state(state["cpu"])
            if "cuda" in state and torch.cuda.is_available():
                if isinstance(state["cuda"], list):
                    torch.cuda.random.set_rng_state_all(state["cuda"])
                else:
                    torch.cuda.random.set_rng_state(state["cuda"])

    return TaskTrainer


def _stop_on_nonfinite_loss():
    """A callback that stops training at the first NaN/inf logged loss (the run is then reported as failed)."""
    import math

    from transformers import TrainerCallback

    class StopOnNonFiniteLoss(TrainerCallback):
        def __init__(self):
            self.bad_step: int | None = None

        def on_log(self, args, state, control, logs=None, **kwargs):
            # Trainer's logging_nan_inf_filter (on by default) hides a NaN loss from the logs,
            # but not the NaN gradient norm that comes with it.
            values = [(logs or {}).get(k) for k in ("loss", "grad_norm", "eval_loss")]
            bad = any(isinstance(v, (int, float)) and not math.isfinite(v) for v in values)
            if bad and self.bad_step is None:
                self.bad_step = state.global_step
                control.should_training_stop = True
                control.should_save = False

    return StopOnNonFiniteLoss()


def check_max_length(recipe: Recipe) -> None:
    """``data.max_length`` must fit the encoder's position embeddings (else it fails mid-training)."""
    from transformers import AutoConfig

    try:
        config = AutoConfig.from_pretrained(resolve_encoder(recipe.encoder), **remote_code(recipe.trust_remote_code))
    except (OSError, ValueError):  # loading the model will report what is wrong with the encoder
        return
    limit = position_limit(config)
    if limit is not None and limit[0] < recipe.data.max_length:  # before: an IndexError mid-training (roberta 513)
        raise UserError(
            f"data.max_length={recipe.data.max_length} is longer than encoder {recipe.encoder!r} accepts "
            f"({limit[1]}); set data.max_length={limit[0]} or less"
        )


def prepare_job(recipe: Recipe) -> Job:
    """Read, check and encode the data of ``recipe`` (no model yet)."""
    if recipe.data.train is None:  # before: Trainer's "training requires a train_dataset" after the model loaded
        raise UserError(
            f"{recipe.source or recipe.name}: data.train is not set; a run trains on it (a file, a list of files "
            "or a hub dataset name)"
        )
    adapter = get_task(recipe.task.name)(recipe.task)
    tokenizer = load_tokenizer(recipe.encoder, recipe.trust_remote_code, adapter.split_words)
    check_max_length(recipe)
    seed = int(recipe.train.get("data_seed") or recipe.train.get("seed", 42))
    raw, sources = load_splits(recipe.data, seed=seed)
    rows = adapter.prepare(raw, sources, recipe.data.columns)
    return encoded_job(recipe, adapter, tokenizer, rows, sources)


def encoded_job(recipe: Recipe, adapter: Any, tokenizer: Any, rows: dict, sources: dict) -> Job:
    """The adapter's rows tokenised (``datasets.map``, batched and cached), attached to it, as a Job;
    rows cut at ``data.max_length`` and word pieces unknown to the vocabulary are counted and reported."""
    encode = adapter.encode_fn(tokenizer, recipe.data.max_length)
    features = {}
    for split, ds in rows.items():
        drop = [c for c in ds.column_names if c != "label"]
        features[split] = ds.map(encode, batched=True, remove_columns=drop, desc=f"tokenizing {split}")
    adapter.attach(rows, features)
    job = Job(recipe, adapter, tokenizer, rows, features, sources)
    job.cut = rows_cut(job)
    for split, n in job.cut.items():
        total = len(features[split])
        (log.warning if n >= 0.01 * total else log.info)(
            "%s: %d of %d rows (%.1f%%) are longer than data.max_length=%d tokens and were cut to it; "
            "a larger data.max_length keeps them whole", split, n, total, 100 * n / total, recipe.data.max_length,
        )
    job.unknown = unknown_counts(features, tokenizer)
    report_unknown(job.unknown, rows, tokenizer, recipe.encoder)
    return job


def rows_cut(job: Job) -> dict[str, int]:
    """Split -> rows that encoding cut at ``data.max_length`` (empty for adapters that make windows).

    Counted from the encoded lengths, so cached encodings count too: the few rows that fill
    ``max_length`` are encoded again without the limit, to tell a cut row from one exactly that long.
    """
    if not job.adapter.cuts_at_max_length:
        return {}
    import pyarrow.compute as pc

    limit = job.recipe.data.max_length
    whole = job.adapter.encode_fn(job.tokenizer, 1 << 30)
    out = {}
    for split, ds in job.features.items():
        full = pc.greater_equal(pc.list_value_length(ds.with_format("arrow")["input_ids"]), limit)
        at_limit = [i for i, flag in enumerate(full.to_pylist()) if flag]
        if at_limit:
            again = whole(job.rows[split].select(at_limit)[:])["input_ids"]
            n = sum(len(ids) > limit for ids in again)
            if n:
                out[split] = n
    return out


def check_best_metric(recipe: Recipe, job: Job) -> None:
    """``train.metric_for_best_model`` is a metric the task reports (else it fails at the first evaluation)."""
    metric = recipe.train.get("metric_for_best_model")
    names = job.adapter.metric_names() if metric and "validation" in job.features else None
    if names is None:
        return
    valid = ["loss", *names]
    if metric.removeprefix("eval_") not in valid:
        raise UserError(
            f"train.metric_for_best_model '{metric}' is not a metric of task {recipe.task.name}"
            f"{closest(metric.removeprefix('eval_'), valid)}; its metrics: {', '.join(valid)}"
        )


# TrainingArguments values the toolkit's evaluation depends on: another value fails deep in Trainer or
# in compute_metrics (before: a KeyError on metric_for_best_model, a signature ValueError, ...).
NEEDED_ARGUMENTS = {
    "prediction_loss_only": (False, "metrics and prediction files are made from the model's outputs"),
    "eval_do_concat_batches": (True, "metrics score a whole split at once"),
    "batch_eval_metrics": (False, "metrics score a whole split at once"),
    "remove_unused_columns": (True, "the encoded rows carry word ids and windows that the model must not get"),
}


def training_arguments(recipe: Recipe):
    """``TrainingArguments(**recipe.train)``; its own checks become :class:`UserError`."""
    from transformers import TrainingArguments

    _check_needed_arguments(recipe.train)
    kwargs = {k: v for k, v in recipe.train.items() if k != "resume_from_checkpoint"}
    if "use_cpu" not in kwargs:
        # transformers 5 sets up DDP on CPU (torchrun / accelerate launch, gloo) only with use_cpu=True;
        # without it every process trains alone on all the data.
        import torch

        kwargs["use_cpu"] = not (torch.cuda.is_available() or torch.backends.mps.is_available())
    try:
        args = TrainingArguments(**kwargs)
    except (ValueError, TypeError) as e:
        # transformers names its keys as command-line flags (--logging_steps): here they are recipe keys
        fields = {f.name for f in dataclasses.fields(TrainingArguments)}
        message = re.sub(r"--(\w+)", lambda m: f"train.{m[1]}" if m[1] in fields else m[0], str(e))
        raise UserError(f"train: {message}") from None
    _check_packages(args)
    _check_hub(args)
    _check_label_smoothing(args, recipe, get_task(recipe.task.name).no_label_smoothing)
    if args.fp16 and args.use_cpu:  # accelerate enables fp16 autocast on GPUs only: fp32 here, silently
        bf16 = "; this CPU computes bf16 natively: train.bf16=true is mixed precision here" if native_bf16() else ""
        log.warning("train.fp16 on a CPU: accelerate trains in fp32 there (fp16 mixed precision is for GPUs)%s", bf16)
    if args.bf16 and args.use_cpu and not native_bf16():
        log.warning("train.bf16 on a CPU without native bf16 (AVX-512 BF16 or AMX): it is emulated, about 17x "
                    "slower than fp32 (measured on AVX2); mixed precision is for GPUs: set train.bf16=false here")
    return args


def _check_needed_arguments(train: dict) -> None:
    """The ``NEEDED_ARGUMENTS`` keys, when a recipe sets them, hold the values the toolkit needs."""
    for key, (needed, why) in NEEDED_ARGUMENTS.items():
        if key in train and train[key] != needed:
            given, needed_text = (str(v).lower() if isinstance(v, bool) else repr(v) for v in (train[key], needed))
            raise UserError(f"train.{key}={given}: bert_tasks needs {needed_text} here ({why}); remove the key")


def native_bf16() -> bool:
    """Whether this CPU computes bf16 in hardware (oneDNN's own test; False where torch lacks it)."""
    import torch

    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def _check_label_smoothing(args: Any, recipe: Recipe, why: str) -> None:
    """Trainer's label smoother reaches only the head's own softmax loss (before: ignored silently, or a
    shape error at the first step); ``why``: the task's reason it cannot apply, or ""."""
    if args.label_smoothing_factor and why:
        raise UserError(f"train.label_smoothing_factor: task {recipe.task.name} cannot use it ({why}); remove it")


def _check_hub(args: Any) -> None:
    """``train.push_to_hub`` in offline mode or without a token fails now, before data and model
    load (before: Trainer's own error once they had, "OfflineModeIsEnabled" or a 401)."""
    if not args.push_to_hub:
        return
    from huggingface_hub import constants, get_token

    if constants.HF_HUB_OFFLINE:
        raise UserError("train.push_to_hub: offline mode is on (HF_HUB_OFFLINE); unset it, or set "
                        "train.push_to_hub=false and upload the run directory later")
    if not (args.hub_token or get_token()):
        raise UserError("train.push_to_hub: no Hugging Face token here; log in (hf auth login), set HF_TOKEN "
                        "or train.hub_token, or set train.push_to_hub=false")


def _check_packages(args: Any) -> None:
    """A logger or optimizer whose package is missing fails now, before data and model load
    (before: once training had started). Trainer's own look-ups say which package."""
    from transformers import Trainer
    from transformers.integrations.integration_utils import get_reporting_integration_callbacks

    try:
        for callback in get_reporting_integration_callbacks(args.report_to):
            callback()  # as Trainer builds them: a missing package raises here
    except (ImportError, RuntimeError) as e:
        raise UserError(f"train.report_to {args.report_to}: {e}") from None
    try:
        Trainer.get_optimizer_cls_and_kwargs(args)
    except ImportError as e:
        raise UserError(f"train.optim '{getattr(args.optim, 'value', args.optim)}': {e}") from None
    except (ValueError, TypeError, NotImplementedError):
        return  # GaLore, LOMO, ... need the model: Trainer checks them when it builds the optimizer


def build_trainer(recipe: Recipe | str, overrides: Iterable[str] = ()):
    """A ready ``transformers.Trainer`` for a recipe (name, path or :class:`Recipe`).

    Model, datasets, collator and ``compute_metrics`` are in place; the toolkit's
    state (adapter, raw rows) is on ``trainer.job``.

    Example:
        >>> trainer = build_trainer("sst2", ["encoder=embedded", "train.max_steps=20"])  # doctest: +SKIP
        >>> trainer.train(); trainer.evaluate()  # doctest: +SKIP
    """
    from transformers import set_seed

    recipe = load_recipe(recipe, overrides)
    args = training_arguments(recipe)
    job = prepare_job(recipe)
    check_best_metric(recipe, job)
    set_seed(args.seed)  # the new head's initialisation depends on it
    model = build_model(recipe, job)
    trainer = task_trainer(model, args, job)
    trainer.add_callback(_stop_on_nonfinite_loss())
    if recipe.early_stopping_patience is not None:
        from transformers import EarlyStoppingCallback

        trainer.add_callback(EarlyStoppingCallback(recipe.early_stopping_patience, recipe.early_stopping_threshold))
    return trainer


def build_model(recipe: Recipe, job: Job) -> Any:
    """The adapter's model on the recipe's encoder. A model that pads by a token id it does not know
    (GPT-2's sequence head finds each row's last token by it) takes the tokenizer's."""
    model = load_with_hint(
        recipe.encoder, lambda path: job.adapter.build_model(path, **remote_code(recipe.trust_remote_code))
    )
    if getattr(model.config, "pad_token_id", None) is None and job.tokenizer.pad_token_id is not None:
        model.config.pad_token_id = job.tokenizer.pad_token_id
    return model


def task_trainer(model: Any, args: Any, job: Job) -> Any:
    """The toolkit's ``Trainer`` over ``job``'s splits (train and validation where it has them)."""
    return _trainer_class()(
        model=model,
        args=args,
        train_dataset=job.features.get("train"),
        eval_dataset=job.features.get("validation"),
        processing_class=job.tokenizer,
        data_collator=job.adapter.collator(job.tokenizer),
        compute_metrics=job.adapter.compute_metrics,
        compute_loss_func=_loss_function(job.adapter, args),
        preprocess_logits_for_metrics=job.adapter.preprocess_logits(),
        job=job,
    )


def _loss_function(adapter: Any, args: Any) -> Any:
    """The adapter's own loss, if it has one, smoothed as ``train.label_smoothing_factor`` says (Trainer's
    smoother applies only to a head's own loss; adapters whose loss cannot be smoothed refuse it before)."""
    loss = adapter.loss_function()
    if loss is not None and args.label_smoothing_factor:
        return partial(loss, label_smoothing=args.label_smoothing_factor)
    return loss


def _resume_path(recipe: Recipe) -> str | bool | None:
    value = recipe.train.get("resume_from_checkpoint")
    if value == "auto":
        from transformers.trainer_utils import get_last_checkpoint

        out = recipe.train["output_dir"]
        return get_last_checkpoint(out) if os.path.isdir(out) else None
    return value


def start_run(recipe: Recipe, out: Path, resuming: bool) -> None:
    """What the first ``train()`` of a run does to ``train.output_dir`` (the CLI's, and a
    :func:`build_trainer` Trainer's trained by hand): a finished run or an unfinished one's checkpoints
    there are refused, or with ``overwrite: true`` removed, so that none of their files (a checkpoint
    that checkpoint rotation or ``resume_from_checkpoint=auto`` would take) passes for this run's; then
    ``recipe.yaml`` is written. Resuming (or a recipe that asks to) keeps the folder as it is."""
    if not (resuming or recipe.train.get("resume_from_checkpoint")):
        _check_output_dir(recipe)
        if recipe.overwrite:
            _clear_previous_run(out)
    clear_finished(out)
    save_tables(recipe.data, out)  # splits given as tables in memory: kept with the run, named in recipe.yaml
    write_text(out / "recipe.yaml", recipe.to_yaml())


def _check_output_dir(recipe: Recipe) -> None:
    out = recipe.train["output_dir"]
    if os.path.exists(out) and not os.path.isdir(out):
        raise UserError(f"train.output_dir '{out}' is a file, not a folder; choose another train.output_dir")
    encoder = resolve_encoder(recipe.encoder)
    if os.path.isdir(out) and os.path.isdir(encoder) and os.path.samefile(out, encoder) and not _holds_run(Path(out)):
        # before: the run saved its model over the encoder's own files (a pretrained model folder lost)
        raise UserError(
            f"train.output_dir '{out}' is the folder of encoder '{recipe.encoder}': the run would save its model "
            f"over the encoder's files; choose another train.output_dir"
        )
    if recipe.train.get("resume_from_checkpoint"):
        return
    if recipe.overwrite:
        _check_nothing_read_from(out, recipe)
        return
    if is_finished(out):
        raise UserError(
            f"train.output_dir '{out}' holds a finished run; choose another train.output_dir, "
            f"or set overwrite=true to replace it"
        )
    old = _checkpoints(out)
    if old:  # a fresh start would mix them with its own, and resume_from_checkpoint=auto would pick the newest
        raise UserError(
            f"train.output_dir '{out}' holds checkpoints of an unfinished run ({', '.join(old)}); resume it with "
            f"train.resume_from_checkpoint=auto, or set overwrite=true to start again (its files are removed)"
        )


def _check_nothing_read_from(out: str | os.PathLike, recipe: Recipe) -> None:
    """``overwrite: true`` empties a run folder: refuse when the recipe reads a file inside it."""
    folder = Path(out).resolve()
    if not _holds_run(folder):
        return  # nothing will be removed
    inputs = [("the recipe", recipe.source), ("encoder", recipe.encoder)]
    for split in ("train", "validation", "test"):
        spec = getattr(recipe.data, split)
        if not is_table(spec):
            inputs += [(f"data.{split}", p) for p in (spec if isinstance(spec, list) else [spec])]
    for what, p in inputs:
        if p and Path(os.path.expanduser(str(p))).resolve().is_relative_to(folder):
            raise UserError(
                f"overwrite=true would empty train.output_dir '{out}', but {what} ({p}) is inside it; "
                f"choose another train.output_dir, or move it out first"
            )


def _holds_run(folder: Path) -> bool:
    """A finished run (``DONE``) or an unfinished one's checkpoints: what ``overwrite: true`` replaces."""
    return is_finished(folder) or bool(_checkpoints(folder))


def _checkpoints(out: str | os.PathLike) -> list[str]:
    from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

    folder = Path(out)
    found = folder.glob(f"{PREFIX_CHECKPOINT_DIR}-*") if folder.is_dir() else []
    return sorted((p.name for p in found if p.is_dir()), key=lambda n: (len(n), n))


def _clear_previous_run(out: Path) -> None:
    """``overwrite: true``: a folder holding a previous run (``DONE`` or checkpoints) is emptied, so that
    none of its files (a checkpoint, a split's predictions) passes for this run's. A folder without them
    is left as it is (a ``recipe.yaml`` alone is no sign of a run: it may be the user's own)."""
    if not _holds_run(out):
        return
    import shutil

    clear_finished(out)  # first: a folder half-emptied is never taken for a finished run
    for entry in out.iterdir():
        if entry.name == LOCK:  # this run's own lock
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()


def _check_resume(recipe: Recipe) -> None:
    """``train.resume_from_checkpoint`` names a folder that exists, of the same recipe (checked before
    anything loads)."""
    value = recipe.train.get("resume_from_checkpoint")
    if isinstance(value, str) and value != "auto" and not os.path.isdir(value):
        raise UserError(
            f"train.resume_from_checkpoint '{value}': no such checkpoint folder; give a checkpoint-N folder, "
            f"or auto (the newest checkpoint in train.output_dir, if there is one)"
        )
    _check_resume_matches(recipe)


def _check_resume_matches(recipe: Recipe) -> None:
    """Resuming continues the checkpoint's run: a checkpoint whose recipe.yaml has another task,
    encoder or ``layer_lr_decay`` is refused before anything loads (before: labels given in another
    order trained on silently, another task failed on its weights' shapes, another layer decay on
    the optimizer's groups); other data only warns (the files may have moved)."""
    path = _resume_path(recipe)
    saved_file = Path(path, "recipe.yaml") if isinstance(path, str) else None
    if saved_file is None or not saved_file.is_file():
        return  # nothing to compare with (a checkpoint written before checkpoints held their recipe)
    try:
        saved = load_recipe(read_yaml(saved_file)).to_dict()
    except UserError:
        return  # a recipe this version cannot read: Trainer's own checks remain
    now = recipe.to_dict()
    for split in SPLITS:  # a table held in memory is not compared with the file its run wrote of it
        if is_table(getattr(recipe.data, split)):
            now["data"][split] = saved["data"].get(split)

    def changed(section: str) -> list[str]:
        if not isinstance(now[section], dict):
            return [section] if now[section] != saved[section] else []
        keys = dict.fromkeys([*now[section], *saved[section]])
        return [f"{section}.{k}" for k in keys if now[section].get(k) != saved[section].get(k)]

    def shown_key(key: str) -> str:
        section, _, name = key.partition(".")
        there, here = (r[section].get(name) if name else r[section] for r in (saved, now))
        return f"{key} {shown(there)} there, {shown(here)} here"

    refused = changed("task") + changed("encoder") + changed("layer_lr_decay")
    if "task.name" in refused:  # another task: its other options say nothing more
        refused = ["task.name"]
    if refused:
        raise UserError(
            f"train.resume_from_checkpoint: {path} was trained with another recipe ({'; '.join(map(shown_key, refused))}); "
            f"resume with the recipe it was trained with ({saved_file}), or start a new run"
        )
    moved = changed("data")
    if moved:
        log.warning("resuming %s with other data than it was trained on: %s", path, "; ".join(map(shown_key, moved)))


def evaluate_splits(trainer: Any, splits: Iterable[str] = ("validation", "test")) -> dict:
    """Predict every given split, write its predictions and plots; return ``{split: metrics}``."""
    job: Job = trainer.job
    out_dir = trainer.args.output_dir
    outputs = {s: trainer.predict(job.features[s], metric_key_prefix=s) for s in splits if s in job.features}
    if not trainer.is_world_process_zero():  # under DDP every rank has the gathered outputs; one writes
        return {}
    if "validation" in outputs:  # thresholds and the like are fitted on validation only
        job.adapter.calibrate(outputs["validation"])
    job.adapter.save(out_dir)
    results = {}
    for split, output in outputs.items():
        detailed = job.adapter.report(split, job.rows[split], output, out_dir)
        if not detailed:  # unlabelled split: predictions only
            log.info("%s: no labels, predictions written only", split)
            continue
        scalars = {k[len(split) + 1 :]: v for k, v in output.metrics.items() if k.startswith(f"{split}_")}
        # Trainer's scalars (loss, runtime) plus the adapter's full report (per class, ...).
        results[split] = {**scalars, **detailed}
    return results


def train(recipe: Recipe | str, overrides: Iterable[str] = ()) -> tuple[str, dict]:
    """Train a recipe end to end, exactly as ``python -m bert_tasks.run`` does.

    Args:
        recipe: a :class:`Recipe`, a shipped recipe name, or a YAML path.
        overrides: ``key=value`` strings applied to the recipe.

    Returns:
        (run directory, ``{"validation": {...}, "test": {...}}``).
    """
    recipe = load_recipe(recipe, overrides)
    with _holding_output_dir(recipe):
        return _train(recipe)


def writes_the_run() -> bool:
    """True in the process that writes the run folder: rank 0 under torchrun / accelerate launch
    (before any process group exists), the only process otherwise."""
    return os.environ.get("RANK", "0") == "0"


@contextmanager
def _holding_output_dir(recipe: Recipe):
    """The process that writes the run folder (rank 0) locks it for the whole run: a second run into
    the same folder (another terminal, a second job) is refused before it reads anything."""
    if not writes_the_run():
        yield  # other ranks write nothing
        return
    with locked_output_dir(recipe.train["output_dir"]):
        yield


@contextmanager
def locked_output_dir(out: str | os.PathLike):
    """Hold ``out``'s run lock (see :func:`rundir.run_lock`), its failures as one-line errors.

    Nothing is taken when this process holds it already (``train()`` around ``trainer.train()``), or
    when ``out`` is a file (``_check_output_dir`` names that)."""
    if held_here(out) or (os.path.exists(out) and not os.path.isdir(out)):
        yield
        return
    stack = ExitStack()
    try:
        stack.enter_context(run_lock(out))
    except FolderInUse as e:
        by = f" (process {e.pid})" if e.pid else ""
        raise UserError(
            f"train.output_dir '{out}' is in use by another run{by}; wait for it to end, or choose another "
            f"train.output_dir"
        ) from None
    except OSError as e:  # before: a bare FileNotFoundError / PermissionError once the model had loaded
        raise UserError(f"train.output_dir '{out}': cannot write there ({cannot_write(out, e)})") from None
    with stack:
        yield


def _train(recipe: Recipe) -> tuple[str, dict]:
    _check_output_dir(recipe)
    _check_resume(recipe)
    trainer = build_trainer(recipe)
    out = Path(trainer.args.output_dir)
    try:  # the first train() starts the run in train.output_dir (start_run)
        result = trainer.train(resume_from_checkpoint=_resume_path(recipe))
    except KeyboardInterrupt:
        # Ctrl-C: keep the work done so far as a checkpoint that train.resume_from_checkpoint=auto picks up.
        trainer._save_checkpoint(trainer.model, trial=None)
        from transformers.trainer_utils import get_last_checkpoint

        raise KeyboardInterrupt(f"checkpoint saved: {get_last_checkpoint(str(out))}") from None
    return finish_run(trainer, result)


def finish_run(trainer: Any, result: Any = None) -> tuple[str, dict]:
    """Write the rest of the run directory after ``trainer.train()``, as :func:`train` does.

    For a :func:`build_trainer` Trainer trained by your own code (callbacks, several ``train`` calls):
    the model and tokenizer, the Trainer's state, ``train_results.json`` (from ``result``, the
    ``TrainOutput`` that ``trainer.train()`` returned, or else the state's last training summary),
    the training curves, every split evaluated with its predictions and plots, ``metrics.json``, and
    last the ``DONE`` marker that ``Predictor.from_run`` and ``predict`` look for.

    Returns:
        (run directory, ``{"validation": {...}, "test": {...}}``).
    """
    if getattr(trainer, "job", None) is None:
        raise UserError("finish_run takes a Trainer made by bert_tasks.build_trainer (it reads trainer.job)")
    out = Path(trainer.args.output_dir)
    main = trainer.is_world_process_zero()  # under torchrun / accelerate, rank 0 writes the run directory
    guard = next((c for c in trainer.callback_handler.callbacks if type(c).__name__ == "StopOnNonFiniteLoss"), None)
    if guard is not None and guard.bad_step is not None:
        from transformers.trainer_utils import get_last_checkpoint

        last = get_last_checkpoint(str(out)) if out.is_dir() else None
        raise UserError(
            f"the training loss became NaN/inf at step {guard.bad_step}; the run stopped without finishing. "
            f"Last good checkpoint: {last or 'none'}. Lower train.learning_rate or check the data"
        )
    with locked_output_dir(out) if main else ExitStack():
        trainer.save_model(str(out))
        trainer.save_state()
        if main:
            summary = result.metrics if result is not None else next(
                (dict(e) for e in reversed(trainer.state.log_history) if "train_runtime" in e), None)
            if summary is not None:
                write_json(out / "train_results.json", {k: v for k, v in summary.items() if k != "step"})
            recipe = trainer.job.recipe
            metric = recipe.train.get("metric_for_best_model") or trainer.job.adapter.default_metric
            plots.training_curves(trainer.state.log_history, out / "training_curves.png", metric)

        metrics = evaluate_splits(trainer)
        if main:
            write_json(out / "metrics.json", metrics)
            mark_finished(out)
    return str(out), metrics


def dry_run(recipe: Recipe | str, overrides: Iterable[str] = ()) -> dict:
    """Load data and model, encode, and describe the run without training.

    Returns:
        ``splits`` (split -> rows read: sentences, questions, pairs; a task's summary
        counts the windows of long ones), the task's ``summary`` (label set, ...),
        ``first_example`` (tokens and segment ids of train's first row), and
        ``parameters`` of the model.
    """
    recipe = load_recipe(recipe, overrides)
    training_arguments(recipe)
    job = prepare_job(recipe)
    model = build_model(recipe, job)
    first_split = next(iter(job.features))
    first = job.features[first_split][0]
    example = {
        "split": first_split,
        "tokens": job.tokenizer.convert_ids_to_tokens(first["input_ids"]),
        "segment_ids": first.get("token_type_ids"),
    }
    if "label" in first:
        example["label"] = first["label"]
    example.update(job.adapter.describe_example(first))
    return {
        "splits": {s: len(job.rows[s]) for s in job.features},
        "sources": job.sources,
        **job.adapter.summary(),
        "rows_cut_at_max_length": job.cut,
        "unknown_word_pieces": {s: round(unknown / pieces, 4) if pieces else 0.0 for s, (unknown, pieces) in job.unknown.items()},
        "first_example": example,
        "parameters": sum(p.numel() for p in model.parameters()),
    }
