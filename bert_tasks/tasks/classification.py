"""Single-sentence and sentence-pair classification (BERT paper, sections 4.1).

``[CLS] A [SEP]`` or ``[CLS] A [SEP] B [SEP]`` with segment ids 0/1; the
``[CLS]`` vector (through BERT's pooler) -> linear -> softmax, cross-entropy.
The head is transformers' standard ``AutoModelForSequenceClassification``, so a
finished run loads in ``pipeline("text-classification", model=run_dir)``.

Columns (roles -> default column name): ``text`` -> ``text``, ``text_pair`` ->
``text_pair`` (optional: present means pairs), ``label`` -> ``label``.

Example (piecemeal, with your own Trainer):
    >>> from bert_tasks.tasks.classification import Classification, ClassificationOptions
    >>> ad = Classification(ClassificationOptions(name="classification"))
    >>> splits = ad.prepare({"train": train_ds, "validation": dev_ds}, {})   # doctest: +SKIP
    >>> features = splits["train"].map(ad.encode_fn(tokenizer, 128), batched=True)  # doctest: +SKIP
"""

from __future__ import annotations

import json
import logging
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Literal

import numpy as np

from .. import plots
from ..config_check import closest
from ..data import check_text_column
from ..errors import UserError, shown
from ..metrics import classification_metrics
from ..rundir import write_json, write_jsonl
from .base import TaskAdapter, TaskOptions, class_names, register_task, sequence_logits, split_inputs

log = logging.getLogger("bert_tasks")

CLASS_WEIGHTS = "class_weights.json"  # task.class_weights resolved: a later evaluate's loss weighs the same


@dataclass
class SequenceOptions(TaskOptions):
    """Options of every head on the [CLS] vector."""

    pooler: Literal["auto", "pretrained", "identity"] = field(
        default="auto",
        metadata={
            "help": "Start of BERT's [CLS] pooler (dense + tanh): 'identity' passes [CLS] through; 'pretrained' keeps "
            "the checkpoint's; 'auto' = identity when the checkpoint's pooler is untrained (all-zero bias)."
        },
    )


@dataclass
class ClassificationOptions(SequenceOptions):
    labels: list | dict | None = field(
        default=None,
        metadata={
            "help": "Label values as written in the data, in class-id order; or a mapping "
            "{value in data: display name}. Default: the sorted labels of train."
        },
    )
    positive_label: str | int | None = field(
        default=None,
        metadata={"help": "Binary labels: the positive class for f1/precision/recall (default: the second label)."},
    )
    swap_pairs: bool = field(
        default=False,
        metadata={"help": "Pairs: also train on every pair in swapped order (for symmetric relations, e.g. paraphrase)."},
    )
    class_weights: list | dict | Literal["balanced"] | None = field(
        default=None,
        metadata={
            "help": "Weights of the classes in the cross-entropy loss, for imbalanced labels: 'balanced' (train rows / "
            "(classes x the class's train rows), as scikit-learn), a list in class-id order, or a mapping {label "
            "value or name: weight} (others 1). Default: none (plain cross-entropy)."
        },
    )


_WHOLE_NUMBER = re.compile(r"[+-]?(0|[1-9][0-9]*)(\.0*)?")  # 1, +1, 1.0; not 01, which keeps its zero
_TRUTH = {"true": "True", "false": "False"}  # the words pandas reads as booleans (True, TRUE, true)


def plain_number(text: str) -> str:
    """A whole number written as a float or with a sign ('1.0', '+1', as a float column saved by pandas
    has them) as the integer's digits; any other text (``'01'``, ``'1.5'``, ``'pos'``) as it is."""
    return str(int(float(text))) if _WHOLE_NUMBER.fullmatch(text) else text


def label_key(value: Any) -> str:
    """Labels are compared as stripped strings: 1, 1.0, '1', ' 1' and '1.0' are one label, as are True
    and 'true'; '01' is not '1' (csv/tsv cells are read as written)."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = plain_number(str(value).strip())
    return _TRUTH.get(text.lower(), text)


def is_missing(value: Any) -> bool:
    """A label cell with nothing in it: null, NaN (pandas' empty cell) or blank text."""
    return value is None or (isinstance(value, float) and math.isnan(value)) or label_key(value) == ""


def _check_one_label_per_row(labels: list, where: str, column: str) -> None:
    """Every row of a labelled split has one label; a blank cell (or NaN, null) would otherwise become a class
    of its own ('' or 'nan') when the labels are inferred from train, and so would a list ('[1, 3]')."""
    for row, value in enumerate(labels):
        if is_missing(value):
            raise UserError(f"{where}, row {row + 1}: no label in column '{column}' ({shown(value)}); "
                            f"every row of a labelled split needs one")
        if isinstance(value, (list, tuple, dict)):
            several = "; for rows with several labels, task.name=multilabel" if not isinstance(value, dict) else ""
            raise UserError(f"{where}, row {row + 1}: the label in column '{column}' is a "
                            f"{type(value).__name__} ({shown(value)}); a classification row has one label{several}")


def check_labels(items: list[str], where: str, what: str = "label") -> None:
    """Labels given in a recipe are distinct and not blank; else a :class:`UserError` naming ``where``.

    Two values with one name, or one name twice, would give the model two classes that its
    ``id2label`` (and so ``pipeline``) cannot tell apart, and a later one would silently win the
    name-to-id map.
    """
    seen: dict[str, int] = {}
    for i, item in enumerate(items):
        if not item.strip():
            raise UserError(f"{where}: {what} {i + 1} is blank; each label needs a {what}")
        if item in seen:
            raise UserError(
                f"{where}: the {what} '{item}' is given twice ({what}s {seen[item] + 1} and {i + 1}); "
                f"each label needs its own"
            )
        seen[item] = i


def _sorted_labels(values: set[str]) -> list[str]:
    try:
        return sorted(values, key=float)
    except ValueError:
        return sorted(values)


def init_pooler(model: Any, mode: str) -> str:
    """Set BERT's pooler to pass the [CLS] vector through (W = I, b = 0), per ``mode``.

    Sentence-embedding checkpoints such as all-MiniLM-L6-v2 ship a pooler that was
    never trained (random weights of std 0.01, zero bias): it shrinks [CLS] to a
    small random projection and slows the new head's start. The architecture is
    unchanged, so the run stays a standard ``*ForSequenceClassification``.

    Returns what was done: 'identity', 'pretrained', or 'none' (no pooler).
    """
    import torch

    pooler = getattr(getattr(model, "base_model", model), "pooler", None)
    dense = getattr(pooler, "dense", None)
    if dense is None:
        if mode == "identity":  # e.g. DistilBERT and RoBERTa, whose heads read the encoder's [CLS] vector without one
            log.warning("task.pooler=identity: %s has no BERT pooler (dense + tanh) to start; nothing was changed",
                        type(model).__name__)
        return "none"
    if mode == "pretrained":
        return "pretrained"
    if mode == "auto" and bool(dense.bias.detach().abs().max() > 0):
        return "pretrained"
    with torch.no_grad():
        dense.weight.copy_(torch.eye(*dense.weight.shape, dtype=dense.weight.dtype))
        dense.bias.zero_()
    return "identity"


def select_columns(
    splits: dict, sources: dict[str, str], columns: dict, label_roles: list[str], keep: tuple[str, ...] = ()
) -> tuple[dict, bool]:
    """Keep and rename the text and label columns of every split to their role names.

    Args:
        splits: split -> ``datasets.Dataset`` as read.
        sources: split -> its files, for messages.
        columns: ``data.columns`` (role -> column name; a role's default column is its own name).
        label_roles: roles that hold labels: required in train and validation, optional in test.
        keep: further column names to keep unchanged (e.g. one 0/1 column per label).

    Returns:
        (the renamed splits, whether the data are text pairs).
    """
    col = {role: columns.get(role, role) for role in ["text", "text_pair", *label_roles]}
    train = splits.get("train")
    pair = "text_pair" in columns or (train is not None and col["text_pair"] in train.column_names)
    roles = ["text", "text_pair"] if pair else ["text"]
    out = {}
    for split, ds in splits.items():
        where = f"{split} split ({sources.get(split, 'data')})"
        needed = roles + (label_roles if split != "test" else [])
        for role in needed:
            if col[role] not in ds.column_names:
                raise UserError(
                    f"{where}: no column '{col[role]}' for role '{role}'{closest(col[role], ds.column_names)}; "
                    f"columns are {ds.column_names}. Map one with data.columns.{role}=<column>"
                )
        for name in keep:
            if name not in ds.column_names and split != "test":
                raise UserError(f"{where}: no column '{name}'{closest(name, ds.column_names)}; columns are {ds.column_names}")
        for role in roles:
            check_text_column(ds, col[role], where, role)
        chosen = {col[r]: r for r in roles + label_roles if col[r] in ds.column_names}
        chosen.update({k: k for k in keep if k in ds.column_names})
        ds = ds.select_columns(list(chosen)).rename_columns({k: v for k, v in chosen.items() if k != v})
        out[split] = ds
    return out, pair


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def class_weights(given: Any, names: list[str], train_ids: Any, index: dict[str, int], key: str,
                  shown_labels: str, saved: list[float] | None = None) -> list[float] | None:
    """Class weights as one positive number per class id, from what ``key`` gives: 'balanced' (train
    rows / (classes x the class's train rows), scikit-learn's rule, over ``train_ids``), a list in
    class-id order, or a mapping {label value or name (``index``: label key -> id): weight}, others 1.
    'balanced' without train (``train_ids`` None: scoring a finished run or checkpoint) is the weights
    it saved, ``saved``."""
    k = len(names)
    if given == "balanced" and train_ids is None:
        if saved is None:  # a folder saved by hand, without them
            log.warning("%s=balanced: no train split and no %s here, so the loss reported is unweighted "
                        "(metrics are not affected)", key, CLASS_WEIGHTS)
        return saved
    if given == "balanced":
        counts = np.bincount(np.asarray(train_ids, dtype=int), minlength=k)
        if (absent := [names[i] for i in range(k) if counts[i] == 0]):
            raise UserError(f"{key}=balanced: no train rows of label {absent[0]!r}; "
                            "give the weights as a list or a mapping instead")
        return [float(counts.sum() / (k * c)) for c in counts]
    if isinstance(given, list):
        if len(given) != k:
            raise UserError(f"{key} has {len(given)} values for {k} labels {names}")
        weights = list(given)
    else:
        weights = [1.0] * k
        for label, weight in given.items():
            if label_key(label) not in index:
                raise UserError(f"{key}: '{label}' is not a label {shown_labels}")
            weights[index[label_key(label)]] = weight
    for i, w in enumerate(weights):
        if isinstance(w, bool) or not isinstance(w, (int, float)) or not math.isfinite(w) or w <= 0:
            raise UserError(f"{key}: the weight of '{names[i]}' must be a positive number, got {w!r}")
    return [float(w) for w in weights]


@register_task
class Classification(TaskAdapter):
    """One label per text or text pair, softmax over the label set."""

    name = "classification"
    Options = ClassificationOptions
    column_roles = ("text", "text_pair", "label")
    default_metric = "accuracy"
    cuts_at_max_length = True

    def __init__(self, options: ClassificationOptions):
        super().__init__(options)
        self.values: list[str] = []  # label values as in the data, by class id
        self.names: list[str] = []  # display names, by class id (the model's id2label)
        self.pair = False
        self.trained_on_pairs: bool | None = None  # set from a saved run's config by from_run
        self.weights: list[float] | None = None  # task.class_weights resolved, by class id

    # -- data ---------------------------------------------------------------
    def _set_labels(self, values: list[str], names: list[str] | None = None) -> None:
        self.values = values
        self.names = names or list(values)

    def prepare(self, splits: dict, sources: dict[str, str], columns: dict | None = None) -> dict:
        """Rename columns to ``text``/``text_pair``/``label``, check them, map labels to ids.

        Args:
            splits: split name -> ``datasets.Dataset`` as read from the files.
            sources: split name -> where it came from, for error messages.
            columns: the recipe's ``data.columns`` mapping (role -> column name).
        """
        out, self.pair = select_columns(splits, sources, columns or {}, ["label"])
        for split, ds in out.items():
            if "label" in ds.column_names:
                _check_one_label_per_row(ds["label"], f"{split} split ({sources.get(split, 'data')})",
                                        (columns or {}).get("label", "label"))
        self._fix_label_set(out, sources)
        for split in sorted(out, key=lambda s: s != "train"):  # train first: a one-class train is named first
            if "label" in out[split].column_names:
                out[split] = self._map_labels(out[split], split, sources.get(split, "data"))
            if split == "train":
                self._check_two_classes(out[split], sources.get(split, "data"))
        self.weights = self._class_weights(out.get("train"))
        if self.options.swap_pairs and "train" in out:
            if not self.pair:
                raise UserError("task.swap_pairs needs sentence pairs (a text_pair column)")
            from datasets import concatenate_datasets

            train = out["train"]
            swapped = train.rename_columns({"text": "text_pair", "text_pair": "text"}).select_columns(train.column_names)
            out["train"] = concatenate_datasets([train, swapped])
        return out

    def _fix_label_set(self, splits: dict, sources: dict[str, str]) -> None:
        given = self.options.labels
        if isinstance(given, dict):
            self._set_labels([label_key(k) for k in given], [str(v) for v in given.values()])
            check_labels(self.values, "task.labels", "value")
            check_labels(self.names, "task.labels", "name")
        elif isinstance(given, list):
            self._set_labels([label_key(v) for v in given])
            check_labels(self.values, "task.labels")
        elif "train" in splits and (hub := class_names(splits["train"].features.get("label"))):
            self._set_labels([str(i) for i in range(len(hub))], hub)  # a hub ClassLabel: its ids, named, in order
        elif "train" in splits:
            values = {label_key(v) for v in splits["train"]["label"]}
            self._set_labels(_sorted_labels(values))
        elif not self.values:
            raise UserError("no train split and no task.labels: the label set is unknown")
        if self.options.positive_label is not None and label_key(self.options.positive_label) not in self.values:
            raise UserError(f"task.positive_label '{self.options.positive_label}' is not a label: {self.values}")

    def _class_weights(self, train: Any) -> list[float] | None:
        """``task.class_weights`` as one weight per class id (train: its label ids, for 'balanced')."""
        given = self.options.class_weights
        if given is None:
            return self.weights  # a saved run's (from_run), or none
        shown_labels = f"{self.values}" + (f" (names: {', '.join(self.names)})" if self.names != self.values else "")
        return class_weights(given, self.names, None if train is None else train["label"], self._label_index(),
                             "task.class_weights", shown_labels, saved=self.weights)

    def _check_two_classes(self, train: Any, source: str) -> None:
        present = sorted(set(train["label"]))
        if len(present) < 2:
            found = f"all {len(train)} rows have label '{self.names[present[0]]}'" if present else "no rows"
            raise UserError(f"train split ({source}): {found}; classification needs two or more classes")

    def _label_index(self) -> dict[str, int]:
        """Label key -> class id; a label may also be written by its name (values win a clash)."""
        index = {v: i for i, v in enumerate(self.values)}
        for i, name in enumerate(self.names):
            index.setdefault(label_key(name), i)
        return index

    def _ids_as_values(self, split: str, source: str, names: list, known: list) -> None:
        """Say, once per run (a hub dataset's splits share their names), that a split's ClassLabel names
        are not all the run's, so its ids are read as label values."""
        if not getattr(self, "_said_ids_as_values", False):
            log.warning("%s split (%s): its label names %s are not all among the run's labels %s, so its label ids "
                        "are read as label values", split, source, names, known)
            self._said_ids_as_values = True

    def _map_labels(self, ds, split: str, source: str):
        index = self._label_index()
        # A ClassLabel column (hub, parquet, save_to_disk) holds ids that stand for its own names: each id
        # goes to the run's class of that name (before: ids were read as values, so the same names in
        # another order swapped the classes); names the run lacks leave the ids read as values.
        names = class_names(ds.features.get("label"))
        if names:
            by_name = {label_key(n): i for i, n in enumerate(self.names)}  # a name before a value of that text
            classes = [by_name.get(label_key(n), index.get(label_key(n))) for n in names]
            if None in classes:
                self._ids_as_values(split, source, names, self.names)
            else:
                index = {**index, **{label_key(i): c for i, c in enumerate(classes)}}
        for row, value in enumerate(ds["label"]):
            if label_key(value) not in index:
                known = "train's labels" if self.options.labels is None else "task.labels"
                named = f" (names: {', '.join(self.names)})" if self.names != self.values else ""
                hint = ""
                if label_key(value) in _TRUTH.values() and self.options.labels is not None and len(self.names) == 2:
                    hint = f"; for true/false labels write task.labels={{false: {self.names[0]}, true: {self.names[1]}}}"
                elif split == "train" and self.options.labels is not None:
                    hint = "; to take the label set from train instead, drop the recipe's list with ~task.labels"
                raise UserError(
                    f"{split} split ({source}), row {row + 1}: label '{value}' is not among {known} {self.values}"
                    f"{named}{hint}"
                )

        def to_ids(batch):
            return {"label": [index[label_key(v)] for v in batch["label"]]}

        # Ids as int64 whatever the column held: datasets keeps a float column's type (JSON labels 1.0 / 0.0),
        # and float labels make the model's loss a multi-label one (before: a shape error at the first step).
        from datasets import Value

        features = ds.features.copy()
        features["label"] = Value("int64")
        return ds.map(to_ids, batched=True, features=features, desc=f"labels ({split})")

    def encode_fn(self, tokenizer: Any, max_length: int):
        pair = self.pair

        def encode(batch: dict) -> dict:
            texts = [t if t is not None else "" for t in batch["text"]]
            pairs = [t if t is not None else "" for t in batch["text_pair"]] if pair else None
            # No padding here: the collator pads each batch to its own longest row.
            return tokenizer(texts, pairs, truncation=True, max_length=max_length)

        return encode

    # -- model --------------------------------------------------------------
    def build_model(self, encoder_path: str, **load_kwargs: Any):
        from transformers import AutoModelForSequenceClassification

        model = AutoModelForSequenceClassification.from_pretrained(
            encoder_path,
            num_labels=len(self.names),
            id2label=dict(enumerate(self.names)),
            label2id={n: i for i, n in enumerate(self.names)},
            **self.options.model_config,
            **load_kwargs,
        )
        return self._start_model(model)

    def loss_function(self):
        if self.weights is None:
            return None  # the head's own cross-entropy
        import torch

        weight = torch.tensor(self.weights, dtype=torch.float32)

        def weighted_cross_entropy(outputs, labels, num_items_in_batch=None, label_smoothing: float = 0.0):
            logits = outputs["logits"] if isinstance(outputs, dict) else outputs[0]  # (batch, classes)
            return torch.nn.functional.cross_entropy(logits.float(), labels.view(-1), weight=weight.to(logits.device),
                                                     label_smoothing=label_smoothing)

        return weighted_cross_entropy

    def save_prepared(self, folder: str) -> None:
        if self.weights is not None:  # the loss of a later `evaluate` of the run or checkpoint weighs alike
            write_json(Path(folder) / CLASS_WEIGHTS, dict(zip(self.names, self.weights)))

    def _start_model(self, model: Any) -> Any:
        """What every ``[CLS]`` head does to a new model: the pooler's start (``task.pooler``), and a
        record in its config of whether its inputs are sentence pairs, which the Predictor checks."""
        self.pooler_init = init_pooler(model, self.options.pooler)
        model.config.input_pairs = self.pair
        return model

    def _split_inputs(self, inputs: list) -> tuple[list[str], list[str] | None]:
        """:func:`split_inputs`, checked against the kind of input the run was trained on (runs
        saved before that was recorded are not checked)."""
        texts, pairs = split_inputs(inputs)
        if self.trained_on_pairs is True and pairs is None:
            raise UserError(
                "predict: this run was trained on sentence pairs; give each input as (text, text_pair) "
                "(in a file: a 'text_pair' field, or a second tab-separated field on each line)"
            )
        if self.trained_on_pairs is False and pairs is not None:
            raise UserError("predict: this run was trained on single texts, not (text, text_pair) pairs; give one text per input")
        return texts, pairs

    # -- evaluation ---------------------------------------------------------
    @property
    def positive(self) -> int | None:
        if len(self.values) != 2:
            return None
        if self.options.positive_label is not None:
            return self.values.index(label_key(self.options.positive_label))
        return 1

    def compute_metrics(self, eval_pred: Any) -> dict[str, float]:
        logits = eval_pred.predictions[0] if isinstance(eval_pred.predictions, tuple) else eval_pred.predictions
        return classification_metrics(eval_pred.label_ids, logits.argmax(-1), self.names, self.positive)

    def metric_names(self) -> list[str]:
        k = len(self.names)  # one synthetic example per class, through the real compute_metrics
        return list(self.compute_metrics(SimpleNamespace(predictions=np.eye(k), label_ids=np.arange(k))))

    def report(self, split: str, rows: Any, output: Any, run_dir: str) -> dict:
        logits = output.predictions[0] if isinstance(output.predictions, tuple) else output.predictions
        probs = softmax(logits)
        pred = probs.argmax(-1)
        labelled = "label" in rows.column_names
        records = []
        for i, row in enumerate(rows):
            rec = {"text": row["text"]}
            if self.pair:
                rec["text_pair"] = row["text_pair"]
            rec["label"] = self.names[row["label"]] if labelled else None
            rec["prediction"] = self.names[pred[i]]
            rec["probability"] = round(float(probs[i, pred[i]]), 6)
            records.append(rec)
        write_jsonl(Path(run_dir) / f"predictions_{split}.jsonl", records)
        if not labelled:
            return {}
        metrics = classification_metrics(rows["label"], pred, self.names, self.positive, detailed=True)
        plots.confusion_matrix(
            metrics["confusion_matrix"], self.names, Path(run_dir) / f"confusion_matrix_{split}.png", f"{split}"
        )
        return metrics

    def summary(self) -> dict:
        info = {"labels": self.names, "pairs": self.pair, "pooler": getattr(self, "pooler_init", None)}
        if self.weights is not None:
            info["class_weights"] = {n: round(w, 4) for n, w in zip(self.names, self.weights)}
        return info

    # -- prediction ---------------------------------------------------------
    @classmethod
    def load_model(cls, run_dir: str) -> Any:
        from transformers import AutoModelForSequenceClassification

        return AutoModelForSequenceClassification.from_pretrained(run_dir, use_safetensors=True)

    @classmethod
    def from_run(cls, options: ClassificationOptions, model: Any, run_dir: str) -> Classification:
        adapter = cls(options)
        id2label = model.config.id2label
        names = [id2label[i] for i in range(len(id2label))]
        values = [label_key(k) for k in options.labels] if isinstance(options.labels, (list, dict)) else names
        adapter._set_labels(values, names)
        adapter.trained_on_pairs = getattr(model.config, "input_pairs", None)
        path = Path(run_dir) / CLASS_WEIGHTS
        if path.is_file():
            saved = json.loads(path.read_text(encoding="utf-8"))
            adapter.weights = [float(saved[n]) for n in names]
        return adapter

    def predict(self, model: Any, tokenizer: Any, inputs: list, batch_size: int = 64, max_length: int = 512) -> list[dict]:
        """Predict labels for raw texts (``str``) or pairs (``(a, b)``).

        Returns one dict per input: ``label``, ``score`` (its probability) and
        ``probabilities`` (name -> probability).
        """
        texts, pairs = self._split_inputs(inputs)
        probs = softmax(sequence_logits(model, tokenizer, texts, pairs, batch_size, max_length))
        out = []
        for p in probs:
            k = int(p.argmax())
            out.append(
                {
                    "label": self.names[k],
                    "score": float(p[k]),
                    "probabilities": {n: float(v) for n, v in zip(self.names, p)},
                }
            )
        return out
