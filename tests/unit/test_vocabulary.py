"""vocabulary: the share of word pieces unknown to the encoder's vocabulary, and the words behind them."""

import logging
from types import SimpleNamespace

import pytest
from datasets import Dataset

from bert_tasks.vocabulary import report_unknown, unknown_counts, unknown_words


@pytest.fixture(scope="module")
def english(tmp_path_factory):
    from transformers import AutoTokenizer

    from bert_tasks.encoder import build_tiny_bert

    folder = build_tiny_bert(tmp_path_factory.mktemp("en"), ["a fine film and a dull plot"])
    return AutoTokenizer.from_pretrained(folder)


def encoded(tokenizer, texts):
    return Dataset.from_dict(dict(tokenizer(texts)))


def test_unknown_word_pieces_are_counted_without_the_special_tokens(english):
    features = {"train": encoded(english, ["a fine film", "a 好 film 电影"]), "validation": encoded(english, ["dull"])}
    assert unknown_counts(features, english) == {"train": (3, 8), "validation": (0, 1)}  # 好, 电, 影 of 8 pieces
    assert unknown_counts(features, SimpleNamespace(unk_token_id=None)) == {}  # byte-level BPE: nothing unknown


def test_the_words_behind_them_come_from_the_text_roles(english):
    rows = Dataset.from_dict({"text": ["a 好 film", "好 plot"], "tokens": [["电", "film"], ["好"]], "label": ["好", "x"]})
    assert unknown_words(rows, english) == {"好": 3, "电": 1}  # the label column is no text
    assert unknown_words(rows, english, limit=1) == {"好": 1, "电": 1}


def test_a_split_from_one_percent_unknown_is_warned_about_once(english, caplog):
    rows = {"train": Dataset.from_dict({"text": ["好 好 电", "film"]}), "test": Dataset.from_dict({"text": ["影"]})}
    with caplog.at_level(logging.WARNING, logger="bert_tasks"):
        report_unknown({"train": (3, 4), "validation": (1, 101), "test": (1, 1)}, rows, english, "tiny")
    (record,) = caplog.records
    assert record.getMessage().startswith(
        "train 75.0% (3 of 4), test 100.0% (1 of 1) of the word pieces are the unknown token [UNK]: the vocabulary of "
        "encoder 'tiny' lacks them; most often, in train: '好' x2, '电' x1. The model cannot tell them apart")
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="bert_tasks"):
        report_unknown({"train": (1, 101)}, rows, english, "tiny")  # under 1%: emoji in English text
    assert not caplog.records


def test_dry_run_reports_the_share(english, tmp_path, caplog):
    from bert_tasks import dry_run

    (tmp_path / "t.csv").write_text("text,label\n好电影,1\na fine film,1\n很差,0\ndull,0\n", encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="bert_tasks"):
        out = dry_run("sst2", [f"encoder={english.name_or_path}", f"data.train={tmp_path / 't.csv'}", "~data.validation",
                               "~data.columns", "task.labels=[0, 1]", f"train.output_dir={tmp_path / 'run'}"])
    assert out["unknown_word_pieces"] == {"train": round(5 / 9, 4)}  # 好 电 影 很 差 of 9 pieces
    assert any("train 55.6% (5 of 9) of the word pieces are the unknown token" in r.getMessage() for r in caplog.records)
