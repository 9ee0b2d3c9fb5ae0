import json

import numpy as np
import pytest
import torch
from datasets import Dataset

from bert_tasks.errors import UserError
from bert_tasks.tasks.multilabel import MultiLabel, MultiLabelOptions


def adapter(**kw):
    return MultiLabel(MultiLabelOptions(name="multilabel", **kw))


def test_delimited_ids_with_names_file(tmp_path):
    (tmp_path / "labels.txt").write_text("joy\nanger\nneutral", encoding="utf-8")
    ad = adapter(labels=str(tmp_path / "labels.txt"))
    out = ad.prepare({"train": Dataset.from_dict({"text": ["a", "b", "c"], "label": ["0,1", "2", "2"]})}, {})
    assert ad.names == ["joy", "anger", "neutral"]
    assert out["train"]["label"] == [[1, 1, 0], [0, 0, 1], [0, 0, 1]]
    assert ad.prior.tolist() == pytest.approx([1 / 3, 1 / 3, 2 / 3])


def test_list_of_names_jsonl_style():
    ad = adapter(labels=["joy", "anger"])
    out = ad.prepare({"train": Dataset.from_dict({"text": ["a", "b"], "emo": [["anger"], ["joy", "anger"]]})}, {},
                     {"label": "emo"})
    assert out["train"]["label"] == [[0, 1], [1, 1]]


def test_names_inferred_from_train():
    ad = adapter()
    ad.prepare({"train": Dataset.from_dict({"text": ["a", "b"], "label": ["x|y", "z"]})}, {})
    assert ad.names == ["x|y", "z"]  # default delimiter is ','
    ad = adapter(delimiter="|")
    ad.prepare({"train": Dataset.from_dict({"text": ["a", "b"], "label": ["x|y", "z"]})}, {})
    assert ad.names == ["x", "y", "z"]


def test_hub_class_label_ids_are_named_from_the_features(caplog):
    # before: a hub list of ClassLabel ids (GoEmotions' labels) trained as labels '0', '1', ...
    from datasets import ClassLabel, Features, List, Value

    features = Features({"text": Value("string"), "labels": List(ClassLabel(names=["joy", "anger", "fear"]))})
    train = Dataset.from_dict({"text": ["a", "b"], "labels": [[1], [0, 2]]}, features=features)
    ad = adapter()
    out = ad.prepare({"train": train}, {}, {"label": "labels"})
    assert ad.names == ["joy", "anger", "fear"] and out["train"]["label"] == [[0, 1, 0], [1, 0, 1]]
    # a validation split whose ClassLabel lists the names in another order: read by name (before: by position)
    other = Features({"text": Value("string"), "labels": List(ClassLabel(names=["fear", "joy", "anger"]))})
    valid = Dataset.from_dict({"text": ["c"], "labels": [[0, 2]]}, features=other)
    out = adapter().prepare({"train": train, "validation": valid}, {}, {"label": "labels"})
    assert out["validation"]["label"] == [[0, 1, 1]]  # fear and anger
    unknown = Features({"text": Value("string"), "labels": List(ClassLabel(names=["a", "b", "c"]))})
    valid = Dataset.from_dict({"text": ["c"], "labels": [[0, 2]]}, features=unknown)
    with caplog.at_level("WARNING", logger="bert_tasks"):  # names the run lacks: ids by position, as before
        out = adapter().prepare({"train": train, "validation": valid}, {"validation": "v"}, {"label": "labels"})
    assert out["validation"]["label"] == [[1, 0, 1]]
    assert "validation split (v): its label names ['a', 'b', 'c'] are not all among" in caplog.text


def test_a_list_saved_as_text_is_read_as_a_list():
    # pandas writes a list column to csv as "[1, 3]" or "['joy', 'anger']": before, labels '[1' and '3]'
    from bert_tasks.tasks.multilabel import label_items

    assert label_items("[1, 3]", ",", "w") == ["1", "3"] and label_items(" [] ", ",", "w") == []
    assert label_items("['joy', 'anger']", ",", "w") == ["joy", "anger"]
    assert label_items('["joy"]', ",", "w") == ["joy"]
    assert label_items("[nsfw]", ",", "w") == ["[nsfw]"]  # a label in brackets stays a label
    with pytest.raises(UserError, match=r"^t.csv, row 3: the label cell '\[1, \[2\]\]' must be a flat list"):
        label_items("[1, [2]]", ",", "t.csv, row 3")
    ad = adapter()
    out = ad.prepare({"train": Dataset.from_dict({"text": ["a", "b", "c"], "label": ["[1, 3]", "[0]", "[]"]})}, {})
    assert ad.names == ["0", "1", "3"] and out["train"]["label"] == [[0, 1, 1], [1, 0, 0], [0, 0, 0]]


def test_label_list_with_an_empty_item_names_its_row():
    # before: "0,,17" trained as {0, 17}, the dropped label silently lost
    for first, bad in [("0", "0,,1"), ("0", "0,1,"), (["joy"], ["joy", " "])]:
        rows = {"text": ["a", "b"], "label": [first, bad]}
        with pytest.raises(UserError, match=r"train split \(t.csv\), row 2: the label list .* has an empty item"):
            adapter(labels=["joy", "anger"]).prepare({"train": Dataset.from_dict(rows)}, {"train": "t.csv"})
    with pytest.raises(UserError, match=r"row 1: the label list 'x;;y' has an empty item \(split at ';'\)"):
        adapter(delimiter=";").prepare({"train": Dataset.from_dict({"text": ["a"], "label": ["x;;y"]})}, {})
    # an empty cell is the empty set; a blank delimiter splits at any run of whitespace
    out = adapter(labels=["joy", "anger"]).prepare({"train": Dataset.from_dict({"text": ["a", "b"], "label": ["", "0"]})}, {})
    assert out["train"]["label"] == [[0, 0], [1, 0]]
    for blank in (" ", ""):
        ad = adapter(delimiter=blank)
        ad.prepare({"train": Dataset.from_dict({"text": ["a"], "label": ["x  y\tz"]})}, {})
        assert ad.names == ["x", "y", "z"]


def test_recipe_labels_and_label_columns_are_distinct(tmp_path):
    rows = {"text": ["a"], "label": ["0"], "x": [1], "y": [0]}
    with pytest.raises(UserError, match=r"task.labels: the label 'joy' is given twice \(labels 1 and 3\)"):
        adapter(labels=["joy", "anger", "joy"]).prepare({"train": Dataset.from_dict(rows)}, {})
    (tmp_path / "labels.txt").write_text("joy\nanger\njoy\n", encoding="utf-8")
    with pytest.raises(UserError, match=r"task.labels \(.*labels.txt\): the label 'joy' is given twice"):
        adapter(labels=str(tmp_path / "labels.txt")).prepare({"train": Dataset.from_dict(rows)}, {})
    with pytest.raises(UserError, match=r"task.label_columns: the column 'x' is given twice"):
        adapter(label_columns=["x", "y", "x"]).prepare({"train": Dataset.from_dict(rows)}, {})


def test_zero_one_columns():
    ad = adapter(label_columns=["toxic", "spam"])
    out = ad.prepare({"train": Dataset.from_dict({"text": ["a", "b"], "toxic": [1, 0], "spam": [1, 1]})}, {})
    assert ad.names == ["toxic", "spam"] and out["train"]["label"] == [[1, 1], [0, 1]]


def test_zero_one_column_value_that_is_not_0_or_1_names_row_and_column():
    rows = {"text": ["a", "b", "c"], "toxic": ["1", " 0", "1"], "spam": ["0", "1", "0"]}
    out = adapter(label_columns=["toxic", "spam"]).prepare({"train": Dataset.from_dict(rows)}, {})
    assert out["train"]["label"] == [[1, 0], [0, 1], [1, 0]]  # "0"/"1" as csv text are fine
    for bad, shown in [("yes", "'yes'"), ("", "''"), ("2", "'2'")]:
        rows["spam"] = ["0", "1", bad]
        with pytest.raises(UserError, match=rf"train split \(t.csv\), row 3: label column 'spam' must hold 0 or 1, "
                                            rf"got {shown}"):
            adapter(label_columns=["toxic", "spam"]).prepare({"train": Dataset.from_dict(rows)}, {"train": "t.csv"})
    with pytest.raises(UserError, match="row 2: label column 'toxic' must hold 0 or 1, got 2"):
        adapter(label_columns=["toxic"]).prepare({"train": Dataset.from_dict({"text": ["a", "b"], "toxic": [1, 2]})}, {})


def test_csv_cells_as_flags_and_labels():
    # csv/tsv cells are text: a 0/1 column saved from floats or booleans by pandas reads as it did when typed
    rows = {"text": ["a", "b", "c"], "toxic": ["1.0", "0.0", "True"], "spam": ["false", "TRUE", "0"], "label": ["3.0", "01", ""]}
    out = adapter(label_columns=["toxic", "spam"]).prepare({"train": Dataset.from_dict(rows)}, {})
    assert out["train"]["label"] == [[1, 0], [0, 1], [1, 0]]
    ad = adapter()  # one label per cell: '3.0' is label 3 (a float column), '01' keeps its zero
    ad.prepare({"train": Dataset.from_dict({"text": rows["text"], "label": rows["label"]})}, {})
    assert ad.names == ["01", "3"]


def test_unknown_label_names_row():
    ad = adapter(labels=["joy", "anger"])
    with pytest.raises(UserError, match=r"validation split \(d.tsv\), row 2: label 'fear'"):
        ad.prepare({"train": Dataset.from_dict({"text": ["a"], "label": ["joy,anger"]}),
                    "validation": Dataset.from_dict({"text": ["a", "b"], "label": ["joy", "fear"]})},
                   {"validation": "d.tsv"})


def test_pos_weight_auto_and_thresholds(tmp_path):
    ad = adapter(labels=["a", "b"], pos_weight="auto", pos_weight_cap=5.0)
    ad.prepare({"train": Dataset.from_dict({"text": list("wxyz"), "label": ["a", "a,b", "a", ""]})}, {})
    assert ad.pos_weight().tolist() == pytest.approx([1 / 3, 3.0])
    ad = adapter(labels=["a", "b"], threshold=[0.3, 0.6])
    ad.prepare({"train": Dataset.from_dict({"text": ["x", "y"], "label": ["a", "b"]})}, {})
    ad.save(str(tmp_path))
    assert json.loads((tmp_path / "thresholds.json").read_text()) == {"a": 0.3, "b": 0.6}
    bad = adapter(labels=["a", "b"], threshold=[0.3])
    with pytest.raises(UserError, match="1 values for 2 labels"):  # checked before any training
        bad.prepare({"train": Dataset.from_dict({"text": ["x", "y"], "label": ["a", "b"]})}, {})


def test_bias_starts_at_prior(tiny_encoder):
    ad = adapter(labels=["a", "b"])
    ad.prepare({"train": Dataset.from_dict({"text": list("wxyz"), "label": ["a", "a,b", "a", "a"]})}, {})
    model = ad.build_model(tiny_encoder)
    p = 1 / (1 + np.exp(-model.classifier.bias.detach().numpy()))
    assert p == pytest.approx([0.9999, 0.25], abs=1e-3)
    assert model.config.problem_type == "multi_label_classification"


@pytest.mark.parametrize("kind", ["roberta", "distilbert", "electra"])
def test_bias_starts_at_prior_on_heads_of_other_encoders(kind, tmp_path):
    # RoBERTa's and ELECTRA's heads are dense -> tanh -> out_proj: the bias to set is out_proj's
    from transformers import AutoConfig, AutoModel

    sizes = ({"dim": 16, "hidden_dim": 32, "n_layers": 1, "n_heads": 2} if kind == "distilbert" else
             {"hidden_size": 16, "intermediate_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2})
    AutoModel.from_config(AutoConfig.for_model(kind, vocab_size=50, **sizes)).save_pretrained(tmp_path / kind)
    ad = adapter(labels=["a", "b"])
    ad.prepare({"train": Dataset.from_dict({"text": list("wxyz"), "label": ["a", "a,b", "a", "a"]})}, {})
    model = ad.build_model(str(tmp_path / kind)).eval()
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([[3, 4, 5]])).logits
    head = model.classifier.out_proj if kind != "distilbert" else model.classifier
    p = 1 / (1 + np.exp(-head.bias.detach().numpy()))
    assert p == pytest.approx([0.9999, 0.25], abs=1e-3)
    assert logits.shape == (1, 2)
