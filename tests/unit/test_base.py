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
