"""Masked-LM continued pretraining: the encoder learns to fill in masked word pieces of your text.

BERT's pretraining objective on in-domain text before fine-tuning on a task ("don't stop
pretraining"): a share of each text's tokens (``task.mlm_probability``, 15%) is chosen, and the
model predicts the original token at each. Of the chosen tokens 80% are replaced by ``[MASK]``,
10% by a random token and 10% left as they are (BERT's recipe). With ``task.whole_word_mask``
(the default) the choice is made per word, as in BERT's whole-word-masking models: every piece
of a chosen word is predicted (``un ##believ ##able``), so the model cannot guess a piece from
the rest of its word. Words are the tokenizer's own pre-tokenisation (for BERT: split at
whitespace and punctuation), read from the fast tokenizer's word ids. ``task.words:
whitespace`` takes runs of non-space characters instead, for text segmented into words by spaces
(Chinese, whose characters BERT's tokenizer splits one by one: Chinese BERT-wwm's masking).

A text longer than ``data.max_length`` tokens becomes consecutive windows of that many tokens
(each with its own ``[CLS]`` and ``[SEP]``), so no text is lost (a text pair is cut at
``data.max_length``, as the other tasks cut); a row with no token (a blank text) is dropped with a
warning, as it has nothing to predict.

Training masks are drawn afresh for every batch (dynamic masking, from torch's RNG, which
``train.seed`` seeds); validation and test masks are drawn once with a fixed seed, so that the
loss of every evaluation, and of two runs, is measured on the same masked tokens.

The head is transformers' ``AutoModelForMaskedLM``, so a run loads in
``pipeline("fill-mask", model=run_dir)``, and it is a starting point for the other recipes:
``encoder=<run_dir>`` fine-tunes the continued-pretrained encoder (its MLM head is dropped).

Metrics: the loss on the masked tokens, its ``perplexity`` (exp of the loss) and ``accuracy``
(the share of masked tokens whose top prediction is the original token).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from ..errors import UserError
from ..rundir import write_jsonl
from .base import TaskAdapter, TaskOptions, register_task, split_inputs
from .classification import select_columns

log = logging.getLogger("bert_tasks")

IGNORE = -100  # label of the tokens that are not predicted (transformers' cross-entropy ignore index)
EVAL_MASK_SEED = 0
# Masked-LM classes whose forward runs the head on ``base_model(...)[0]`` and takes the loss over
# ``logits.view(-1, vocab)`` against ``labels.view(-1)``: the head can run at the masked positions only.
HEAD_AT_MASKED_POSITIONS = ("BertForMaskedLM", "RobertaForMaskedLM", "XLMRobertaForMaskedLM", "DistilBertForMaskedLM")


@dataclass
class MaskedLMOptions(TaskOptions):
    mlm_probability: float = field(default=0.15, metadata={"help": "Share of each text's tokens chosen for prediction."})
    whole_word_mask: bool = field(default=True, metadata={"help": "Choose whole words (all their pieces), not single pieces."})
    mask_replace_prob: float = field(default=0.8, metadata={"help": "Share of chosen tokens replaced by [MASK]."})
    random_replace_prob: float = field(
        default=0.1, metadata={"help": "Share of chosen tokens replaced by a random token (the rest stay as they are)."}
    )
    words: Literal["tokenizer", "whitespace"] = field(
        default="tokenizer",
        metadata={"help": "What whole_word_mask takes as a word: the tokenizer's words (BERT: split at whitespace "
                          "and punctuation) or runs of non-space characters (text segmented into words by spaces, "
                          "e.g. Chinese, which BERT's tokenizer splits into characters)."},
    )
    top_k: int = field(default=5, metadata={"help": "Predictions per [MASK] that predict() returns."})

    def __post_init__(self) -> None:
        for key in ("mlm_probability", "mask_replace_prob", "random_replace_prob"):
            value = getattr(self, key)
            if not 0.0 <= value <= 1.0:
                raise UserError(f"task.{key} must be between 0 and 1, got {value}")
        if self.mlm_probability == 0.0:
            raise UserError("task.mlm_probability must be above 0: with 0 no token is ever predicted")
        if self.mask_replace_prob + self.random_replace_prob > 1.0:
            raise UserError(
                f"task.mask_replace_prob + task.random_replace_prob must be at most 1, got "
                f"{self.mask_replace_prob} + {self.random_replace_prob}"
            )
        if self.top_k < 1:
            raise UserError(f"task.top_k must be at least 1, got {self.top_k}")


def choose_tokens(word_ids: list[int], probability: float, rand: Any) -> list[int]:
    """Positions to predict in one sequence: about ``probability`` of its tokens, whole words at a time.

    ``word_ids`` gives each position's word (-1: a special token, never chosen); pieces of one
    word share an id. Words are taken in random order while the chosen tokens stay within
    ``round(probability x tokens)`` (at least one), as BERT's pretraining data builder does.
    ``rand`` is a ``torch.Generator`` (or None: torch's global RNG).
    """
    import torch

    words: dict[int, list[int]] = {}
    for pos, word in enumerate(word_ids):
        if word >= 0:
            words.setdefault(word, []).append(pos)
    if not words:
        return []
    n_tokens = sum(len(p) for p in words.values())
    budget = max(1, round(probability * n_tokens))
    groups = list(words.values())
    chosen: list[int] = []
    for k in torch.randperm(len(groups), generator=rand).tolist():
        if len(chosen) >= budget:
            break
        if len(chosen) + len(groups[k]) > budget and chosen:
            continue  # this word would overshoot: a shorter one may still fit
        chosen.extend(groups[k])
    return sorted(chosen)


def space_runs(text: str) -> list[int]:
    """For each character of ``text``, the number of the run of non-space characters it belongs to
    (spaces take the number of the run before them)."""
    out, run, inside = [], -1, False
    for ch in text:
        if not ch.isspace() and not inside:
            run += 1
        inside = not ch.isspace()
        out.append(max(run, 0))
    return out


def mask_batch(input_ids: Any, word_ids: Any, options: MaskedLMOptions, tokenizer: Any, rand: Any = None):
    """``(input_ids, labels)`` of a padded batch (``torch.long``, shape (batch, length)) with BERT's masking.

    ``word_ids`` (same shape, -1 at special and padding positions) groups the pieces of a word;
    without ``whole_word_mask`` each piece is its own word.
    """
    import torch

    inputs = input_ids.clone()
    labels = torch.full_like(input_ids, IGNORE)
    if not options.whole_word_mask:  # every non-special position its own word
        word_ids = torch.where(word_ids >= 0, torch.arange(word_ids.shape[1]).expand_as(word_ids), word_ids)
    for row in range(inputs.shape[0]):
        chosen = torch.tensor(choose_tokens(word_ids[row].tolist(), options.mlm_probability, rand), dtype=torch.long)
        if not len(chosen):
            continue
        labels[row, chosen] = input_ids[row, chosen]
        draw = torch.rand(len(chosen), generator=rand)  # one draw per token: [MASK] / random / unchanged
        masked = chosen[draw < options.mask_replace_prob]
        randomised = chosen[(draw >= options.mask_replace_prob) & (draw < options.mask_replace_prob + options.random_replace_prob)]
        inputs[row, masked] = tokenizer.mask_token_id
        if len(randomised):
            inputs[row, randomised] = torch.randint(len(tokenizer), (len(randomised),), generator=rand)
    return inputs, labels


def head_at_masked_positions(model: Any) -> Any:
    """Make ``model`` (one of ``HEAD_AT_MASKED_POSITIONS``) run its MLM head only where ``labels``
    predict a token, when it is called with labels (training and evaluation); without labels
    (``pipeline``, ``predict``) it is unchanged. Returns ``model``.

    The head's vocabulary projection at every position costs about half as much as the encoder
    itself for MiniLM (384 x 30,522 per token), and its softmax over the vocabulary runs at every
    position; 15% of the positions are scored. Two hooks: before the forward, the labels become
    those of the masked positions; after the encoder, its hidden states become theirs, (masked
    tokens, hidden). The head, its loss (a mean over the masked tokens, as before) and the weights
    are the model's own; its logits are then (masked tokens, vocabulary).
    """
    if type(model).__name__ not in HEAD_AT_MASKED_POSITIONS:
        return model
    keep: list = []

    def labels_at_masked_positions(module: Any, args: tuple, kwargs: dict):
        keep.clear()
        labels = kwargs.get("labels")
        if labels is None:
            return None
        keep.append(labels != IGNORE)
        return args, {**kwargs, "labels": labels[keep[0]]}

    def hidden_at_masked_positions(module: Any, args: tuple, output: Any):
        if keep:
            output.last_hidden_state = output.last_hidden_state[keep.pop()]
        return output

    model.register_forward_pre_hook(labels_at_masked_positions, with_kwargs=True)
    model.base_model.register_forward_hook(hidden_at_masked_positions)
    return model


class _no_head_note:
    """While a checkpoint without an MLM head loads, transformers warns "This checkpoint seem
    corrupted" (its output bias has nothing to tie to); say what it means instead: the head starts
    untrained (sentence-embedding checkpoints such as ``embedded`` ship none)."""

    def __init__(self, encoder: str):
        self.encoder, self.fired = encoder, False

    def filter(self, record: logging.LogRecord) -> bool:
        if record.getMessage().startswith("This checkpoint seem corrupted") and "predictions" in record.getMessage():
            self.fired = True
            return False
        return True

    def __enter__(self) -> None:
        logging.getLogger("transformers.modeling_utils").addFilter(self)

    def __exit__(self, *exc: object) -> None:
        logging.getLogger("transformers.modeling_utils").removeFilter(self)
        if self.fired and exc[0] is None:
            log.warning(
                "encoder %s ships no masked-LM head: the head starts untrained and learns in this run (the load "
                "report above lists it as missing); an encoder that ships one (bert-base-uncased) starts from a "
                "trained head", self.encoder,
            )


class MaskingCollator:
    """Pads a batch and masks it: rows that already carry ``labels`` (validation and test, masked once
    with a fixed seed) are only padded; training rows are masked afresh each time."""

    def __init__(self, tokenizer: Any, options: MaskedLMOptions):
        self.tokenizer = tokenizer
        self.options = options

    def __call__(self, features: list[dict]) -> dict:
        import torch

        width = max(len(f["input_ids"]) for f in features)

        def padded(key: str, fill: int) -> torch.Tensor:  # (batch, width): a per-token column, padded with fill
            return torch.tensor([list(f[key]) + [fill] * (width - len(f[key])) for f in features])

        model_keys = [k for k in ("input_ids", "token_type_ids", "attention_mask") if k in features[0]]
        batch = self.tokenizer.pad([{k: f[k] for k in model_keys} for f in features], return_tensors="pt")
        if all(f.get("labels") is not None for f in features):
            batch["labels"] = padded("labels", IGNORE)
        else:
            words = padded("word_ids", -1)
            batch["input_ids"], batch["labels"] = mask_batch(batch["input_ids"], words, self.options, self.tokenizer)
        return dict(batch)


@register_task
class MaskedLM(TaskAdapter):
    """Masked-LM continued pretraining on unlabelled text (see the module docstring)."""

    name = "masked_lm"
    loss_over_tokens = True  # the head's cross-entropy is a mean over the masked tokens
    Options = MaskedLMOptions
    column_roles = ("text", "text_pair")
    default_metric = "loss"
    greater_is_better = False
    cuts_at_max_length = True
    collator_columns = ("word_ids",)
    input_help = "a text (str) with one or more [MASK] tokens, or a (text, text_pair) pair of str"

    def __init__(self, options: MaskedLMOptions):
        super().__init__(options)
        self.pair = False
        self.tokenizer: Any = None
        self.sources: dict[str, str] = {}
        self.row_of: dict[str, np.ndarray] = {}  # split -> the row each feature (window) comes from
        self.windowed: dict[str, int] = {}  # split -> windows beyond a text's first

    # -- data ---------------------------------------------------------------
    def prepare(self, splits: dict, sources: dict[str, str], columns: dict | None = None) -> dict:
        out, self.pair = select_columns(splits, sources, columns or {}, [])
        self.sources = sources
        self.cuts_at_max_length = self.pair  # single texts become windows; pairs are cut
        return out

    def encode_fn(self, tokenizer: Any, max_length: int):
        if tokenizer.mask_token_id is None:
            raise UserError(f"task masked_lm: the encoder's tokenizer ({type(tokenizer).__name__}) has no mask token")
        if not tokenizer.is_fast:
            raise UserError("task masked_lm needs a fast tokenizer (its word ids group the pieces of a word)")
        self.tokenizer = tokenizer
        pair, by_spaces = self.pair, self.options.words == "whitespace"

        def encode(batch: dict) -> dict:
            texts = [t or "" for t in batch["text"]]
            pairs = [t or "" for t in batch["text_pair"]] if pair else None
            # a long single text: consecutive windows of max_length tokens (one row each); a pair: cut
            enc = tokenizer(texts, pairs, truncation=True, max_length=max_length, return_overflowing_tokens=not pair,
                            return_offsets_mapping=by_spaces)
            source = enc.pop("overflow_to_sample_mapping", list(range(len(texts))))
            offsets = enc.pop("offset_mapping", None)
            words, window = [], []
            for i in range(len(source)):
                # Pieces of one word share an id; the second text's words are numbered after the first's.
                seq, ids = enc.sequence_ids(i), enc.word_ids(i)
                if by_spaces:  # a word: the run of non-space characters a token starts in
                    k = source[i]
                    runs = (space_runs(texts[k]), space_runs(pairs[k]) if pair else [])
                    ids = [None if w is None or s is None or a == b else runs[s][a]
                           for w, s, (a, b) in zip(ids, seq, offsets[i])]
                shift = 1 + max((w for w, s in zip(ids, seq) if s == 0 and w is not None), default=-1)
                words.append([-1 if w is None else w + (shift if s == 1 else 0) for w, s in zip(ids, seq)])
                window.append(window[-1] + 1 if i and source[i] == source[i - 1] else 0)
            enc["word_ids"] = words
            enc["window"] = window  # 0: a text's first window (counts rows across batches)
            enc["has_tokens"] = [any(w >= 0 for w in ws) for ws in words]
            return enc

        return encode

    def attach(self, rows: dict, features: dict) -> None:
        """Rows without a token are dropped (from ``rows`` and ``features``); each window is tied to its
        row. Validation and test are masked once, each window from its own fixed seed: every evaluation
        (and every run on the same data) scores the same tokens."""
        options, tokenizer = self.options, self.tokenizer
        for split in list(features):
            columns = features[split].with_format("numpy", columns=["has_tokens", "window"])[:]
            has_tokens, first = columns["has_tokens"].astype(bool), columns["window"] == 0
            if not has_tokens.all():  # a text without a token has one window, with no token
                empty = np.nonzero(~has_tokens[first])[0]
                log.warning(
                    "%s split (%s): %d row(s) with no token to predict (blank text) skipped, the first at row %d",
                    split, self.sources.get(split, "?"), len(empty), empty[0] + 1,
                )
                rows[split] = rows[split].select(np.nonzero(has_tokens[first])[0])
                features[split] = features[split].select(np.nonzero(has_tokens)[0])
                first = first[has_tokens]
            if not len(features[split]):
                raise UserError(f"{split} split ({self.sources.get(split, '?')}): no row has a token to predict")
            self.row_of[split] = np.cumsum(first) - 1
            self.windowed[split] = int((~first).sum())
            if self.windowed[split]:
                log.info("%s: %d extra windows for texts longer than data.max_length", split, self.windowed[split])

        def mask(batch: dict, indices: list[int]) -> dict:
            import torch

            inputs, labels = [], []
            for ids, words, i in zip(batch["input_ids"], batch["word_ids"], indices):
                rand = torch.Generator().manual_seed(EVAL_MASK_SEED + i)
                x, y = mask_batch(torch.tensor([ids]), torch.tensor([words]), options, tokenizer, rand)
                inputs.append(x[0].tolist())
                labels.append(y[0].tolist())
            return {"input_ids": inputs, "labels": labels}

        for split in [s for s in features if s != "train"]:
            features[split] = features[split].map(mask, batched=True, with_indices=True, desc=f"masking {split}")

    def describe_example(self, feature: dict) -> dict:
        """The row as a training batch shows it, masked by one draw (training masks change every batch)."""
        import torch

        if "labels" in feature:  # validation/test: masked once already
            ids, labels = feature["input_ids"], feature["labels"]
        else:
            rand = torch.Generator().manual_seed(EVAL_MASK_SEED)
            x, y = mask_batch(torch.tensor([feature["input_ids"]]), torch.tensor([feature["word_ids"]]),
                              self.options, self.tokenizer, rand)
            ids, labels = x[0].tolist(), y[0].tolist()
        tokens = self.tokenizer.convert_ids_to_tokens(ids)
        targets = [f"{i}:{self.tokenizer.convert_ids_to_tokens(y)}" for i, y in enumerate(labels) if y != IGNORE]
        return {"masked (one draw)": " ".join(tokens), "predicted at": " ".join(targets)}

    def collator(self, tokenizer: Any) -> MaskingCollator:
        return MaskingCollator(tokenizer, self.options)

    # -- model --------------------------------------------------------------
    def build_model(self, encoder_path: str, **load_kwargs: Any):
        from transformers import AutoModelForMaskedLM

        with _no_head_note(encoder_path):
            model = AutoModelForMaskedLM.from_pretrained(encoder_path, **self.options.model_config, **load_kwargs)
        return head_at_masked_positions(model)

    def preprocess_logits(self):
        """Keep the top prediction per position (``IGNORE`` where nothing is predicted), not
        (rows, length, vocabulary) logits."""

        def top(logits: Any, labels: Any) -> Any:
            import torch

            logits = logits[0] if isinstance(logits, tuple) else logits
            if logits.dim() == 3:  # a head run at every position
                return torch.where(labels != IGNORE, logits.argmax(-1), IGNORE)
            out = torch.full_like(labels, IGNORE)  # (masked tokens, vocabulary): back in place
            out[labels != IGNORE] = logits.argmax(-1)
            return out

        return top

    # -- evaluation ---------------------------------------------------------
    def compute_metrics(self, eval_pred: Any) -> dict[str, float]:
        pred = eval_pred.predictions[0] if isinstance(eval_pred.predictions, tuple) else eval_pred.predictions
        gold = np.asarray(eval_pred.label_ids)
        scored = gold != IGNORE
        return {"accuracy": float((np.asarray(pred)[scored] == gold[scored]).mean()) if scored.any() else 0.0}

    def metric_names(self) -> list[str]:
        return ["accuracy"]

    def report(self, split: str, rows: Any, output: Any, run_dir: str) -> dict:
        pred = output.predictions[0] if isinstance(output.predictions, tuple) else output.predictions
        pred, gold = np.asarray(pred), np.asarray(output.label_ids)
        row_of = self.row_of.get(split, np.arange(len(gold)))
        records = []
        for r, row in enumerate(rows):
            rec = {"text": row["text"], "masked": [], "predicted": []}
            if self.pair:
                rec["text_pair"] = row["text_pair"]
            records.append(rec)
        for i, r in enumerate(row_of):  # a long text's windows in order
            at = np.nonzero(gold[i] != IGNORE)[0]
            records[r]["masked"] += self.tokenizer.convert_ids_to_tokens(gold[i, at].tolist())
            records[r]["predicted"] += self.tokenizer.convert_ids_to_tokens(pred[i, at].tolist())
        write_jsonl(Path(run_dir) / f"predictions_{split}.jsonl", records)
        metrics = self.compute_metrics(output)
        loss = output.metrics.get(f"{split}_loss")
        if loss is not None:
            metrics["perplexity"] = math.exp(min(loss, 700.0))
        metrics["masked_tokens"] = int((gold != IGNORE).sum())
        metrics["windowed_texts"] = self.windowed.get(split, 0)
        return metrics

    def summary(self) -> dict:
        o = self.options
        return {"mlm_probability": o.mlm_probability, "whole_word_mask": o.whole_word_mask, "pairs": self.pair,
                "windowed": self.windowed}

    # -- prediction ---------------------------------------------------------
    @classmethod
    def load_model(cls, run_dir: str) -> Any:
        from transformers import AutoModelForMaskedLM

        # evaluate scores a run with labels: its head too runs at the masked positions only
        return head_at_masked_positions(AutoModelForMaskedLM.from_pretrained(run_dir, use_safetensors=True))

    def predict(self, model: Any, tokenizer: Any, inputs: list, batch_size: int = 64, max_length: int = 512) -> list[dict]:
        """Fill in the ``[MASK]`` tokens of raw texts: one dict per input with ``masks``, a list (one per
        ``[MASK]``, in order) of the ``task.top_k`` most likely tokens, each ``{"token", "score"}``."""
        import torch

        texts, pairs = split_inputs(inputs)
        enc = tokenizer(texts, pairs, truncation=True, max_length=max_length)
        missing = [i for i, ids in enumerate(enc["input_ids"]) if tokenizer.mask_token_id not in ids]
        if missing:
            raise UserError(
                f"predict: input {missing[0]} has no {tokenizer.mask_token} token (within its first {max_length} "
                f"tokens); a masked-LM run fills in {tokenizer.mask_token} tokens, e.g. "
                f"'a {tokenizer.mask_token} film'", index=missing[0],
            )
        keys = [k for k in ("input_ids", "token_type_ids", "attention_mask") if k in enc]
        out: list[dict] = [{} for _ in texts]
        model.eval()
        with torch.inference_mode():
            for start in range(0, len(texts), batch_size):
                idx = list(range(start, min(start + batch_size, len(texts))))
                batch = tokenizer.pad([{k: enc[k][i] for k in keys} for i in idx], return_tensors="pt").to(model.device)
                logits = model(**batch).logits
                for j, i in enumerate(idx):
                    at = (batch["input_ids"][j] == tokenizer.mask_token_id).nonzero().flatten()
                    probs = logits[j, at].float().softmax(-1)
                    scores, ids = probs.topk(min(self.options.top_k, probs.shape[-1]), dim=-1)
                    out[i] = {
                        "masks": [
                            [{"token": tokenizer.convert_ids_to_tokens(int(t)), "score": float(s)} for s, t in zip(srow, irow)]
                            for srow, irow in zip(scores.tolist(), ids.tolist())
                        ]
                    }
        return out

