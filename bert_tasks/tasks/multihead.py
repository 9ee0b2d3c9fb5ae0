"""Multi-head classification: several categorical attributes of one text at once.

One linear + softmax head per attribute on the shared ``[CLS]`` vector,
cross-entropy per head (``class_weights`` per head, for imbalanced classes), losses
summed (``weight`` per head). Each head reads

* its own column (``column: size``), with labels inferred from train or listed
  (``labels: [S, M, L]``); or
* a mapping from a fine multi-label column (role ``label``; ids index
  ``task.source_labels``): ``map: {group: [fine labels]}``, e.g. GoEmotions'
  published Ekman and sentiment groupings. A row whose fine labels fall in
  several groups takes the group most of its labels fall in; a tie goes to the
  group of the first label listed in the row (``rule: majority``), or always the
  first label's group (``rule: first``).

Metrics per head (``<head>_accuracy``, ``<head>_macro_f1``); ``macro_f1`` (the
mean over heads) picks the best checkpoint. The model is the encoder's standard
``AutoModelForSequenceClassification`` with one output per label of every head
(``id2label``: ``head:label``; each head is its slice of the logits, and the
loss, :func:`summed_head_losses`, sums the heads' cross-entropies), so any
encoder with a sequence-classification head works; runs saved with the former
:class:`bert_tasks.heads.BertForMultiHeadClassification` still load.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Literal

import numpy as np

from .. import plots
from ..config_check import build_dataclass, closest
from ..errors import UserError, shown
from ..metrics import classification_metrics
from ..rundir import write_json, write_jsonl
from .base import class_names, register_task, sequence_logits
from .classification import (
    CLASS_WEIGHTS,
    Classification,
    SequenceOptions,
    check_labels,
    class_weights,
    is_missing,
    label_key,
    select_columns,
    softmax,
)
from .multilabel import _label_names_file, label_items


def summed_head_losses(outputs: Any, labels: Any, num_items_in_batch: Any = None, *, sizes: list[int],
                       weights: list[float], class_weights: list[list[float] | None] | None = None) -> Any:
    """``Trainer(compute_loss_func=...)`` of :class:`MultiHead`: sum of ``weights[h]`` x the
    cross-entropy of head ``h`` (logits ``[:, start:start + sizes[h]]``, labels ``[:, h]``), its
    classes weighed by ``class_weights[h]`` where given (torch's weighted mean)."""
    import torch

    logits = outputs["logits"] if isinstance(outputs, dict) else outputs[0]
    loss, start = logits.sum() * 0.0, 0  # 0 with a gradient: a batch with no label at all still steps
    for h, (size, weight) in enumerate(zip(sizes, weights)):
        target = labels[:, h].long()
        if (target != -100).any():  # a batch may hold no label for a head
            given = class_weights[h] if class_weights else None
            per_class = None if given is None else torch.tensor(given, dtype=torch.float32, device=logits.device)
            ce = torch.nn.functional.cross_entropy(logits[:, start : start + size].float(), target, weight=per_class,
                                                   ignore_index=-100)
            loss = loss + weight * ce
        start += size
    return loss


def _check_one_label_per_row(values: list, where: str, column: str, head: str) -> None:
    """A column head's cells are single labels (or blank); a list would otherwise become a class '[1, 3]'."""
    for row, value in enumerate(values):
        if isinstance(value, (list, tuple, dict)):
            raise UserError(f"{where}, row {row + 1}: column '{column}' of head '{head}' holds a "
                            f"{type(value).__name__} ({shown(value)}); a head takes one label per row")


@dataclass
class HeadSpec:
    """One head of ``task.heads``."""

    column: str | None = field(default=None, metadata={"help": "Column holding this attribute's label."})
    labels: list | None = field(default=None, metadata={"help": "Label set in id order (default: train's, sorted)."})
    map: dict | None = field(default=None, metadata={"help": "{class: [fine labels]} over the `label` column."})
    weight: float = field(default=1.0, metadata={"help": "Weight of this head's loss in the sum."})
    class_weights: list | dict | Literal["balanced"] | None = field(
        default=None,
        metadata={"help": "Weights of this head's classes in its cross-entropy: 'balanced', a list in class-id "
                  "order, or {label: weight} (others 1), as classification's task.class_weights."},
    )


@dataclass
class MultiHeadOptions(SequenceOptions):
    heads: dict = field(default_factory=dict, metadata={"help": "{head name: HeadSpec}; at least one head."})
    source_labels: list | str | None = field(
        default=None, metadata={"help": "Names of the fine labels (list or file) that `map` heads read; ids index it."}
    )
    delimiter: str = field(default=",", metadata={"help": "Separator of fine labels written in one string (blank: any whitespace)."})
    rule: Literal["majority", "first"] = field(default="majority", metadata={"help": "Several groups in one row."})


def _groups(head: str, mapping: dict, fine: list[str] | None) -> dict[str, str]:
    """fine label -> its group, from ``{group: [fine labels]}``; a fine label in two groups, or one that
    ``task.source_labels`` lacks (a typo would match nothing), is an error naming it."""
    out: dict[str, str] = {}
    for group, members in mapping.items():
        for member in members if isinstance(members, (list, tuple)) else [members]:
            f = str(member)
            if f in out:
                raise UserError(f"task.heads.{head}.map: fine label '{f}' is in two groups, '{out[f]}' and '{group}'")
            if fine and f not in fine:
                raise UserError(
                    f"task.heads.{head}.map.{group}: '{f}' is not one of task.source_labels{closest(f, fine)}"
                )
            out[f] = str(group)
    return out


@register_task
class MultiHead(Classification):
    """Several softmax heads on one encoder; losses summed."""

    name = "multihead"
    Options = MultiHeadOptions
    default_metric = "macro_f1"
    no_label_smoothing = "Trainer's smoother takes one class id per row, and each row here has one per head"

    def __init__(self, options: MultiHeadOptions):
        super().__init__(options)
        if not options.heads:
            raise UserError("task.heads: name at least one head, e.g. heads: {sentiment: {column: sentiment}}")
        self.specs = {
            str(name): build_dataclass(HeadSpec, spec, "recipe", f"task.heads.{name}")
            for name, spec in options.heads.items()
        }
        for name, spec in self.specs.items():
            if (spec.column is None) == (spec.map is None):
                raise UserError(f"task.heads.{name}: give exactly one of 'column' or 'map'")
        self.head_labels: dict[str, list[str]] = {}
        self.head_class_weights: dict[str, list[float]] = {}  # heads' class_weights resolved, by class id

    # -- data ---------------------------------------------------------------
    def _fine_tokens(self, value: Any, fine: list[str] | None, where: str) -> list[str]:
        tokens = label_items(value, self.options.delimiter, where)
        if fine:
            tokens = [fine[int(t)] if t.isdigit() and int(t) < len(fine) and t not in fine else t for t in tokens]
        return tokens

    def _group(self, tokens: list[str], groups: dict[str, str]) -> str | None:
        hits = [groups[t] for t in tokens if t in groups]
        if not hits:
            return None
        if self.options.rule == "first":
            return hits[0]
        counts = Counter(hits)
        best = max(counts.values())
        return next(h for h in hits if counts[h] == best)  # tie: the first listed label's group

    def prepare(self, splits: dict, sources: dict[str, str], columns: dict | None = None) -> dict:
        opts = self.options
        mapped = any(s.map for s in self.specs.values())
        own = tuple(s.column for s in self.specs.values() if s.column)
        out, self.pair = select_columns(splits, sources, columns or {}, ["label"] if mapped else [], own)
        for split, ds in out.items():
            for name, spec in self.specs.items():
                if spec.column in ds.column_names:
                    _check_one_label_per_row(ds[spec.column], f"{split} split ({sources.get(split, 'data')})",
                                             spec.column, name)
        fine = _label_names_file(opts.source_labels) if isinstance(opts.source_labels, str) else opts.source_labels
        features = out["train"].features if "train" in out else {}
        if mapped and not fine:  # a hub list of ClassLabel ids: its names are the fine labels
            fine = class_names(features.get("label"))
        # A head without its own labels reads a hub ClassLabel column by the names in the features.
        hub = {n: class_names(features.get(s.column)) for n, s in self.specs.items() if s.column and not s.labels}

        groups: dict[str, dict[str, str]] = {}
        for name, spec in self.specs.items():
            if spec.map:
                groups[name] = _groups(name, spec.map, fine)
                self.head_labels[name] = [str(g) for g in spec.map]
            elif spec.labels:
                self.head_labels[name] = [str(v).strip() for v in spec.labels]
                check_labels(self.head_labels[name], f"task.heads.{name}.labels")
            elif hub.get(name):
                self.head_labels[name] = hub[name]
            elif "train" in out:  # a blank cell is a row without a label for this head, not a class
                values = {label_key(v) for v in out["train"][spec.column] if not is_missing(v)}
                if not values:
                    raise UserError(f"train split ({sources.get('train', 'data')}): column '{spec.column}' of head "
                                    f"'{name}' holds no label")
                self.head_labels[name] = sorted(values)
            elif name not in self.head_labels:  # known: a finished run's labels (evaluate)
                raise UserError(f"task.heads.{name}: no train split and no labels")

        for split, ds in out.items():
            source = sources.get(split, "data")
            absent = [(n, s.column) for n, s in self.specs.items() if s.column and s.column not in ds.column_names]
            if absent and len(absent) < len(own):  # some heads' columns but not all: a misspelt one would go unscored
                name, column = absent[0]
                raise UserError(f"{split} split ({source}): no column '{column}' for head '{name}'"
                                f"{closest(column, ds.column_names)}; columns are {ds.column_names}")
            if absent or (mapped and "label" not in ds.column_names):
                continue  # unlabelled test split
            fine_rows = [
                self._fine_tokens(v, fine, f"{split} split ({source}), row {row + 1}") for row, v in enumerate(ds["label"])
            ] if mapped else None
            own_values = {c: ds[c] for c in own}
            for name, spec in self.specs.items():  # ClassLabel ids -> their names (in any order), where known
                names = class_names(ds.features.get(spec.column)) if spec.column and not spec.map else None
                known = {label_key(lab) for lab in self.head_labels[name]}
                if names and (hub.get(name) or all(label_key(n) in known for n in names)):
                    own_values[spec.column] = [names[v] if 0 <= v < len(names) else v for v in ds[spec.column]]
                elif names:
                    self._ids_as_values(split, f"{source}, head '{name}'", names, self.head_labels[name])
            # a cell matches a label as classification's do: '1.0' and 1, 'true' and True are one label
            keys = {name: {label_key(lab): i for i, lab in reversed(list(enumerate(labels)))}
                    for name, labels in self.head_labels.items()}
            ids = []
            for row in range(len(ds)):
                per_head = []
                for name, spec in self.specs.items():
                    labels = self.head_labels[name]
                    if spec.map:
                        value = self._group(fine_rows[row], groups[name])
                        if value is None and fine_rows[row]:
                            raise UserError(
                                f"{split} split ({source}), row {row + 1}: fine labels {fine_rows[row]} are in no "
                                f"group of task.heads.{name}.map"
                            )
                        class_id = -100 if value is None else labels.index(value)
                    elif is_missing(own_values[spec.column][row]):
                        class_id = -100  # no label for this head in this row: its loss and scores leave it out
                    else:
                        value = str(own_values[spec.column][row]).strip()
                        class_id = keys[name].get(label_key(value))
                        if class_id is None:
                            raise UserError(
                                f"{split} split ({source}), row {row + 1}: label '{value}' of head '{name}' "
                                f"is not among {labels}"
                            )
                    per_head.append(class_id)
                ids.append(per_head)
            drop = [c for c in ds.column_names if c not in ("text", "text_pair")]
            out[split] = ds.remove_columns(drop).add_column("label", ids)
        self.names = [f"{h}:{lab}" for h, labels in self.head_labels.items() for lab in labels]
        self.head_class_weights = self._head_class_weights(out.get("train"))
        return out

    def _head_class_weights(self, train: Any) -> dict[str, list[float]]:
        """Each head's ``class_weights`` by class id ('balanced' over train's rows with a label for that
        head; without train, a finished run's saved ones); heads without them are left out."""
        ids = None if train is None else np.asarray(train["label"], dtype=int).reshape(len(train), len(self.specs))
        out = {}
        for h, (name, spec) in enumerate(self.specs.items()):
            if spec.class_weights is None:
                continue
            labels = self.head_labels[name]
            index = {label_key(lab): i for i, lab in reversed(list(enumerate(labels)))}
            column = None if ids is None else ids[ids[:, h] != -100, h]
            weights = class_weights(spec.class_weights, labels, column, index, f"task.heads.{name}.class_weights",
                                    str(labels), saved=self.head_class_weights.get(name))
            if weights is not None:
                out[name] = weights
        return out

    # -- model --------------------------------------------------------------
    def build_model(self, encoder_path: str, **load_kwargs: Any):
        """The encoder's standard sequence-classification head with one output per label of every
        head (``id2label``: ``head:label``, heads in order): the logits of a head are its slice, and
        :meth:`loss_function` sums the heads' cross-entropies. Any encoder with such a head works; a
        linear layer over all heads' labels is one linear layer per head side by side."""
        model = super().build_model(encoder_path, **load_kwargs)  # num_labels = len(self.names)
        model.config.heads = self.head_labels
        model.config.head_weights = {n: s.weight for n, s in self.specs.items()}
        return model

    def loss_function(self):
        """The weighted sum over heads of each head's cross-entropy on its slice of the logits; labels
        are (batch, heads) class ids, -100 where a row has none for a head (a head with no label in
        the batch adds nothing)."""
        sizes = [len(labels) for labels in self.head_labels.values()]
        weights = [float(self.specs[name].weight) for name in self.head_labels]
        per_class = [self.head_class_weights.get(name) for name in self.head_labels]
        return partial(summed_head_losses, sizes=sizes, weights=weights,
                       class_weights=per_class if any(w is not None for w in per_class) else None)

    def save_prepared(self, folder: str) -> None:
        if self.head_class_weights:  # a later `evaluate` of the run or a checkpoint weighs its loss alike
            write_json(Path(folder) / CLASS_WEIGHTS, {name: dict(zip(self.head_labels[name], weights))
                                                      for name, weights in self.head_class_weights.items()})

    @classmethod
    def load_model(cls, run_dir: str) -> Any:
        from transformers import AutoConfig, AutoModelForSequenceClassification

        if "BertForMultiHeadClassification" in (AutoConfig.from_pretrained(run_dir).architectures or []):
            from ..heads import BertForMultiHeadClassification  # a run saved before the standard head

            return BertForMultiHeadClassification.from_pretrained(run_dir, use_safetensors=True)
        return AutoModelForSequenceClassification.from_pretrained(run_dir, use_safetensors=True)

    # -- evaluation ---------------------------------------------------------
    def _split_logits(self, logits: np.ndarray) -> dict[str, np.ndarray]:
        out, start = {}, 0
        for name, labels in self.head_labels.items():
            out[name] = logits[:, start : start + len(labels)]
            start += len(labels)
        return out

    def _head_metrics(self, logits: np.ndarray, gold: np.ndarray, detailed: bool = False) -> dict:
        results = {}
        for i, (name, lg) in enumerate(self._split_logits(logits).items()):
            keep = gold[:, i] != -100
            results[name] = classification_metrics(gold[keep, i], lg[keep].argmax(-1), self.head_labels[name],
                                                    detailed=detailed)
        return results

    def compute_metrics(self, eval_pred: Any) -> dict[str, float]:
        logits = eval_pred.predictions[0] if isinstance(eval_pred.predictions, tuple) else eval_pred.predictions
        per_head = self._head_metrics(logits, np.asarray(eval_pred.label_ids))
        flat = {f"{h}_{k}": v for h, m in per_head.items() for k, v in m.items() if k in ("accuracy", "macro_f1")}
        flat["macro_f1"] = float(np.mean([m["macro_f1"] for m in per_head.values()]))
        flat["accuracy"] = float(np.mean([m["accuracy"] for m in per_head.values()]))
        return flat

    def metric_names(self) -> list[str]:
        width, heads = sum(len(v) for v in self.head_labels.values()), len(self.head_labels)
        synthetic = SimpleNamespace(predictions=np.zeros((1, width)), label_ids=np.zeros((1, heads), dtype=int))
        return list(self.compute_metrics(synthetic))

    def report(self, split: str, rows: Any, output: Any, run_dir: str) -> dict:
        logits = output.predictions[0] if isinstance(output.predictions, tuple) else output.predictions
        heads = self._split_logits(logits)
        labelled = "label" in rows.column_names
        gold = np.asarray(rows["label"]) if labelled else None
        records = []
        for i, row in enumerate(rows):
            rec = {"text": row["text"]}
            if self.pair:
                rec["text_pair"] = row["text_pair"]
            for j, (name, lg) in enumerate(heads.items()):
                p = softmax(lg[i])
                k = int(p.argmax())
                labels = self.head_labels[name]
                rec[name] = {
                    "label": labels[gold[i, j]] if labelled and gold[i, j] != -100 else None,
                    "prediction": labels[k],
                    "probability": round(float(p[k]), 6),
                }
            records.append(rec)
        write_jsonl(Path(run_dir) / f"predictions_{split}.jsonl", records)
        if not labelled:
            return {}
        per_head = self._head_metrics(logits, gold, detailed=True)
        for name, m in per_head.items():
            plots.confusion_matrix(m["confusion_matrix"], self.head_labels[name],
                                   Path(run_dir) / f"confusion_matrix_{split}_{name}.png", f"{split}: {name}")
        means = {k: float(np.mean([m[k] for m in per_head.values()])) for k in ("accuracy", "macro_f1")}
        return {**per_head, **means}

    def summary(self) -> dict:
        info = {"heads": self.head_labels, "pairs": self.pair, "pooler": getattr(self, "pooler_init", None)}
        if self.head_class_weights:
            info["class_weights"] = {name: {lab: round(w, 4) for lab, w in zip(self.head_labels[name], weights)}
                                     for name, weights in self.head_class_weights.items()}
        return info

    # -- prediction ---------------------------------------------------------
    @classmethod
    def from_run(cls, options: MultiHeadOptions, model: Any, run_dir: str) -> MultiHead:
        adapter = cls(options)
        adapter.head_labels = {k: list(v) for k, v in model.config.heads.items()}
        adapter.trained_on_pairs = getattr(model.config, "input_pairs", None)
        path = Path(run_dir) / CLASS_WEIGHTS
        if path.is_file():
            saved = json.loads(path.read_text(encoding="utf-8"))
            adapter.head_class_weights = {name: [float(by_label[lab]) for lab in adapter.head_labels[name]]
                                          for name, by_label in saved.items() if name in adapter.head_labels}
        return adapter

    def predict(self, model: Any, tokenizer: Any, inputs: list, batch_size: int = 64, max_length: int = 512) -> list[dict]:
        """One entry per head: ``{head: {"label", "score", "probabilities"}}`` for each input."""
        texts, pairs = self._split_inputs(inputs)
        heads = self._split_logits(sequence_logits(model, tokenizer, texts, pairs, batch_size, max_length))
        out = []
        for i in range(len(texts)):
            rec = {}
            for name, lg in heads.items():
                p = softmax(lg[i])
                k = int(p.argmax())
                labels = self.head_labels[name]
                rec[name] = {"label": labels[k], "score": float(p[k]),
                             "probabilities": {n: float(v) for n, v in zip(labels, p)}}
            out.append(rec)
        return out
