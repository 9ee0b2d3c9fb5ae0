import pytest

from bert_tasks.metrics.squad import best_null_threshold, exact_match, f1, normalize_answer, squad_metrics


def test_normalisation():
    assert normalize_answer("The  Cat, sat!") == "cat sat"
    assert normalize_answer("an apple") == "apple"


def test_em_and_f1_by_hand():
    assert exact_match("the Denver Broncos", ["Denver Broncos", "Broncos"]) == 1.0
    # pred tokens: denver broncos won ; gold: broncos -> P=1/3 R=1 F1=0.5
    assert f1("Denver Broncos won", ["Broncos"]) == pytest.approx(0.5)
    # max over golds: gold 2 "denver broncos" -> P=2/3 R=1 -> 0.8
    assert f1("Denver Broncos won", ["Broncos", "Denver Broncos"]) == pytest.approx(0.8)
    assert f1("", ["x"]) == 0.0


def test_no_answer_scoring_and_breakdown():
    m = squad_metrics(["", "Paris", "Rome"], [[], ["Paris"], []])
    assert m["exact_match"] == pytest.approx(2 / 3)
    assert m["has_ans_f1"] == 1.0 and m["has_ans_total"] == 1
    assert m["no_ans_exact_match"] == 0.5 and m["no_ans_total"] == 2


def test_chinese_character_f1():
    # pred 光荣和 vs gold 光荣和ω-force: chars shared 3 of pred 3, gold tokens 光 荣 和 ωforce -> P=1 R=3/4
    assert f1("光荣和", ["光荣和ω-force"]) == pytest.approx(2 * 0.75 / 1.75)


def test_best_null_threshold():
    # gaps (null - best): q0 0.5 (no answer gold), q1 -2 (answerable, right), q2 1.0 (no answer gold)
    t, best = best_null_threshold([0.5, -2.0, 1.0], ["x", "Paris", "y"], [[], ["Paris"], []])
    assert best == pytest.approx(1.0)
    assert -2.0 < t < 0.5
