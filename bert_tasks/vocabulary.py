"""How much of the data the encoder's vocabulary covers.

A text in a script the vocabulary lacks trains without an error, but as unknown tokens the model
cannot tell apart: the Resume NER sample on ``embedded`` (an English vocabulary) is 50% ``[UNK]``,
where the English data sets here stay under 0.2% (GoEmotions' emoji). Each run counts the unknown
word pieces of every split; from 1% it warns and names the most frequent words behind them.
"""

from __future__ import annotations

import logging
from collections import Counter
from typing import Any

log = logging.getLogger("bert_tasks")

WARN_SHARE = 0.01  # a split with at least this share of unknown word pieces gets a warning
TEXT_ROLES = ("text", "text_pair", "tokens", "question", "context")  # the roles whose values are text
EXAMPLE_ROWS = 2000  # rows of a split searched for the words behind its unknown word pieces
EXAMPLES = 8  # words named in the warning


def unknown_counts(features: dict, tokenizer: Any) -> dict[str, tuple[int, int]]:
    """Split -> (unknown word pieces, all word pieces but the special tokens) of its encoded ``input_ids``;
    empty for a tokenizer without an unknown token (byte-level BPE encodes every text)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    unk = tokenizer.unk_token_id
    if unk is None:
        return {}
    special = pa.array(sorted(set(tokenizer.all_special_ids) - {unk}), pa.int64())
    out = {}
    for split, ds in features.items():
        ids = pc.cast(pc.list_flatten(ds.with_format("arrow")["input_ids"]), pa.int64())
        unknown = pc.sum(pc.equal(ids, unk)).as_py() or 0
        pieces = len(ids) - (pc.sum(pc.is_in(ids, value_set=special)).as_py() or 0)
        out[split] = (unknown, pieces)
    return out


def unknown_words(rows: Any, tokenizer: Any, limit: int = EXAMPLE_ROWS) -> Counter:
    """The words (text spans) that become the unknown token in the first ``limit`` rows, counted."""
    texts = []
    part = rows.select(range(min(limit, len(rows))))
    for column in (c for c in TEXT_ROLES if c in part.column_names):
        for value in part[column]:
            texts.extend([value] if isinstance(value, str) else [v for v in value or () if isinstance(v, str)])
    found: Counter = Counter()
    if not texts:
        return found
    encoded = tokenizer(texts, add_special_tokens=False, return_offsets_mapping=True)
    for text, ids, offsets in zip(texts, encoded["input_ids"], encoded["offset_mapping"]):
        for token, (start, end) in zip(ids, offsets):
            if token == tokenizer.unk_token_id:
                found[text[start:end]] += 1
    return found


def report_unknown(counts: dict[str, tuple[int, int]], rows: dict, tokenizer: Any, encoder: str) -> None:
    """One warning for the splits whose share of unknown word pieces reaches :data:`WARN_SHARE`, naming
    the words behind them in the first of those splits."""
    high = {split: (unknown, pieces) for split, (unknown, pieces) in counts.items()
            if pieces and unknown >= WARN_SHARE * pieces}
    if not high:
        return
    shares = ", ".join(f"{split} {100 * unknown / pieces:.1f}% ({unknown} of {pieces})"
                       for split, (unknown, pieces) in high.items())
    first = next(iter(high))
    words = unknown_words(rows[first], tokenizer).most_common(EXAMPLES)
    named = f"; most often, in {first}: " + ", ".join(f"{w!r} x{n}" for w, n in words) if words else ""
    log.warning(
        "%s of the word pieces are the unknown token %s: the vocabulary of encoder '%s' lacks them%s. The model "
        "cannot tell them apart; an encoder whose vocabulary covers the data's language and script learns far "
        "more from it", shares, tokenizer.unk_token, encoder, named,
    )
