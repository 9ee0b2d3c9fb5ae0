from datasets import Dataset
from datasets.utils.logging import disable_progress_bar, enable_progress_bar, is_progress_bar_enabled

from bert_tasks.tasks.base import encode_quietly


def test_encode_quietly_shows_no_bar_and_restores_the_setting(capsys):
    rows = Dataset.from_dict({"text": ["a", "bb"], "__index": [0, 1]})
    for shown in (True, False):
        (enable_progress_bar if shown else disable_progress_bar)()
        out = encode_quietly(rows, lambda batch: {"n": [len(t) for t in batch["text"]]})
        assert out.column_names == ["n"] and out["n"] == [1, 2]
        assert is_progress_bar_enabled() == shown
    assert "Map" not in capsys.readouterr().err
    enable_progress_bar()


def test_sequence_logits_warns_when_it_cuts_an_input(tiny_encoder, caplog):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from bert_tasks.tasks.base import sequence_logits

    tok = AutoTokenizer.from_pretrained(tiny_encoder)
    model = AutoModelForSequenceClassification.from_pretrained(tiny_encoder, num_labels=2)
    exact = " ".join(["the"] * 6)  # 6 pieces + [CLS] and [SEP]: exactly 8, not cut
    texts = ["the movie", exact, exact + " the the"]
    assert len(tok(exact)["input_ids"]) == 8
    with caplog.at_level("WARNING", logger="bert_tasks"):
        out = sequence_logits(model, tok, texts, None, batch_size=2, max_length=8)
    assert out.shape == (3, 2)
    assert "predict: 1 of 3 input(s) are longer than 8 tokens (the run's data.max_length)" in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING", logger="bert_tasks"):
        sequence_logits(model, tok, texts, None, batch_size=2, max_length=10)
        sequence_logits(model, tok, texts[:2], ["a", "b"], batch_size=2, max_length=10)
    assert not caplog.text
