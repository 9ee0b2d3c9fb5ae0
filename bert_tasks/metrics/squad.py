"""SQuAD exact match and F1 (official answer normalisation), as fractions in [0, 1].

Normalisation (SQuAD v1.1/v2.0 evaluation): lower case, drop punctuation, drop the
articles a/an/the, collapse whitespace. F1 is over the bag of normalised tokens;
both scores take the max over the gold answers. An unanswerable question (no gold
answer) scores 1 only for the empty prediction. Text with CJK characters is
compared character by character (as the CMRC 2018 evaluation does), since it has
no spaces between words.
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Iterable, Sequence

_PUNCT = set(string.punctuation) | set("，。、；：？！“”‘’（）《》【】—…·「」『』")
_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)
_CJK = re.compile(r"([\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff])")


def normalize_answer(text: str) -> str:
    text = "".join(ch for ch in text.lower() if ch not in _PUNCT)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def answer_tokens(text: str) -> list[str]:
    norm = normalize_answer(text)
    return _CJK.sub(r" \1 ", norm).split()


def exact_match(prediction: str, golds: Sequence[str]) -> float:
    if not golds:
        return float(prediction == "")
    return float(max(normalize_answer(prediction) == normalize_answer(g) for g in golds))


def f1(prediction: str, golds: Sequence[str]) -> float:
    if not golds:
        return float(prediction == "")
    pred = answer_tokens(prediction)
    best = 0.0
    for gold in golds:
        ref = answer_tokens(gold)
        if not pred or not ref:
            best = max(best, float(pred == ref))
            continue
        same = sum((Counter(pred) & Counter(ref)).values())
        if same:
            p, r = same / len(pred), same / len(ref)
            best = max(best, 2 * p * r / (p + r))
    return best


def squad_metrics(predictions: Sequence[str], golds: Sequence[Sequence[str]]) -> dict:
    """``exact_match`` and ``f1`` over all questions; for data with unanswerable questions
    also ``has_ans_*`` / ``no_ans_*`` and their counts."""
    em = [exact_match(p, g) for p, g in zip(predictions, golds)]
    f = [f1(p, g) for p, g in zip(predictions, golds)]
    n = len(em)
    out = {"exact_match": sum(em) / n if n else 0.0, "f1": sum(f) / n if n else 0.0}
    has = [i for i, g in enumerate(golds) if g]
    if len(has) < n:
        no = [i for i, g in enumerate(golds) if not g]
        for name, idx in (("has_ans", has), ("no_ans", no)):
            out[f"{name}_exact_match"] = sum(em[i] for i in idx) / len(idx) if idx else 0.0
            out[f"{name}_f1"] = sum(f[i] for i in idx) / len(idx) if idx else 0.0
            out[f"{name}_total"] = len(idx)
    return out


def best_null_threshold(
    null_minus_best: Iterable[float], predictions: Sequence[str], golds: Sequence[Sequence[str]]
) -> tuple[float, float]:
    """The no-answer threshold with the best F1: answer "" when (null score - best span score) > t.

    Returns (threshold, F1 at it), trying every gap in the data.
    """
    gaps = list(null_minus_best)
    span_f1 = [f1(p, g) for p, g in zip(predictions, golds)]
    null_f1 = [float(not g) for g in golds]
    order = sorted(range(len(gaps)), key=lambda i: gaps[i], reverse=True)
    # threshold above every gap: always answer with the span
    score = sum(span_f1)
    best, best_t = score, max(gaps, default=0.0) + 1e-6
    for i in order:  # lowering t below gaps[i] turns question i into "no answer"
        score += null_f1[i] - span_f1[i]
        if score > best:
            best, best_t = score, gaps[i] - 1e-6
    return best_t, best / len(gaps) if gaps else 0.0
