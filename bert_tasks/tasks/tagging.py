"""Token tagging (NER): a linear layer on every token's final vector, softmax over IOBES tags.

The head is transformers' ``AutoModelForTokenClassification``, so a run loads
in ``pipeline("token-classification", model=run_dir)``.

Data: rows with a list of ``tokens`` and a list of ``tags`` (CoNLL column files
with ``data.format: conll``, one character per line for Chinese, or JSON
lists). Tags in IOB1, IOB2/BIO, IOBES/BIOES, BMES or BILOU are detected (or set
with ``task.scheme``) and converted to IOBES (``task.train_scheme: iob2`` trains
in BIO); invalid sequences are counted, reported with the first file:line and
repaired by the rule of :mod:`bert_tasks.tagging_schemes`.

Sub-tokens: by default a word's first piece carries its tag and the other
pieces are ignored by the loss; ``label_all_pieces: true`` tags every piece
with scheme-correct continuation tags (``S-PER`` over three pieces becomes
``B-PER I-PER E-PER``) and decodes back to words.

Long sentences are never truncated: they are split at word boundaries into
windows of ``data.max_length`` pieces overlapping by ``task.stride`` words; each
word takes the scores of the window where it is most central. Decoding is a
constrained Viterbi over the scheme's transition rules (``decode: argmax`` for
HF-style per-token argmax).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from .. import plots
from ..config_check import closest
from ..decoding import argmax, viterbi
from ..errors import UserError, shown
from ..rundir import write_text
from ..tagging_schemes import convert, detect_scheme, from_spans, label_set, split_tag, to_spans
from .base import TaskAdapter, TaskOptions, class_names, encode_quietly, register_task

log = logging.getLogger("bert_tasks")
CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u3000-\u303f\uff00-\uffef]")
WORD = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u3000-\u303f\uff00-\uffef]|\w+|[^\w\s]")


def _check_string_lists(values: list, where: str, column: str, nonempty: bool = False, hint: str = "") -> None:
    """``values`` (one per row) must each be a list of str (``nonempty``: none blank); else a
    :class:`UserError` names the row and column.

    A JSON string where a list belongs would be taken letter by letter, a ``null`` token
    would reach the tokenizer, a ``null`` or numeric tag would fail deep in the tag conversion,
    and a blank token has no word piece to carry its tag.
    """
    for row, value in enumerate(values):
        if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
            raise UserError(
                f"{where}, row {row + 1}: column '{column}' must hold a list of strings, got {shown(value)}"
                f"{hint if isinstance(value, (list, tuple)) and any(isinstance(v, int) for v in value) else ''}"
            )
        blank = next((k for k, v in enumerate(value) if not v.strip()), None) if nonempty else None
        if blank is not None:
            raise UserError(
                f"{where}, row {row + 1}, token {blank + 1}: column '{column}' holds a blank token {value[blank]!r}; "
                f"a token needs a character (a blank one has no word piece to carry its tag)"
            )


def _tags_by_name(ds: Any, column: str, names: list[str], where: str) -> Any:
    """``ds`` with the integer tags of ``column`` replaced by their names (``task.tag_names``); a tag
    that is already a string stays; an id beyond the names is a :class:`UserError` naming row and token."""
    named = []
    for row, tags in enumerate(ds[column]):
        if not isinstance(tags, (list, tuple)):
            named.append(tags)  # not a list: _check_string_lists names it
            continue
        for k, tag in enumerate(tags):
            if isinstance(tag, int) and not isinstance(tag, bool) and not 0 <= tag < len(names):
                raise UserError(f"{where}, row {row + 1}, token {k + 1}: tag id {tag} has no name in task.tag_names "
                                f"({len(names)} names: ids 0 to {len(names) - 1})")
        named.append([names[t] if isinstance(t, int) and not isinstance(t, bool) else t for t in tags])
    return ds.remove_columns(column).add_column(column, named)


def _check_tag_names(names: list) -> None:
    """``task.tag_names``: distinct tags, each O or <prefix>-<type>."""
    for i, name in enumerate(names):
        try:
            split_tag(name)
        except ValueError as e:
            raise UserError(f"task.tag_names[{i}]: {e}") from None
        if name in names[:i]:
            raise UserError(f"task.tag_names: '{name}' is named twice (ids {names.index(name)} and {i})")


def _check_tags_well_formed(ds: Any, column: str, source: str) -> None:
    """Every tag is O or <prefix>-<type>; else a :class:`UserError` names its file and line (CoNLL)
    or its row and token. Checked before the scheme is guessed from them."""
    lines = ds["line"] if "line" in ds.column_names else None
    files = ds["file"] if lines else None
    for i, tags in enumerate(ds[column]):
        for k, tag in enumerate(tags):
            try:
                split_tag(tag)
            except ValueError as e:
                if lines:
                    raise UserError(f"{files[i]}:{lines[i] + k}: {e} (data.tag_column picks the tag's column)") from None
                raise UserError(f"{source}, row {i + 1}, token {k + 1}: {e}") from None


def conll_lines(sentences: list[list[str]], gold: list[list[str]], pred: list[list[str]]) -> list[str]:
    """``token gold predicted`` lines, a blank line after each sentence.

    Space-separated as CoNLL-2003 is, unless a token holds whitespace (tab-separated or JSON data
    allow that): then tab-separated, which the CoNLL reader reads as such. A token's own tabs and
    line breaks are written as spaces, so every line keeps its three columns.
    """
    sep = "\t" if any(any(c.isspace() for c in t) for tokens in sentences for t in tokens) else " "
    lines = []
    for tokens, g, p in zip(sentences, gold, pred):
        lines += [sep.join((re.sub(r"[\t\r\n]", " ", t), a, b)) for t, a, b in zip(tokens, g, p)] + [""]
    return lines


@dataclass
class TaggingOptions(TaskOptions):
    scheme: Literal["auto", "iob1", "iob2", "iobes", "bmes", "bilou"] = field(
        default="auto", metadata={"help": "Tag scheme of the data (auto: detected from train)."}
    )
    train_scheme: Literal["iobes", "iob2"] = field(default="iobes", metadata={"help": "Scheme the model learns."})
    label_all_pieces: bool = field(
        default=False, metadata={"help": "Tag every word piece (continuation tags) instead of the first only."}
    )
    decode: Literal["viterbi", "argmax"] = field(default="viterbi", metadata={"help": "Constrained or plain."})
    stride: int = field(default=16, metadata={"help": "Words shared by consecutive windows of a long sentence."})
    context_words: int = field(
        default=0,
        metadata={"help": "Words of the neighbouring sentences of the same document (data with -DOCSTART-) added on "
                  "each side as unlabelled extra input, as far as the window has room; 0 = off."},
    )
    strip_position_digit: bool = field(
        default=False, metadata={"help": "Drop a trailing digit from each token (Weibo NER's 'char+position')."}
    )
    tag_names: list[str] | None = field(
        default=None,
        metadata={"help": "Names of integer tags, by id (a hub dataset saved as JSON: ner_tags 0, 1, ... -> "
                  "[O, B-PER, I-PER, ...])."},
    )


def _tag_place(ds: Any, source: str | None, row: int, position: int) -> str:
    """Where tag ``position`` of sentence ``row`` is: ``file:line`` for CoNLL files, else the row."""
    if "line" in ds.column_names:
        file = ds[row]["file"] if "file" in ds.column_names else source
        return f"{file}:{ds[row]['line'] + position}"
    return f"{source}, row {row + 1}"


def _entity_types(tag_lists: list[list[str]]) -> set[str]:
    """The entity types named by tags (``B-PER`` -> ``PER``)."""
    return {t.split("-", 1)[1] for tags in tag_lists for t in tags if t != "O"}


def _char_and_digit(sentences: list[list[str]]) -> bool:
    """Nearly all tokens (of the first 200 sentences, 20 tokens at least) a non-digit character and a
    digit: Weibo NER's segmentation positions (``科0``) left on the characters."""
    tokens = [t for sentence in sentences[:200] for t in sentence]
    hits = sum(len(t) == 2 and t[1].isdigit() and not t[0].isdigit() for t in tokens)
    return len(tokens) >= 20 and hits >= 0.9 * len(tokens)


def split_words(text: str) -> list[tuple[str, int, int]]:
    """Raw text -> (word, start, end): CJK characters one by one, other words whole, punctuation alone."""
    return [(m.group(), m.start(), m.end()) for m in WORD.finditer(text)]


@register_task
class Tagging(TaskAdapter):
    """IOBES token tagging with windows, sub-token alignment and constrained decoding."""

    name = "tagging"
    loss_over_tokens = True  # the head's cross-entropy is a mean over the labelled word pieces
    Options = TaggingOptions
    column_roles = ("tokens", "tags")
    default_metric = "f1"
    split_words = True

    def __init__(self, options: TaggingOptions):
        super().__init__(options)
        self.labels: list[str] = []
        self.source_scheme = options.scheme
        self.features: dict = {}
        self.rows: dict = {}
        self.windowed: dict[str, int] = {}

    # -- data ---------------------------------------------------------------
    def _tokens(self, tokens: list[str]) -> list[str]:
        if self.options.strip_position_digit:
            return [t[:-1] if len(t) > 1 and t[-1].isdigit() else t for t in tokens]
        return tokens

    def prepare(self, splits: dict, sources: dict[str, str], columns: dict | None = None) -> dict:
        col = {r: (columns or {}).get(r, r) for r in self.column_roles}
        hub = None  # hub/parquet ner_tags: train's ids named in its ClassLabel
        if "train" in splits and col["tags"] in splits["train"].column_names:
            hub = class_names(splits["train"].features[col["tags"]])
        named = {}
        for split, ds in splits.items():  # ids named by task.tag_names, else by the split's own ClassLabel (in
            # whatever order it lists them), else by train's
            if col["tags"] in ds.column_names:
                names = self.options.tag_names or class_names(ds.features[col["tags"]]) or hub
                if names is not None:
                    _check_tag_names(names)
                    ds = _tags_by_name(ds, col["tags"], names, f"{split} split ({sources.get(split, 'data')})")
            named[split] = ds
        splits = named
        for split, ds in splits.items():
            if col["tokens"] not in ds.column_names or (split != "test" and col["tags"] not in ds.column_names):
                absent = col["tokens"] if col["tokens"] not in ds.column_names else col["tags"]
                raise UserError(
                    f"{split} split ({sources.get(split, 'data')}): tagging needs a list of tokens and a list of tags "
                    f"per row (CoNLL columns with data.format=conll, or JSON with '{col['tokens']}'/'{col['tags']}' "
                    f"lists); the data has columns {ds.column_names}; no column '{absent}'{closest(absent, ds.column_names)}"
                )
            for role in ("tokens", "tags") if col["tags"] in ds.column_names else ("tokens",):
                where = f"{split} split ({sources.get(split, 'data')})"
                hint = "; integer tags (ids)? name them with task.tag_names=[O, B-PER, ...]" if role == "tags" else ""
                _check_string_lists(ds[col[role]], where, col[role], nonempty=role == "tokens", hint=hint)
        for split, ds in splits.items():
            if col["tags"] in ds.column_names:
                _check_tags_well_formed(ds, col["tags"], sources.get(split, "data"))
        train = splits.get("train")
        if self.source_scheme == "auto":
            # train's tags; without train (a finished run evaluated on a file), the first tagged split's
            tagged = [s for s, ds in splits.items() if col["tags"] in ds.column_names]
            first = "train" if train is not None else (tagged[0] if tagged else None)
            if first is None:
                raise UserError("task.scheme=auto needs a split with tags; set task.scheme")
            self.source_scheme = detect_scheme(splits[first][col["tags"]])
            log.info("tag scheme detected in %s: %s", first, self.source_scheme)
        scheme = self.options.train_scheme
        out = {}
        types: set[str] = set()
        warned = self.options.strip_position_digit
        for split, ds in splits.items():
            source = sources.get(split, "data")
            tokens = [self._tokens(list(t)) for t in ds[col["tokens"]]]
            if not warned and _char_and_digit(tokens):
                warned = True
                log.warning("%s split (%s): nearly every token is one character and a digit (%s), as in Weibo "
                            "NER's 'char+position' tokens; set task.strip_position_digit=true to read the characters "
                            "alone", split, source, " ".join(tokens[0][:4]))
            rows = {"tokens": tokens}
            if col["tags"] in ds.column_names:
                converted, bad, first = [], 0, None
                for i, tags in enumerate(ds[col["tags"]]):
                    if len(tags) != len(tokens[i]):
                        raise UserError(f"{split} split ({source}), row {i + 1}: {len(tokens[i])} tokens, {len(tags)} tags")
                    new, invalid = convert(tags, self.source_scheme, scheme)  # tags checked well formed above
                    if invalid:
                        bad += 1
                        if first is None:
                            first = _tag_place(ds, source, i, invalid[0])
                    converted.append(new)
                    types.update(t.split("-", 1)[1] for t in new if t != "O")
                if bad:
                    guess = detect_scheme(ds[col["tags"]]) if self.options.scheme != "auto" else self.source_scheme
                    hint = f"; these tags look like {guess}: set task.scheme={guess}, or auto" if (
                        guess != self.source_scheme) else ""
                    log.warning(
                        "%s: %d sentence(s) have tags invalid under %s (first at %s); repaired: a continuation tag "
                        "that continues no entity starts one, an entity left open ends at its last tag%s",
                        split, bad, self.source_scheme, first, hint,
                    )
                rows["tags"] = converted
            out[split] = rows
        known = None
        if self.labels:  # a finished run's tags (evaluation): types it never learnt cannot be scored
            known = _entity_types([self.labels])
            why = f"are not among the run's types {sorted(known)}"
        elif train is not None:
            known = types = _entity_types(out["train"]["tags"])
            why = "never occur in train"
        if known is not None:
            for split, rows in out.items():
                extra = _entity_types(rows.get("tags", [])) - known
                if extra:
                    row, position = next((i, j) for i, tags in enumerate(rows["tags"]) for j, t in enumerate(tags)
                                         if t != "O" and t.split("-", 1)[1] in extra)
                    place = _tag_place(splits[split], sources.get(split), row, position)
                    raise UserError(f"{split} split ({sources.get(split)}): entity types {sorted(extra)} {why} "
                                    f"(the first at {place})")
        if not self.labels:
            self.labels = label_set(types, scheme)
        from datasets import Dataset

        n = self.options.context_words
        for split, rows in out.items():
            docs = splits[split]["doc"] if "doc" in splits[split].column_names else None
            if n and docs is not None:
                rows["left"], rows["right"] = self._context(rows["tokens"], docs, n)
        # `__index` ties each window (feature) back to its sentence.
        return {split: Dataset.from_dict({**rows, "__index": list(range(len(rows["tokens"])))})
                for split, rows in out.items()}

    @staticmethod
    def _context(sentences: list[list[str]], docs: list[int], n: int) -> tuple[list, list]:
        """Up to ``n`` words before and after each sentence, from its own document only."""
        left, right = [], []
        for i in range(len(sentences)):
            before: list[str] = []
            j = i - 1
            while j >= 0 and docs[j] == docs[i] and len(before) < n:
                before = sentences[j] + before
                j -= 1
            after: list[str] = []
            j = i + 1
            while j < len(sentences) and docs[j] == docs[i] and len(after) < n:
                after = after + sentences[j]
                j += 1
            left.append(before[-n:] if before else [])
            right.append(after[:n])
        return left, right

    def attach(self, rows: dict, features: dict) -> None:
        self.rows, self.features = rows, features
        for split, feats in features.items():
            self.windowed[split] = len(feats) - len(rows[split])
            if self.windowed[split]:
                log.info("%s: %d extra windows for sentences longer than the window", split, self.windowed[split])

    # -- features -----------------------------------------------------------
    def windows(self, piece_counts: list[int], budget: int) -> list[tuple[int, int]]:
        """Word ranges [start, end) whose pieces fit ``budget``, overlapping by ``stride`` words."""
        n = len(piece_counts)
        spans, start = [], 0
        while True:
            end, used = start, 0
            while end < n and (used + piece_counts[end] <= budget or end == start):
                used += piece_counts[end]
                end += 1
            spans.append((start, end))
            if end >= n:
                return spans
            start = max(start + 1, end - self.options.stride)

    def encode_fn(self, tokenizer: Any, max_length: int):
        label_id = {label: i for i, label in enumerate(self.labels)}
        all_pieces = self.options.label_all_pieces
        scheme = self.options.train_scheme
        budget = max_length - 2  # [CLS] and [SEP]

        def encode(batch: dict) -> dict:
            out: dict[str, list] = {k: [] for k in ("input_ids", "attention_mask", "token_type_ids", "labels",
                                                    "example", "word_offset", "piece_offset", "word_ids")}
            has_tags = "tags" in batch
            for ex, words in enumerate(batch["tokens"]):
                words = [w if w else tokenizer.unk_token for w in words]
                pieces = tokenizer(words, is_split_into_words=True, add_special_tokens=False)["input_ids"]
                counts = [len(tokenizer(w, add_special_tokens=False)["input_ids"]) or 1 for w in words] \
                    if len(pieces) > budget else None
                ranges = self.windows(counts, budget) if counts else [(0, len(words))]
                piece_start = np.cumsum([0] + counts).tolist() if counts else None
                for start, end in ranges:
                    before, after = self._fit_context(tokenizer, batch, ex, words, start, end, counts, pieces, budget)
                    span = before + words[start:end] + after
                    enc = tokenizer(span, is_split_into_words=True, truncation=True, max_length=max_length)
                    # Context words (outside the sentence window) get -1, as special tokens do.
                    word_ids = [w - len(before) if w is not None and len(before) <= w < len(before) + end - start
                                else -1 for w in enc.word_ids()]
                    for key in ("input_ids", "attention_mask", "token_type_ids"):
                        out[key].append(enc[key] if key in enc else [0] * len(enc["input_ids"]))
                    out["example"].append(batch["__index"][ex])
                    out["word_offset"].append(start)
                    out["piece_offset"].append(piece_start[start] if piece_start else 0)
                    out["word_ids"].append(word_ids)
                    if not has_tags:
                        out["labels"].append([-100] * len(word_ids))
                        continue
                    tags = batch["tags"][ex][start:end]
                    if all_pieces:
                        piece_words = [w for w in word_ids if w >= 0]
                        first = {w: i for i, w in reversed(list(enumerate(piece_words)))}
                        last = {w: i for i, w in enumerate(piece_words)}
                        spans, _ = to_spans(tags, scheme)
                        piece_spans = [(k, first[s], last[e - 1] + 1) for k, s, e in spans if s in first and e - 1 in last]
                        piece_tags = from_spans(piece_spans, len(piece_words), scheme)
                        it = iter(piece_tags)
                        out["labels"].append([-100 if w < 0 else label_id[next(it)] for w in word_ids])
                    else:
                        prev, labels = None, []
                        for w in word_ids:
                            labels.append(label_id[tags[w]] if w >= 0 and w != prev else -100)
                            prev = w if w >= 0 else prev
                        out["labels"].append(labels)
            return out

        return encode

    @staticmethod
    def _fit_context(tokenizer: Any, batch: dict, ex: int, words: list, start: int, end: int,
                     counts: list | None, pieces: list, budget: int) -> tuple[list, list]:
        """The document context words that fit beside window [start, end), nearest words first."""
        if "left" not in batch:
            return [], []
        left, right = batch["left"][ex], batch["right"][ex]
        if not left and not right:
            return [], []
        used = sum(counts[start:end]) if counts else len(pieces)
        room = budget - used
        if room <= 0:
            return [], []
        sizes = [len(p) or 1 for p in tokenizer(left + right, add_special_tokens=False)["input_ids"]]
        left_sizes, right_sizes = sizes[: len(left)], sizes[len(left):]
        before, after = 0, 0
        while True:  # grow both sides alternately, one word at a time
            grew = False
            if before < len(left) and left_sizes[len(left) - 1 - before] <= room:
                room -= left_sizes[len(left) - 1 - before]
                before += 1
                grew = True
            if after < len(right) and right_sizes[after] <= room:
                room -= right_sizes[after]
                after += 1
                grew = True
            if not grew:
                break
        return (left[len(left) - before:] if before else []), right[:after]

    def collator(self, tokenizer: Any):
        from transformers import DataCollatorForTokenClassification

        return DataCollatorForTokenClassification(tokenizer)

    # -- model --------------------------------------------------------------
    def build_model(self, encoder_path: str, **load_kwargs: Any):
        from transformers import AutoModelForTokenClassification

        return AutoModelForTokenClassification.from_pretrained(
            encoder_path,
            num_labels=len(self.labels),
            id2label=dict(enumerate(self.labels)),
            label2id={t: i for i, t in enumerate(self.labels)},
            **self.options.model_config,
            **load_kwargs,
        )

    @classmethod
    def load_model(cls, run_dir: str) -> Any:
        from transformers import AutoModelForTokenClassification

        return AutoModelForTokenClassification.from_pretrained(run_dir, use_safetensors=True)

    # -- decoding -----------------------------------------------------------
    def unit_scores(self, logits: np.ndarray, features: Any, n_examples: int, lengths: list[int]) -> list[np.ndarray]:
        """Merge window logits into one log-probability matrix per example.

        Units are words (first-piece mode) or word pieces (``label_all_pieces``);
        each unit takes the window where it sits farthest from an edge.
        Returns per example an array (units, labels).
        """
        z = logits - logits.max(-1, keepdims=True)
        logp = z - np.log(np.exp(z).sum(-1, keepdims=True))  # (features, positions, labels)
        scores = [np.zeros((n, logp.shape[-1]), dtype=np.float32) for n in lengths]
        best = [np.full(n, -1, dtype=np.int64) for n in lengths]
        all_pieces = self.options.label_all_pieces
        for f, (ex, w_off, p_off, word_ids) in enumerate(
            zip(features["example"], features["word_offset"], features["piece_offset"], features["word_ids"])
        ):
            units = []  # (position in the window, unit index in the example)
            prev, piece = None, 0
            for pos, w in enumerate(word_ids):
                if w < 0:
                    continue
                if all_pieces:
                    units.append((pos, p_off + piece))
                    piece += 1
                elif w != prev:
                    units.append((pos, w_off + w))
                prev = w
            n = len(units)
            for k, (pos, unit) in enumerate(units):
                centrality = min(k, n - 1 - k)
                if unit < lengths[ex] and centrality > best[ex][unit]:
                    best[ex][unit] = centrality
                    scores[ex][unit] = logp[f, pos]
        return scores

    def decode(self, scores: np.ndarray, method: str | None = None) -> list[str]:
        ids = viterbi(scores, self.labels, self.options.train_scheme) if (method or self.options.decode) == "viterbi" \
            else argmax(scores)
        return [self.labels[i] for i in ids]

    def piece_words(self, features: Any, n_examples: int) -> list[list[int]]:
        """For each example, the word index of every piece (``label_all_pieces`` mode)."""
        out: list[dict[int, int]] = [{} for _ in range(n_examples)]
        for ex, w_off, p_off, word_ids in zip(
            features["example"], features["word_offset"], features["piece_offset"], features["word_ids"]
        ):
            piece = 0
            for w in word_ids:
                if w >= 0:
                    out[ex][p_off + piece] = w_off + w
                    piece += 1
        return [[m[i] for i in range(len(m))] for m in out]

    def to_word_tags(self, unit_tags: list[str], n_words: int, piece_words: list[int] | None) -> list[str]:
        if piece_words is None:
            return unit_tags
        spans, _ = to_spans(unit_tags, self.options.train_scheme)
        word_spans, taken = [], set()
        for kind, s, e in spans:
            ws, we = piece_words[s], piece_words[e - 1] + 1
            if not taken & set(range(ws, we)):
                word_spans.append((kind, ws, we))
                taken.update(range(ws, we))
        return from_spans(word_spans, n_words, self.options.train_scheme)

    def predict_tags(self, logits: np.ndarray, features: Any, tokens: list[list[str]], method: str | None = None):
        """Word-level tags for every example from the logits of its windows."""
        all_pieces = self.options.label_all_pieces
        pw = self.piece_words(features, len(tokens)) if all_pieces else None
        lengths = [len(p) for p in pw] if pw else [len(t) for t in tokens]
        scores = self.unit_scores(logits, features, len(tokens), lengths)
        return [self.to_word_tags(self.decode(s, method), len(tokens[i]), pw[i] if pw else None)
                for i, s in enumerate(scores)]

    # -- evaluation ---------------------------------------------------------
    def _metrics(self, gold: list[list[str]], pred: list[list[str]], detailed: bool = False) -> dict:
        from seqeval.metrics import classification_report, f1_score, precision_score, recall_score
        from seqeval.scheme import IOB2, IOBES

        mode = {"mode": "strict", "scheme": IOBES if self.options.train_scheme == "iobes" else IOB2}
        correct = sum(g == p for gs, ps in zip(gold, pred) for g, p in zip(gs, ps))
        total = sum(len(g) for g in gold)
        out = {
            "precision": float(precision_score(gold, pred, **mode, zero_division=0)),
            "recall": float(recall_score(gold, pred, **mode, zero_division=0)),
            "f1": float(f1_score(gold, pred, **mode, zero_division=0)),
            "token_accuracy": correct / total if total else 0.0,
            "invalid_sequences": sum(bool(to_spans(p, self.options.train_scheme)[1]) for p in pred),
        }
        if detailed:
            report = classification_report(gold, pred, **mode, output_dict=True, zero_division=0)
            out["per_type"] = {k: {m: float(v) for m, v in r.items()} for k, r in report.items() if "avg" not in k}
        return out

    def compute_metrics(self, eval_pred: Any) -> dict[str, float]:
        logits = eval_pred.predictions[0] if isinstance(eval_pred.predictions, tuple) else eval_pred.predictions
        split = self.eval_split
        if split not in self.features or len(self.features[split]) != len(logits):
            raise ValueError(
                "tagging compute_metrics scores windows of a known split only: call trainer.predict("
                "trainer.job.features[<split>]) or trainer.evaluate()"
            )
        rows = self.rows[split]
        pred = self.predict_tags(logits, self.features[split], rows["tokens"])
        return self._metrics(rows["tags"], pred)

    def metric_names(self) -> list[str]:
        return list(self._metrics([["O"]], [["O"]]))

    def report(self, split: str, rows: Any, output: Any, run_dir: str) -> dict:
        logits = output.predictions[0] if isinstance(output.predictions, tuple) else output.predictions
        feats = self.features[split]
        pred = self.predict_tags(logits, feats, rows["tokens"])
        labelled = "tags" in rows.column_names
        gold = rows["tags"] if labelled else [["-"] * len(t) for t in rows["tokens"]]
        lines = conll_lines(rows["tokens"], gold, pred)
        write_text(Path(run_dir) / f"predictions_{split}.conll", "\n".join(lines))
        if not labelled:
            return {}
        metrics = self._metrics(rows["tags"], pred, detailed=True)
        plain = self._metrics(rows["tags"], self.predict_tags(logits, feats, rows["tokens"], "argmax"))
        metrics.update({f"argmax_{k}": v for k, v in plain.items()})
        metrics["windowed_sentences"] = self.windowed.get(split, 0)
        f1 = {t: v["f1-score"] for t, v in metrics.get("per_type", {}).items()}
        if f1:
            plots.bar_chart(f1, Path(run_dir) / f"per_type_f1_{split}.png", f"{split}: entity F1 per type", "F1")
        return metrics

    def summary(self) -> dict:
        return {"scheme_in_data": self.source_scheme, "train_scheme": self.options.train_scheme, "labels": self.labels,
                "windowed": self.windowed}

    # -- prediction ---------------------------------------------------------
    @classmethod
    def from_run(cls, options: TaggingOptions, model: Any, run_dir: str) -> Tagging:
        adapter = cls(options)
        adapter.labels = [model.config.id2label[i] for i in range(len(model.config.id2label))]
        return adapter

    input_fields = ("text",)
    input_help = "a raw text (str) or a list of tokens (non-blank str)"

    @classmethod
    def accepts(cls, x: Any) -> bool:  # a blank token has no word piece to carry a tag
        return isinstance(x, str) or (isinstance(x, (list, tuple)) and all(isinstance(t, str) and t.strip() for t in x))

    def make_input(self, row: dict) -> Any:
        if "tokens" in row:
            return list(row["tokens"])
        if "text" not in row:
            raise UserError(f"an input row needs 'text' (raw text) or 'tokens' (a list); its fields: {list(row)}")
        return row["text"]

    def predict(self, model: Any, tokenizer: Any, inputs: list, batch_size: int = 32, max_length: int = 512) -> list[dict]:
        """Tag raw texts (``str``: entity spans with character offsets) or token lists.

        Returns per input ``tokens``, ``tags`` and ``entities`` (``type``, ``text``,
        ``start``, ``end``: character offsets for raw text, token indices for lists).
        """
        import torch
        from datasets import Dataset

        words, offsets = [], []
        for x in inputs:
            if isinstance(x, str):
                split = split_words(x)
                words.append([w for w, _, _ in split])
                offsets.append([(s, e) for _, s, e in split])
            else:
                words.append(self._tokens(list(x)))
                offsets.append(None)
        rows = Dataset.from_dict({"tokens": words, "__index": list(range(len(words)))})
        feats = encode_quietly(rows, self.encode_fn(tokenizer, max_length))
        model.eval()
        logits = []
        with torch.inference_mode():
            for start in range(0, len(feats), batch_size):
                batch = feats[start : start + batch_size]
                enc = tokenizer.pad({k: batch[k] for k in ("input_ids", "attention_mask", "token_type_ids")},
                                    return_tensors="pt").to(model.device)
                out = model(**enc).logits.float().cpu().numpy()
                logits += list(out)
        width = max((len(x) for x in logits), default=0)
        padded = np.zeros((len(logits), width, len(self.labels)), dtype=np.float32)
        for i, x in enumerate(logits):
            padded[i, : len(x)] = x
        tags = self.predict_tags(padded, feats, words)
        results = []
        for i, x in enumerate(inputs):
            entities = []
            for kind, s, e in to_spans(tags[i], self.options.train_scheme)[0]:
                if offsets[i] is not None:
                    start, end = offsets[i][s][0], offsets[i][e - 1][1]
                    entities.append({"type": kind, "text": x[start:end], "start": start, "end": end})
                else:
                    entities.append({"type": kind, "text": " ".join(words[i][s:e]), "start": s, "end": e})
            results.append({"tokens": words[i], "tags": tags[i], "entities": entities})
        return results
