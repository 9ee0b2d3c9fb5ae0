import numpy as np
import pytest
from sklearn.metrics import f1_score, matthews_corrcoef

from bert_tasks.metrics import classification_metrics


def test_binary_by_hand():
    # gold:  1 1 1 0 0 ; pred: 1 0 1 1 0  -> TP=2 FP=1 FN=1 TN=1
    m = classification_metrics([1, 1, 1, 0, 0], [1, 0, 1, 1, 0], ["neg", "pos"], positive=1, detailed=True)
    assert m["accuracy"] == pytest.approx(3 / 5)
    assert m["precision"] == pytest.approx(2 / 3)
    assert m["recall"] == pytest.approx(2 / 3)
    assert m["f1"] == pytest.approx(2 / 3)
    assert m["f1_neg"] == pytest.approx(0.5)  # P=1/2, R=1/2
    assert m["macro_f1"] == pytest.approx((2 / 3 + 0.5) / 2)
    assert m["mcc"] == pytest.approx((2 * 1 - 1 * 1) / np.sqrt(3 * 3 * 2 * 2))
    assert m["confusion_matrix"] == [[1, 1], [1, 2]]
    assert m["per_class"]["pos"]["support"] == 3


def test_multiclass_matches_sklearn():
    rng = np.random.default_rng(0)
    y, p = rng.integers(0, 4, 300), rng.integers(0, 4, 300)
    m = classification_metrics(y, p, list("abcd"))
    assert m["macro_f1"] == pytest.approx(f1_score(y, p, average="macro"))
    assert "f1" not in m and "mcc" not in m  # binary-only metrics
    b = classification_metrics(y % 2, p % 2, ["x", "y"], positive=1)
    assert b["mcc"] == pytest.approx(matthews_corrcoef(y % 2, p % 2))


def test_absent_class_not_in_macro():
    m = classification_metrics([0, 0, 1], [0, 0, 1], ["a", "b", "c"])
    assert m["macro_f1"] == pytest.approx(1.0)
