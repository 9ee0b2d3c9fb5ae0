"""Single-label classification metrics (all fractions in [0, 1])."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def classification_metrics(
    y_true: Sequence[int],
    y_pred: Sequence[int],
    label_names: Sequence[str],
    positive: int | None = None,
    detailed: bool = False,
) -> dict:
    """Accuracy, macro-F1 and per-class precision/recall/F1; binary extras when ``positive`` is set.

    Args:
        y_true: gold class ids, shape (n,).
        y_pred: predicted class ids, shape (n,).
        label_names: name of each class id.
        positive: the positive class id for binary ``f1``, ``precision``, ``recall`` and ``mcc``.
        detailed: add ``per_class`` (name -> precision/recall/f1/support) and
            ``confusion_matrix`` (rows gold, columns predicted), which are not scalars.

    Returns:
        ``accuracy``, ``macro_f1``, ``f1_<name>`` per class, and for binary
        labels ``f1`` / ``precision`` / ``recall`` of the positive class and ``mcc``.
    """
    from sklearn.metrics import confusion_matrix, matthews_corrcoef, precision_recall_fscore_support

    y_true = np.asarray(y_true)
    y_pred = np.asarray(y_pred)
    ids = list(range(len(label_names)))
    p, r, f, s = precision_recall_fscore_support(y_true, y_pred, labels=ids, zero_division=0)
    # Macro over the classes seen in gold or predictions, as sklearn's f1_score(average="macro").
    present = (s > 0) | np.isin(ids, y_pred)
    out = {
        "accuracy": float((y_true == y_pred).mean()) if len(y_true) else 0.0,
        "macro_f1": float(f[present].mean()) if present.any() else 0.0,
    }
    for i, name in enumerate(label_names):
        out[f"f1_{name}"] = float(f[i])
    if positive is not None:
        out["f1"] = float(f[positive])
        out["precision"] = float(p[positive])
        out["recall"] = float(r[positive])
        out["mcc"] = float(matthews_corrcoef(y_true, y_pred)) if len(y_true) else 0.0
    if detailed:
        out["per_class"] = {
            name: {"precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]), "support": int(s[i])}
            for i, name in enumerate(label_names)
        }
        out["confusion_matrix"] = confusion_matrix(y_true, y_pred, labels=ids).tolist()
    return out
