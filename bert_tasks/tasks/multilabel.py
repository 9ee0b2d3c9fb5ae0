"""Multi-label classification: any subset of N labels, a sigmoid per label on ``[CLS]``.

The head is transformers' ``AutoModelForSequenceClassification`` with
``problem_type="multi_label_classification"`` (binary cross-entropy), so a run
loads in ``pipeline("text-classification", model=run_dir, top_k=None)``.

Labels per row may be written as
  * a list (``["joy", "love"]`` or ids ``[17, 18]``) in JSON data,
  * a delimited string (``"17,18"`` or ``"joy,love"``; ``task.delimiter``),
  * one 0/1 column per label (``task.label_columns``).
Integer ids index ``task.labels`` (a list, or a file with one name per line,
such as GoEmotions' ``labels.txt``).

Thresholds (``task.threshold``): one float, one per label, or ``auto``:
per-label thresholds tuned for best F1 on the validation split (labels absent
from validation fall back to the global threshold that maximises micro-F1),
saved as ``thresholds.json`` and used by the predictor.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Literal

import numpy as np

from .. import plots
from ..errors import UserError, shown
from ..metrics.multilabel import multilabel_metrics, tune_thresholds
from ..rundir import write_json, write_jsonl
from .base import class_names, register_task, sequence_logits
from .classification import Classification, SequenceOptions, check_labels, label_key, plain_number, select_columns

THRESHOLDS = "thresholds.json"
PRIOR = "train_label_frequencies.json"  # train's share of rows per label: pos_weight=auto when scoring the run again
log = logging.getLogger("bert_tasks")


@dataclass
class MultiLabelOptions(SequenceOptions):
    labels: list | str | None = field(
        default=None,
        metadata={"help": "Label names in id order, or a file with one name per line. Default: labels seen in train."},
    )
    label_columns: list | None = field(
        default=None, metadata={"help": "One 0/1 column per label instead of a label column."}
    )
    delimiter: str = field(default=",", metadata={"help": "Separator of labels written in one string (blank: any whitespace)."})
    threshold: float | list | Literal["auto"] = field(
        default="auto", metadata={"help": "A float, one float per label, or auto (tuned on validation)."}
    )
    pos_weight: list | Literal["auto"] | None = field(
        default=None,
        metadata={"help": "BCE weight of positives per label, or auto: negatives/positives in train, capped."},
    )
    pos_weight_cap: float = field(default=10.0, metadata={"help": "Upper bound of auto pos_weight."})
    init_bias_from_prior: bool = field(
        default=True,
        metadata={"help": "Start each label's bias at the log-odds of its train frequency (the head starts at the prior)."},
    )


def _label_names_file(path: str) -> list[str]:
    p = Path(path)
    if not p.is_file():
        raise UserError(f"task.labels: file not found: {path}")
    return [line.strip() for line in p.read_text(encoding="utf-8").splitlines() if line.strip()]


def label_items(value: Any, delimiter: str, where: str) -> list[str]:
    """The labels written in one cell: a list, or a string split at ``delimiter`` (whitespace when it is blank).

    An empty cell is no labels. An empty item inside a list ("0,,17", "0,17,") is an error naming
    ``where``: a dropped label should not train as a row without it.
    """
    if value is None:
        return []
    if isinstance(value, str) and value.strip().startswith("[") and value.strip().endswith("]"):
        value = _bracketed_list(value, where)  # a list column saved to csv by pandas: "[1, 3]", "['joy']"
    if isinstance(value, (list, tuple)):
        items = [str(v).strip() for v in value]
    else:
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        text = plain_number(str(value).strip())  # a csv cell '3.0' (a float column saved by pandas) is label 3
        if not text:
            return []
        items = text.split() if not delimiter.strip() else [t.strip() for t in text.split(delimiter)]
    if "" in items:
        raise UserError(f"{where}: the label list {shown(value)} has an empty item (split at {delimiter!r})")
    return items


def _bracketed_list(text: str, where: str) -> Any:
    """A cell holding a list as text: JSON (``[1, 3]``, ``["joy"]``) or a Python repr (``['joy']``);
    other text in brackets (a label named ``[nsfw]``) stays text. Before, "[1, 3]" was split at its
    comma into the labels '[1' and '3]'."""
    import ast

    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        try:
            value = ast.literal_eval(text.strip())
        except (ValueError, SyntaxError):
            return text
    if not isinstance(value, list) or any(isinstance(v, (list, dict)) for v in value):
        raise UserError(f"{where}: the label cell {shown(text)} must be a flat list of labels")
    return value


def _flag(value: Any, where: str, row: int, column: str) -> float:
    """A 0/1 label-column value as a float; anything else is a :class:`UserError` naming row and column."""
    flag = label_key(value) if isinstance(value, str) else value  # csv cells: '1', '1.0', 'True', 'true'
    if flag in (0, 1, "0", "1", "False", "True"):  # also False/True and 0.0/1.0
        return float(flag in (1, "1", "True"))
    raise UserError(f"{where}, row {row + 1}: label column '{column}' must hold 0 or 1, got {shown(value)}")


def output_layer(model: Any, n_out: int) -> Any:
    """The linear layer that gives a sequence-classification model its logits: the last ``nn.Linear``
    with ``n_out`` outputs and a bias (``classifier`` of BERT and DistilBERT, ``classifier.out_proj`` of
    RoBERTa and ELECTRA, whose heads are dense -> tanh -> out_proj)."""
    from torch import nn

    found = [m for m in model.modules() if isinstance(m, nn.Linear) and m.out_features == n_out and m.bias is not None]
    if not found:
        raise UserError(
            f"task.init_bias_from_prior: {type(model).__name__} has no linear output layer with {n_out} outputs "
            "and a bias; set task.init_bias_from_prior=false"
        )
    return found[-1]


@register_task
class MultiLabel(Classification):
    """Any subset of N labels; sigmoid per label; per-label thresholds."""

    name = "multilabel"
    Options = MultiLabelOptions
    default_metric = "macro_f1"
    no_label_smoothing = "its loss is a sigmoid per label, and Trainer smooths softmax targets only"

    def __init__(self, options: MultiLabelOptions):
        super().__init__(options)
        self.thresholds: np.ndarray | None = None
        self.prior: np.ndarray | None = None

    # -- data ---------------------------------------------------------------
    def _resolve(self, token: str, split: str, row: int, source: str) -> int:
        if token in self.index:
            return self.index[token]
        if token.isdigit() and int(token) < len(self.names) and self.ids_allowed:
            return int(token)
        raise UserError(f"{split} split ({source}), row {row + 1}: label '{token}' is not among the labels {self.names}")

    def prepare(self, splits: dict, sources: dict[str, str], columns: dict | None = None) -> dict:
        opts = self.options
        columns = columns or {}
        keep = tuple(opts.label_columns or ())
        roles = [] if keep else ["label"]
        out, self.pair = select_columns(splits, sources, columns, roles, keep)

        given = _label_names_file(opts.labels) if isinstance(opts.labels, str) else opts.labels
        if not given and not keep and "train" in out:  # a hub list of ClassLabel ids (GoEmotions): named there
            given = class_names(out["train"].features.get("label"))
        if keep:
            check_labels([str(k) for k in keep], "task.label_columns", "column")
            self.names = [str(n) for n in (given or keep)]
            if len(self.names) != len(keep):
                raise UserError(f"task.labels has {len(self.names)} names for {len(keep)} task.label_columns")
        elif given:
            self.names = [str(n).strip() for n in given]
        elif "train" in out:
            where = f"train split ({sources.get('train', 'data')})"
            found = {
                t for row, v in enumerate(out["train"]["label"])
                for t in label_items(v, opts.delimiter, f"{where}, row {row + 1}")
            }
            self.names = sorted(found, key=lambda t: (not t.isdigit(), int(t) if t.isdigit() else 0, t))
        if not self.names:
            raise UserError("multilabel: no labels found; set task.labels")
        if given:
            check_labels(self.names, f"task.labels ({opts.labels})" if isinstance(opts.labels, str) else "task.labels")
        self.values = list(self.names)
        self.index = {n: i for i, n in enumerate(self.names)}
        self.ids_allowed = bool(given) and not any(n.isdigit() for n in self.names)

        for split, ds in out.items():
            source = sources.get(split, "data")
            if keep:
                if not all(k in ds.column_names for k in keep):
                    continue

                def to_vec(batch, rows, keep=keep, where=f"{split} split ({source})"):
                    return {"label": [[_flag(batch[k][i], where, row, k) for k in keep] for i, row in enumerate(rows)]}

                out[split] = ds.map(
                    to_vec, batched=True, with_indices=True, remove_columns=list(keep), desc=f"labels ({split})"
                )
            elif "label" in ds.column_names:
                # a list of ClassLabel ids (hub, parquet, save_to_disk): each id read by its name where the run
                # knows them all, so the same names in another order mean the same labels
                named = class_names(ds.features.get("label"))
                if named and not all(str(n).strip() in self.index for n in named):
                    self._ids_as_values(split, source, named, self.names)
                    named = None
                vectors = []
                for row, value in enumerate(ds["label"]):
                    vec = [0.0] * len(self.names)
                    for token in label_items(value, opts.delimiter, f"{split} split ({source}), row {row + 1}"):
                        if named and token.isdigit() and int(token) < len(named):
                            token = str(named[int(token)]).strip()
                        vec[self._resolve(token, split, row, source)] = 1.0
                    vectors.append(vec)
                out[split] = ds.remove_columns("label").add_column("label", vectors)
        if "train" in out:
            y = np.asarray(out["train"]["label"], dtype=float)
            self.prior = y.mean(0)
            missing = [n for n, p in zip(self.names, self.prior) if p == 0]
            if missing:
                log.warning("train split (%s): labels never positive: %s", sources.get("train", "data"), missing)
            self.pos_weight()  # size checks before any training
        self.fixed_thresholds()
        return out

    # -- model --------------------------------------------------------------
    def build_model(self, encoder_path: str, **load_kwargs: Any):
        import torch
        from transformers import AutoModelForSequenceClassification

        model = AutoModelForSequenceClassification.from_pretrained(
            encoder_path,
            num_labels=len(self.names),
            problem_type="multi_label_classification",
            id2label=dict(enumerate(self.names)),
            label2id={n: i for i, n in enumerate(self.names)},
            **self.options.model_config,
            **load_kwargs,
        )
        self._start_model(model)
        if self.options.init_bias_from_prior and self.prior is not None:
            head = output_layer(model, len(self.names))
            p = np.clip(self.prior, 1e-4, 1 - 1e-4)
            with torch.no_grad():
                head.bias.copy_(torch.tensor(np.log(p / (1 - p)), dtype=head.bias.dtype))
        return model

    def pos_weight(self) -> np.ndarray | None:
        pw = self.options.pos_weight
        if pw is None:
            return None
        if pw == "auto":
            if self.prior is None:
                raise UserError(f"task.pos_weight=auto needs a train split (or a run's {PRIOR})")
            return np.minimum((1 - self.prior) / np.maximum(self.prior, 1e-9), self.options.pos_weight_cap)
        if len(pw) != len(self.names):
            raise UserError(f"task.pos_weight has {len(pw)} values for {len(self.names)} labels")
        return np.asarray(pw, dtype=float)

    def loss_function(self):
        weights = self.pos_weight()
        if weights is None:
            return None  # the head's own BCEWithLogitsLoss
        import torch

        pos_weight = torch.tensor(weights, dtype=torch.float32)

        def bce(outputs, labels, num_items_in_batch=None):
            logits = outputs["logits"] if isinstance(outputs, dict) else outputs[0]
            return torch.nn.functional.binary_cross_entropy_with_logits(
                logits, labels.to(logits.dtype), pos_weight=pos_weight.to(logits.device)
            )

        return bce

    # -- evaluation ---------------------------------------------------------
    def fixed_thresholds(self) -> np.ndarray | None:
        t = self.options.threshold
        if t == "auto":
            return None
        if isinstance(t, list):
            if len(t) != len(self.names):
                raise UserError(f"task.threshold has {len(t)} values for {len(self.names)} labels")
            return np.asarray(t, dtype=float)
        return np.full(len(self.names), float(t))

    def current_thresholds(self) -> np.ndarray:
        fixed = self.fixed_thresholds()
        if fixed is not None:
            return fixed
        return self.thresholds if self.thresholds is not None else np.full(len(self.names), 0.5)

    @staticmethod
    def _probs(output: Any) -> np.ndarray:
        logits = output.predictions[0] if isinstance(output.predictions, tuple) else output.predictions
        return 1 / (1 + np.exp(-logits))

    def compute_metrics(self, eval_pred: Any) -> dict[str, float]:
        probs = self._probs(eval_pred)
        gold = eval_pred.label_ids
        # During training, `auto` scores each checkpoint at thresholds tuned on the
        # validation split itself: the best it could do, for checkpoint choice only.
        t = self.fixed_thresholds()
        t = tune_thresholds(probs, gold) if t is None else t
        return multilabel_metrics(gold, probs >= t, self.names)

    def metric_names(self) -> list[str]:
        k = len(self.names)
        return list(self.compute_metrics(SimpleNamespace(predictions=np.zeros((k, k)), label_ids=np.eye(k))))

    def calibrate(self, output: Any) -> None:
        if self.fixed_thresholds() is None:
            self.thresholds = tune_thresholds(self._probs(output), output.label_ids)

    def save(self, run_dir: str) -> None:
        write_json(Path(run_dir) / THRESHOLDS, dict(zip(self.names, map(float, self.current_thresholds()))))

    def save_prepared(self, folder: str) -> None:
        if self.prior is not None:  # pos_weight=auto of a run or checkpoint scored later
            write_json(Path(folder) / PRIOR, dict(zip(self.names, map(float, self.prior))))

    def report(self, split: str, rows: Any, output: Any, run_dir: str) -> dict:
        probs = self._probs(output)
        t = self.current_thresholds()
        pred = probs >= t
        labelled = "label" in rows.column_names
        gold = np.asarray(rows["label"], dtype=float) if labelled else None
        records = []
        for i, row in enumerate(rows):
            rec = {"text": row["text"]}
            if self.pair:
                rec["text_pair"] = row["text_pair"]
            rec["labels"] = [self.names[j] for j in np.flatnonzero(gold[i])] if labelled else None
            rec["predicted"] = [self.names[j] for j in np.flatnonzero(pred[i])]
            rec["scores"] = {n: round(float(p), 5) for n, p in zip(self.names, probs[i])}
            records.append(rec)
        write_jsonl(Path(run_dir) / f"predictions_{split}.jsonl", records)
        if not labelled:
            return {}
        metrics = multilabel_metrics(gold, pred, self.names, detailed=True)
        at_half = multilabel_metrics(gold, probs >= 0.5, self.names)
        metrics["macro_f1_at_0.5"] = at_half["macro_f1"]
        metrics["micro_f1_at_0.5"] = at_half["micro_f1"]
        f1 = {n: v["f1"] for n, v in metrics["per_label"].items()}
        plots.bar_chart(f1, Path(run_dir) / f"per_label_f1_{split}.png", f"{split}: F1 per label", "F1")
        return metrics

    def summary(self) -> dict:
        info = {"labels": self.names, "pairs": self.pair}
        if self.prior is not None:
            info["train_positives_per_label"] = {n: round(float(p), 4) for n, p in zip(self.names, self.prior)}
        return info

    # -- prediction ---------------------------------------------------------
    @classmethod
    def from_run(cls, options: MultiLabelOptions, model: Any, run_dir: str) -> MultiLabel:
        import json

        adapter = cls(options)
        id2label = model.config.id2label
        adapter.names = adapter.values = [id2label[i] for i in range(len(id2label))]
        adapter.trained_on_pairs = getattr(model.config, "input_pairs", None)
        path = Path(run_dir) / THRESHOLDS
        if path.is_file():
            saved = json.loads(path.read_text(encoding="utf-8"))
            adapter.thresholds = np.asarray([saved[n] for n in adapter.names], dtype=float)
        path = Path(run_dir) / PRIOR
        if path.is_file():
            saved = json.loads(path.read_text(encoding="utf-8"))
            adapter.prior = np.asarray([saved[n] for n in adapter.names], dtype=float)
        return adapter

    def predict(self, model: Any, tokenizer: Any, inputs: list, batch_size: int = 64, max_length: int = 512) -> list[dict]:
        """Predict label sets: ``labels`` (above threshold) and ``scores`` (name -> probability)."""
        texts, pairs = self._split_inputs(inputs)
        probs = 1 / (1 + np.exp(-sequence_logits(model, tokenizer, texts, pairs, batch_size, max_length)))
        t = self.current_thresholds()
        return [
            {
                "labels": [n for n, p, th in zip(self.names, row, t) if p >= th],
                "scores": {n: float(p) for n, p in zip(self.names, row)},
            }
            for row in probs
        ]
