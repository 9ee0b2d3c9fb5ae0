"""Multi-label metrics and per-label threshold tuning (all metrics are fractions in [0, 1])."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def _prf(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    with np.errstate(divide="ignore", invalid="ignore"):
        p = np.where(tp + fp > 0, tp / (tp + fp), 0.0)
        r = np.where(tp + fn > 0, tp / (tp + fn), 0.0)
        f = np.where(p + r > 0, 2 * p * r / (p + r), 0.0)
    return p, r, f


def multilabel_metrics(y_true: np.ndarray, y_pred: np.ndarray, names: Sequence[str], detailed: bool = False) -> dict:
    """Micro/macro F1, subset accuracy, Hamming loss (and per-label figures when ``detailed``).

    Args:
        y_true: gold 0/1 matrix, shape (n, labels).
        y_pred: predicted 0/1 matrix, shape (n, labels).
        names: label names, one per column.
        detailed: add ``per_label`` (name -> precision/recall/f1/support).

    Macro-F1 averages over every label (as sklearn's ``f1_score(average="macro")``,
    a label with no gold and no predicted positives counts as F1 0).
    """
    y_true = np.asarray(y_true).astype(bool)
    y_pred = np.asarray(y_pred).astype(bool)
    tp = (y_true & y_pred).sum(0).astype(float)
    fp = (~y_true & y_pred).sum(0).astype(float)
    fn = (y_true & ~y_pred).sum(0).astype(float)
    p, r, f = _prf(tp, fp, fn)
    mp, mr, mf = _prf(tp.sum(), fp.sum(), fn.sum())
    out = {
        "micro_f1": float(mf),
        "micro_precision": float(mp),
        "micro_recall": float(mr),
        "macro_f1": float(f.mean()) if len(f) else 0.0,
        "subset_accuracy": float((y_true == y_pred).all(1).mean()) if len(y_true) else 0.0,
        "hamming_loss": float((y_true != y_pred).mean()) if y_true.size else 0.0,
    }
    if detailed:
        support = y_true.sum(0)
        out["per_label"] = {
            name: {"precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]), "support": int(support[i])}
            for i, name in enumerate(names)
        }
    return out


def best_threshold(scores: np.ndarray, gold: np.ndarray) -> tuple[float, float]:
    """The threshold on ``scores`` that maximises F1 for one label, and that F1.

    Every distinct score is a candidate (predict positive when score >= t); the
    returned threshold is the midpoint between the chosen score and the next
    lower one, so it generalises better than the exact score. Returns
    (0.5, 0.0) when ``gold`` has no positive.
    """
    gold = np.asarray(gold).astype(bool)
    positives = gold.sum()
    if positives == 0:
        return 0.5, 0.0
    order = np.argsort(-scores, kind="stable")
    s, g = scores[order], gold[order]
    tp = np.cumsum(g)
    k = np.arange(1, len(s) + 1)
    # Only cut between distinct scores: the last index of each run of ties.
    last = np.r_[s[1:] != s[:-1], True]
    f1 = np.where(last, 2 * tp / (k + positives), -1.0)
    i = int(np.argmax(f1))
    lower = s[i + 1] if i + 1 < len(s) else s[i] - 1e-6
    return float((s[i] + lower) / 2), float(f1[i])


def tune_thresholds(probs: np.ndarray, gold: np.ndarray, fallback: float | None = None) -> np.ndarray:
    """Per-label thresholds that maximise each label's F1 on (probs, gold).

    A label with no positive in ``gold`` gets ``fallback`` (default: the single
    global threshold that maximises micro-F1 over all labels).
    """
    probs = np.asarray(probs, dtype=float)
    gold = np.asarray(gold).astype(bool)
    if fallback is None:
        fallback, _ = best_threshold(probs.ravel(), gold.ravel())
    out = np.full(probs.shape[1], fallback, dtype=float)
    for j in range(probs.shape[1]):
        if gold[:, j].any():
            out[j], _ = best_threshold(probs[:, j], gold[:, j])
    return out
