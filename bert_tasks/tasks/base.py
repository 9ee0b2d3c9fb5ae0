"""The task-adapter contract and its registry.

An adapter is everything task-specific around the shared encoder and the HF
``Trainer``: which columns it reads, how rows become features, which head it
puts on the encoder, its loss (usually the head's own), metrics, and how raw
model outputs become predictions. Core code calls only these hooks.

Hooks, in the order a run calls them:

============================  =================================================
``prepare(splits, ...)``      rename columns to roles, map labels; returns splits
``encode_fn(tokenizer, n)``   a batched ``datasets.map`` function -> features
``build_model(path)``         the encoder with this task's head
``collator(tokenizer)``       batches features (dynamic padding)
``preprocess_logits()``       shrink logits before Trainer gathers them (None: keep)
``loss_function()``           a custom loss for ``Trainer`` (None: the head's own)
``compute_metrics(pred)``     scalar metrics for ``Trainer`` (best-checkpoint pick)
``calibrate(output)``         fit post-processing (thresholds) on validation output
``save(run_dir)``             write that post-processing state next to the model
``save_prepared(folder)``     write what ``prepare`` took from train (loss weights) with each saved model
``report(...)``               full metrics + predictions file + plots of a split
``predict(...)``              raw inputs -> predictions (used by ``Predictor``)
============================  =================================================
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from ..config_check import closest
from ..errors import UserError

TASKS: dict[str, type[TaskAdapter]] = {}
log = logging.getLogger("bert_tasks")


@dataclass
class TaskOptions:
    """Options every task has. Adapters subclass this with their own fields."""

    name: str = field(default="", metadata={"help": "Which adapter: see `python -m bert_tasks.run --list`."})
    model_config: dict = field(
        default_factory=dict,
        metadata={"help": "Config values set when the encoder is loaded, e.g. {hidden_dropout_prob: 0.0}."},
    )


def register_task(cls: type[TaskAdapter]) -> type[TaskAdapter]:
    """Class decorator: make an adapter reachable by its ``name`` from recipes."""
    if not cls.name:
        raise ValueError(f"{cls.__name__} needs a non-empty `name` to be registered")
    TASKS[cls.name] = cls
    return cls


def get_task(name: str, where: str = "recipe") -> type[TaskAdapter]:
    """The adapter class registered under ``name``."""
    try:
        return TASKS[name]
    except KeyError:
        raise UserError(
            f"{where}: unknown task.name '{name}'{closest(name, TASKS)}; registered tasks: {', '.join(sorted(TASKS))}"
        ) from None


class TaskAdapter:
    """Base class of task adapters. Subclasses set the class attributes and override hooks."""

    name: ClassVar[str] = ""
    Options: ClassVar[type] = TaskOptions
    column_roles: ClassVar[tuple[str, ...]] = ()
    default_metric: ClassVar[str] = "loss"
    greater_is_better: ClassVar[bool] = True
    # True when encode_fn truncates a row at data.max_length (False: long rows become windows)
    cuts_at_max_length: ClassVar[bool] = False
    # Why train.label_smoothing_factor cannot apply to this task's loss ("": Trainer's smoother does)
    no_label_smoothing: ClassVar[str] = ""
    # True when the head's own loss is a mean over labelled tokens (labels != -100), whose number varies
    # from batch to batch: the Trainer then weighs each batch by its tokens, so that accumulation steps
    # and processes train as one batch would (train.average_tokens_across_devices: true by default)
    loss_over_tokens: ClassVar[bool] = False
    # Encoded columns that the collator reads although the model does not take them (Trainer keeps them)
    collator_columns: ClassVar[tuple[str, ...]] = ()
    # True when encode_fn tokenises words split beforehand (is_split_into_words): byte-level BPE
    # tokenizers (RoBERTa, GPT-2) are then loaded with add_prefix_space, as each word follows a space
    split_words: ClassVar[bool] = False

    def __init__(self, options: Any):
        self.options = options
        self.eval_split: str | None = "validation"  # the split compute_metrics is scoring

    # -- data ---------------------------------------------------------------
    def prepare(self, splits: dict, sources: dict[str, str], columns: dict | None = None) -> dict:
        """Check and normalise raw splits (``datasets.Dataset`` each).

        ``sources`` names each split's files for error messages; ``columns`` is
        the recipe's ``data.columns`` (role -> column name).
        """
        raise NotImplementedError

    def encode_fn(self, tokenizer: Any, max_length: int) -> Callable[[dict], dict]:
        """A batched map function from normalised rows to model features."""
        raise NotImplementedError

    def attach(self, rows: dict, features: dict) -> None:
        """Called once the splits are encoded: adapters whose post-processing maps
        features back to rows (windows -> sentences) keep them here (default: nothing)."""

    def describe_example(self, feature: dict) -> dict:
        """Lines that ``--dry-run`` adds to its first encoded example (``feature``: one encoded row),
        for a task whose collator changes what the model sees (default: none)."""
        return {}

    def collator(self, tokenizer: Any) -> Callable:
        from transformers import DataCollatorWithPadding

        return DataCollatorWithPadding(tokenizer)

    # -- model --------------------------------------------------------------
    def build_model(self, encoder_path: str, **load_kwargs: Any) -> Any:
        raise NotImplementedError

    def loss_function(self) -> Callable | None:
        """``Trainer(compute_loss_func=...)``: ``f(outputs, labels, num_items_in_batch) -> loss``.
        Trainer's label smoother never reaches it: unless ``no_label_smoothing`` says why it cannot,
        it takes ``label_smoothing=train.label_smoothing_factor`` too."""
        return None

    def preprocess_logits(self) -> Callable | None:
        """``Trainer(preprocess_logits_for_metrics=...)``: ``f(logits, labels) -> what compute_metrics
        and report receive``, for outputs too large to gather whole (default None: the logits)."""
        return None

    # -- evaluation ---------------------------------------------------------
    def calibrate(self, output: Any) -> None:
        """Fit post-processing on the validation split's ``PredictionOutput`` (default: nothing)."""

    def save(self, run_dir: str) -> None:
        """Write post-processing state (thresholds, ...) into the run directory (default: nothing)."""

    def save_prepared(self, folder: str) -> None:
        """Write what :meth:`prepare` derived from the train split and the loss depends on (class
        weights, label frequencies) into ``folder``, beside every saved model (the run's and each
        checkpoint's), so that scoring it later without the train split gives the same loss
        (default: nothing). :meth:`from_run` reads it back."""

    def compute_metrics(self, eval_pred: Any) -> dict[str, float]:
        raise NotImplementedError

    def metric_names(self) -> list[str] | None:
        """The names :meth:`compute_metrics` returns, known once the data are prepared, so that a
        misspelt ``metric_for_best_model`` fails before training, not at the first evaluation.
        None: not known in advance (nothing is checked)."""
        return None

    def report(self, split: str, rows: Any, output: Any, run_dir: str) -> dict:
        """Full metrics of a split; writes its predictions and plots into ``run_dir``."""
        raise NotImplementedError

    def summary(self) -> dict:
        """What ``--dry-run`` prints about the task (label set, ...)."""
        return {}

    # -- saving and prediction ---------------------------------------------
    @classmethod
    def load_model(cls, run_dir: str) -> Any:
        """The trained model of a run directory (safetensors only)."""
        raise NotImplementedError

    @classmethod
    def from_run(cls, options: Any, model: Any, run_dir: str) -> TaskAdapter:
        """Rebuild the adapter's state (labels, thresholds) from a finished run."""
        return cls(options)

    def predict(self, model: Any, tokenizer: Any, inputs: list, batch_size: int = 64, max_length: int = 512) -> list[dict]:
        raise NotImplementedError

    #: Fields of a raw input row, in order (a tab-separated text line fills them by position).
    input_fields: ClassVar[tuple[str, ...]] = ("text", "text_pair")

    #: What one raw input of :meth:`predict` is, for error messages.
    input_help: ClassVar[str] = "a text (str) or a (text, text_pair) pair of str"

    @classmethod
    def accepts(cls, x: Any) -> bool:
        """Whether ``x`` is one raw input of :meth:`predict` (``input_help`` says what that is)."""
        return isinstance(x, str) or is_str_pair(x)

    def make_input(self, row: dict) -> Any:
        """One raw input for :meth:`predict` from a row of an input file (default: text or (text, text_pair))."""
        if "text" not in row:
            raise UserError(f"an input row needs a 'text' field; its fields: {list(row)}")
        return (row["text"], row["text_pair"]) if row.get("text_pair") is not None else row["text"]


def sequence_logits(
    model: Any, tokenizer: Any, texts: list[str], pairs: list[str] | None, batch_size: int, max_length: int
):
    """Logits of a sequence-level model for raw texts (and pairs), in input order.

    Everything is tokenised in one call, then batched by token count so each batch pads little;
    a BERT encoder computes its last layer at ``[CLS]`` only (see :mod:`..cls_forward`).
    Shape (n, outputs).
    """
    import numpy as np
    import torch

    from ..cls_forward import cls_only

    if not texts:
        return np.zeros((0, 0), dtype=np.float32)
    encoded = tokenizer(texts, pairs, truncation=True, max_length=max_length)
    at_limit = [i for i, ids in enumerate(encoded["input_ids"]) if len(ids) >= max_length]
    if at_limit:  # cut, or exactly that long: one more token tells
        longer = tokenizer([texts[i] for i in at_limit], [pairs[i] for i in at_limit] if pairs else None,
                           truncation=True, max_length=max_length + 1)["input_ids"]
        cut = sum(len(ids) > max_length for ids in longer)
        if cut:
            log.warning("predict: %d of %d input(s) are longer than %d tokens (the run's data.max_length) and were "
                        "cut to it; set predictor.max_length (or data.max_length=N after --input) to read more", cut, len(texts), max_length)
    keys = [k for k in ("input_ids", "token_type_ids", "attention_mask") if k in encoded]
    order = sorted(range(len(texts)), key=lambda i: len(encoded["input_ids"][i]))
    out = None
    model.eval()
    with torch.inference_mode(), cls_only(model):
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            width = len(encoded["input_ids"][idx[-1]])
            batch = {}
            for k in keys:  # right padding: pad id for input_ids, 0 for segment ids and the mask
                fill = (tokenizer.pad_token_id or 0) if k == "input_ids" else 0
                rows = [encoded[k][i] + [fill] * (width - len(encoded[k][i])) for i in idx]
                batch[k] = torch.tensor(rows, dtype=torch.long, device=model.device)
            logits = model(**batch).logits.float().cpu().numpy()
            if out is None:
                out = np.zeros((len(texts), logits.shape[-1]), dtype=np.float32)
            out[idx] = logits
    return out


def is_str_pair(x: Any) -> bool:
    """Whether ``x`` is a (str, str) pair: a tuple or a list of two strings."""
    return isinstance(x, (tuple, list)) and len(x) == 2 and all(isinstance(s, str) for s in x)


def encode_quietly(rows: Any, encode: Callable[[dict], dict]) -> Any:
    """``rows.map(encode, batched=True)`` without datasets' progress bar: a Predictor call is one
    step of the caller's loop, not a job (``transformers.pipeline`` shows none either)."""
    from datasets.utils.logging import disable_progress_bar, enable_progress_bar, is_progress_bar_enabled

    shown = is_progress_bar_enabled()
    disable_progress_bar()
    try:
        return rows.map(encode, batched=True, remove_columns=rows.column_names)
    finally:
        if shown:
            enable_progress_bar()


def class_names(feature: Any) -> list[str] | None:
    """The label names of a ClassLabel feature, or of a list of them (hub and parquet datasets keep
    labels as ids and their names in the features); None for any other feature."""
    from datasets import ClassLabel

    inner = getattr(feature, "feature", feature)
    return list(inner.names) if isinstance(inner, ClassLabel) else None


def split_inputs(inputs: list) -> tuple[list[str], list[str] | None]:
    """Raw inputs (``str`` or ``(a, b)`` pairs) -> (texts, pairs or None)."""
    singles = sum(isinstance(x, str) for x in inputs)
    if 0 < singles < len(inputs):
        other = next(i for i, x in enumerate(inputs) if isinstance(x, str) != isinstance(inputs[0], str))
        kinds = ("a pair", "a single text") if isinstance(inputs[0], str) else ("a single text", "a pair")
        raise UserError(
            f"predict: the inputs mix {singles} single texts and {len(inputs) - singles} (text, text_pair) pairs "
            f"(input 0 is {kinds[1]}, input {other} {kinds[0]}); give one kind per call", index=other
        )
    if inputs and not singles:
        return [x[0] for x in inputs], [x[1] for x in inputs]
    return list(inputs), None
