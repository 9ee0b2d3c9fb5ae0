import numpy as np
import pytest
from sklearn.metrics import f1_score, hamming_loss

from bert_tasks.metrics.multilabel import best_threshold, multilabel_metrics, tune_thresholds


def test_metrics_match_sklearn():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, (200, 5))
    p = rng.integers(0, 2, (200, 5))
    m = multilabel_metrics(y, p, list("abcde"), detailed=True)
    assert m["micro_f1"] == pytest.approx(f1_score(y, p, average="micro"))
    assert m["macro_f1"] == pytest.approx(f1_score(y, p, average="macro"))
    assert m["hamming_loss"] == pytest.approx(hamming_loss(y, p))
    assert m["subset_accuracy"] == pytest.approx((y == p).all(1).mean())
    assert m["per_label"]["c"]["support"] == int(y[:, 2].sum())


def test_best_threshold_separable():
    scores = np.array([0.9, 0.8, 0.35, 0.3, 0.1])
    gold = np.array([1, 1, 1, 0, 0])
    t, f1 = best_threshold(scores, gold)
    assert f1 == pytest.approx(1.0)
    assert 0.3 < t < 0.35  # between the lowest positive and the highest negative


def test_best_threshold_trades_precision_for_recall():
    # positives at 0.9 and 0.2; negatives at 0.5, 0.4, 0.1.
    # t in (0.5, 0.9]: P=1 R=.5 F1=.667; t in (0.1, 0.2]: P=.5 R=1 F1=.667 (tie: the higher threshold wins)
    scores = np.array([0.9, 0.5, 0.4, 0.2, 0.1])
    gold = np.array([1, 0, 0, 1, 0])
    t, f1 = best_threshold(scores, gold)
    assert f1 == pytest.approx(2 / 3)
    assert 0.5 < t < 0.9


def test_tune_thresholds_known_per_label_and_fallback():
    rng = np.random.default_rng(1)
    n = 400
    gold = np.zeros((n, 3), dtype=int)
    gold[:, 0] = rng.random(n) < 0.3
    gold[:, 1] = rng.random(n) < 0.1
    probs = np.zeros((n, 3))
    # label 0 is separable at 0.7, label 1 at 0.2; label 2 never occurs.
    probs[:, 0] = np.where(gold[:, 0], rng.uniform(0.72, 1.0, n), rng.uniform(0.0, 0.68, n))
    probs[:, 1] = np.where(gold[:, 1], rng.uniform(0.22, 0.5, n), rng.uniform(0.0, 0.18, n))
    probs[:, 2] = rng.uniform(0, 0.4, n)
    t = tune_thresholds(probs, gold, fallback=0.5)
    assert 0.68 <= t[0] <= 0.72
    assert 0.18 <= t[1] <= 0.22
    assert t[2] == 0.5
    assert multilabel_metrics(gold, probs >= t, ["a", "b", "c"])["micro_f1"] == pytest.approx(1.0)
