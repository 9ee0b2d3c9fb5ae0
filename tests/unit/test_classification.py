import re

import numpy as np
import pytest
from datasets import Dataset

from bert_tasks.errors import UserError
from bert_tasks.tasks import get_task
from bert_tasks.tasks.classification import Classification, ClassificationOptions


def adapter(**kw):
    return Classification(ClassificationOptions(name="classification", **kw))


def ds(**cols):
    return Dataset.from_dict(cols)


def test_registered():
    assert get_task("classification") is Classification


def test_single_sentence_column_mapping_and_label_ids():
    ad = adapter()
    out = ad.prepare(
        {"train": ds(sentence=["a", "b", "c"], label=[1, 0, 1]), "validation": ds(sentence=["d"], label=[0])},
        {"train": "t.tsv"},
        {"text": "sentence"},
    )
    assert out["train"].column_names == ["text", "label"]
    assert out["train"]["label"] == [1, 0, 1]
    assert ad.names == ["0", "1"] and not ad.pair


def test_label_mapping_names_and_order():
    ad = adapter(labels={1: "pos", 0: "neg"})
    out = ad.prepare({"train": ds(text=["a", "b"], label=[0, 1])}, {})
    assert ad.names == ["pos", "neg"]  # class ids follow the recipe's order
    assert out["train"]["label"] == [1, 0]


def test_labels_may_be_written_by_name():
    ad = adapter(labels={0: "neg", 1: "pos"})
    out = ad.prepare({"train": ds(text=["a", "b", "c"], label=["pos", "neg", "1"])}, {})
    assert out["train"]["label"] == [1, 0, 1]
    with pytest.raises(UserError, match=r"label 'bad' is not among task.labels \['0', '1'\] \(names: neg, pos\); "
                                        r"to take the label set from train instead, drop the recipe's list with "
                                        r"~task.labels"):
        adapter(labels={0: "neg", 1: "pos"}).prepare({"train": ds(text=["a", "b"], label=["pos", "bad"])}, {})
    with pytest.raises(UserError, match=r"validation split \(.*\), row 2: label 'bad' is not among task.labels "
                                        r"\['0', '1'\] \(names: neg, pos\)$"):
        adapter(labels={0: "neg", 1: "pos"}).prepare(
            {"train": ds(text=["a", "b"], label=["pos", "neg"]), "validation": ds(text=["a", "b"], label=["pos", "bad"])},
            {},
        )


@pytest.mark.parametrize("missing, shown", [("", "''"), (" ", "' '"), (None, "null"), (float("nan"), "nan")])
def test_a_missing_label_is_an_error_not_a_class(missing, shown):
    train = ds(text=["a", "b", "c"], label=["1", missing, "0"] if isinstance(missing, str) or missing is None
               else [1.0, missing, 0.0])
    for labels in (None, {0: "neg", 1: "pos"}):  # before: inferred labels got a class '' (or 'nan')
        with pytest.raises(UserError, match=rf"^train split \(t.tsv\), row 2: no label in column 'stars' "
                                            rf"\({re.escape(shown)}\); every row of a labelled split needs one$"):
            adapter(labels=labels).prepare({"train": train.rename_column("label", "stars")}, {"train": "t.tsv"},
                                           {"label": "stars"})
    good = ds(text=["a", "b"], label=["1", "0"])
    with pytest.raises(UserError, match=r"^validation split \(d.tsv\), row 2: no label in column 'label'"):
        adapter().prepare({"train": good, "validation": ds(text=["a", "b"], label=["1", None])},
                          {"train": "t.tsv", "validation": "d.tsv"})


def test_boolean_labels_against_numbered_ones_say_how_to_name_them():
    with pytest.raises(UserError, match=r"row 1: label 'True' is not among task.labels \['0', '1'\] \(names: neg, pos\); "
                                        r"for true/false labels write task.labels=\{false: neg, true: pos\}"):
        adapter(labels={0: "neg", 1: "pos"}).prepare({"train": ds(text=["a", "b"], label=[True, False])}, {})
    ad = adapter(labels={False: "neg", True: "pos"})  # as YAML reads {false: neg, true: pos}
    assert ad.prepare({"train": ds(text=["a", "b"], label=[True, False])}, {})["train"]["label"] == [1, 0]


def test_label_values_win_over_names():
    ad = adapter(labels={"a": "b", "b": "c"})  # value 'b' is class 1 even though class 0 is named 'b'
    out = ad.prepare({"train": ds(text=["x", "y", "z"], label=["a", "b", "c"])}, {})
    assert out["train"]["label"] == [0, 1, 1]


def test_string_labels_sorted():
    ad = adapter()
    ad.prepare({"train": ds(text=["a", "b", "c"], label=["sports", "arts", "news"])}, {})
    assert ad.names == ["arts", "news", "sports"]


def test_float_labels_become_integer_ids():
    # JSON labels 1.0 / 0.0: before, the ids stayed float64 and the model took them for multi-label
    # targets (a shape error at the first training step)
    ad = adapter(labels={0: "negative", 1: "positive"})
    out = ad.prepare({"train": ds(text=["a", "b", "c"], label=[1.0, 0.0, 1.0])}, {})
    assert out["train"].features["label"].dtype == "int64" and out["train"]["label"] == [1, 0, 1]
    out = adapter().prepare({"train": ds(text=["a", "b"], label=[2.0, 0.5])}, {})  # inferred: "0.5" and "2"
    assert out["train"].features["label"].dtype == "int64" and out["train"]["label"] == [1, 0]


def test_csv_label_cells_keep_their_text_and_match_numbers():
    # csv/tsv cells come as text: '01' stays '01' (before: pandas made it 1, so task.labels ['01', '02'] failed)
    ad = adapter()
    out = ad.prepare({"train": ds(text=["a", "b", "c"], label=["10", "02", "01"])}, {})
    assert ad.names == ["01", "02", "10"] and out["train"]["label"] == [2, 1, 0]
    ad = adapter(labels=["01", "02"])
    assert ad.prepare({"train": ds(text=["a", "b"], label=["02", "01"])}, {})["train"]["label"] == [1, 0]
    with pytest.raises(UserError, match=r"row 1: label '1' is not among task.labels \['01', '02'\]"):
        ad.prepare({"train": ds(text=["a", "b"], label=["1", "2"])}, {})
    # a float column saved by pandas ('1.0'), signed numbers and true/false words match the recipe's keys
    ad = adapter(labels={0: "neg", 1: "pos"})
    assert ad.prepare({"train": ds(text=["a", "b"], label=["1.0", "0.0"])}, {})["train"]["label"] == [1, 0]
    ad = adapter(labels={-1: "neg", 1: "pos"})
    assert ad.prepare({"train": ds(text=["a", "b"], label=["+1", "-1"])}, {})["train"]["label"] == [1, 0]
    ad = adapter(labels={False: "neg", True: "pos"})
    assert ad.prepare({"train": ds(text=["a", "b", "c"], label=["true", "FALSE", "True"])}, {})["train"]["label"] == [1, 0, 1]
    with pytest.raises(UserError, match=r"label 'true' is not among task.labels \['0', '1'\].*"
                                        r"for true/false labels write task.labels=\{false: neg, true: pos\}"):
        adapter(labels={0: "neg", 1: "pos"}).prepare({"train": ds(text=["a", "b"], label=["true", "false"])}, {})


def test_labels_of_a_csv_file_keep_their_zeros(tmp_path):
    from bert_tasks.data import read_split

    (tmp_path / "t.csv").write_text("text,label\n007,01\nfine,02\n", encoding="utf-8")
    train = read_split(str(tmp_path / "t.csv"), "train")
    ad = adapter(labels=["01", "02"])  # before: "label '1' is not among task.labels ['01', '02']"
    out = ad.prepare({"train": train}, {"train": "t.csv"})
    assert out["train"]["label"] == [0, 1] and out["train"]["text"] == ["007", "fine"]


def test_hub_class_labels_name_the_labels_in_their_order():
    # before: a hub dataset's ids trained as labels '0'/'1' (id2label {0: '0', 1: '1'}); the example
    # scripts read the names from the features, in their order
    from conftest import hub_like

    train = hub_like().select([0, 1]).rename_column("sentence", "text")
    ad = adapter()
    out = ad.prepare({"train": train}, {})
    assert ad.names == ["not_equivalent", "equivalent"] and out["train"]["label"] == [1, 0]
    ad = adapter(labels={0: "not_paraphrase", 1: "paraphrase"})  # a recipe's own labels map the ids, as before
    out = ad.prepare({"train": train}, {})
    assert ad.names == ["not_paraphrase", "paraphrase"] and out["train"]["label"] == [1, 0]


def test_class_label_ids_are_read_by_their_names(caplog):
    # before: ids were read as values, so a split whose ClassLabel lists the same names in another
    # order (a save_to_disk or parquet file from elsewhere) scored every row against the other class
    from datasets import ClassLabel, Features, Value

    def split(names, ids):
        features = Features({"text": Value("string"), "label": ClassLabel(names=names)})
        return Dataset.from_dict({"text": ["x"] * len(ids), "label": ids}, features=features)

    ad = adapter(labels={0: "negative", 1: "positive"})
    out = ad.prepare({"train": split(["negative", "positive"], [0, 1]),
                      "validation": split(["positive", "negative"], [0, 1, 1])}, {})
    assert out["train"]["label"] == [0, 1] and out["validation"]["label"] == [1, 0, 0]
    hub = adapter()  # names taken from train's ClassLabel, even names that read as another class's value
    out = hub.prepare({"train": split(["1", "0"], [0, 1, 0]), "validation": split(["0", "1"], [0])}, {})
    assert hub.names == ["1", "0"] and out["train"]["label"] == [0, 1, 0] and out["validation"]["label"] == [1]
    with caplog.at_level("WARNING", logger="bert_tasks"):  # names the run lacks: ids as values, as before
        out = ad.prepare({"train": split(["neg", "pos"], [1, 0]), "validation": split(["neg", "pos"], [0])},
                         {"train": "saved"})
    assert out["train"]["label"] == [1, 0] and out["validation"]["label"] == [0]
    assert "train split (saved): its label names ['neg', 'pos'] are not all among the run's labels" in caplog.text
    assert caplog.text.count("are read as label values") == 1  # once, not once per split


def test_unknown_label_in_validation_names_label_and_row():
    ad = adapter()
    with pytest.raises(UserError, match=r"validation split \(dev.tsv\), row 2: label 'maybe' is not among"):
        ad.prepare(
            {"train": ds(text=["a", "b"], label=["yes", "no"]), "validation": ds(text=["c", "d"], label=["no", "maybe"])},
            {"validation": "dev.tsv"},
        )


def test_missing_column_lists_columns_and_mapping():
    with pytest.raises(UserError) as err:
        adapter().prepare({"train": ds(sentence=["a"], label=[0])}, {"train": "t.tsv"})
    msg = str(err.value)
    assert "no column 'text'" in msg and "['sentence', 'label']" in msg and "data.columns.text=" in msg
    assert "did you mean" not in msg  # 'text' is not close to any column


def test_misspelt_column_names_the_closest_column():
    with pytest.raises(UserError, match=r"no column 'sentense' for role 'text' \(did you mean 'sentence'\?\)"):
        adapter().prepare({"train": ds(sentence=["a"], label=[0])}, {"train": "t.tsv"}, {"text": "sentense"})


def test_text_that_is_not_a_string_is_named_by_split_row_and_column(tmp_path):
    from bert_tasks.data import read_files

    with pytest.raises(UserError, match=r"train split \(t.tsv\), row 2: column 'text' \(text\) must hold text, got null"):
        adapter().prepare({"train": ds(text=["a", None, "c"], label=[0, 1, 0])}, {"train": "t.tsv"})
    pairs = {"train": ds(s1=["a", "b"], s2=["c", None], label=[0, 1])}
    with pytest.raises(UserError, match=r"row 2: column 's2' \(text_pair\) must hold text, got null"):
        adapter().prepare(pairs, {"train": "t.tsv"}, {"text": "s1", "text_pair": "s2"})
    # JSON lines with a number or a list in the text column (a list would be read as pre-split words)
    for bad, shown in [("5", "5$"), ('["x", "y"]', r"\['x', 'y'\]")]:
        path = tmp_path / "t.jsonl"
        path.write_text(f'{{"text": "a", "label": 0}}\n{{"text": {bad}, "label": 1}}\n', encoding="utf-8")
        train = read_files([str(path)], "json", "data.train")
        with pytest.raises(UserError, match=rf"row 2: column 'text' \(text\) must hold text, got {shown}"):
            adapter().prepare({"train": train}, {"train": "t.jsonl"})


def test_one_class_and_empty_split():
    with pytest.raises(UserError, match="all 2 rows have label '1'; classification needs two or more"):
        adapter().prepare({"train": ds(text=["a", "b"], label=[1, 1])}, {})
    # with task.labels, the message names the class the rows have, by its name
    with pytest.raises(UserError, match="all 2 rows have label 'positive'"):
        adapter(labels={0: "negative", 1: "positive"}).prepare({"train": ds(text=["a", "b"], label=["1", "positive"])}, {})
    with pytest.raises(UserError, match="no rows; classification needs two or more"):
        adapter().prepare({"train": ds(text=[], label=[])}, {})  # empty files are refused earlier, in data.py


def test_unlabelled_test_split_allowed():
    ad = adapter()
    out = ad.prepare({"train": ds(text=["a", "b"], label=[0, 1]), "test": ds(text=["c"], index=[0])}, {})
    assert out["test"].column_names == ["text"]


def test_pair_encoding_has_segment_ids(tiny_encoder):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_encoder)
    ad = adapter()
    out = ad.prepare({"train": ds(s1=["good film", "bad"], s2=["great plot", "awful"], y=[1, 0])}, {},
                     {"text": "s1", "text_pair": "s2", "label": "y"})
    assert ad.pair
    enc = out["train"].map(ad.encode_fn(tok, 32), batched=True)
    tokens = tok.convert_ids_to_tokens(enc[0]["input_ids"])
    assert tokens == ["[CLS]", "good", "film", "[SEP]", "great", "plot", "[SEP]"]
    assert enc[0]["token_type_ids"] == [0, 0, 0, 0, 1, 1, 1]


def test_truncation_respects_max_length(tiny_encoder):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_encoder)
    ad = adapter()
    out = ad.prepare({"train": ds(text=["good " * 50, "bad"], label=[1, 0])}, {})
    enc = out["train"].map(ad.encode_fn(tok, 16), batched=True)
    assert len(enc[0]["input_ids"]) == 16


def test_compute_metrics_binary_positive():
    from transformers import EvalPrediction

    ad = adapter(labels=["no", "yes"], positive_label="no")
    ad.prepare({"train": Dataset.from_dict({"text": ["a", "b"], "label": ["no", "yes"]})}, {})
    logits = np.array([[2.0, 0.0], [0.0, 2.0], [2.0, 0.0]])
    m = ad.compute_metrics(EvalPrediction(predictions=logits, label_ids=np.array([0, 1, 1])))
    assert m["accuracy"] == pytest.approx(2 / 3)
    assert m["f1"] == pytest.approx(m["f1_no"])  # positive class is 'no'


def test_model_config_and_pooler_identity(tiny_encoder):
    import torch

    ad = adapter(model_config={"hidden_dropout_prob": 0.0}, pooler="identity")
    ad.prepare({"train": Dataset.from_dict({"text": ["a", "b"], "label": [0, 1]})}, {})
    model = ad.build_model(tiny_encoder)
    assert model.config.hidden_dropout_prob == 0.0
    assert ad.pooler_init == "identity"
    assert torch.equal(model.bert.pooler.dense.weight, torch.eye(32))
    kept = adapter(pooler="auto")
    kept.prepare({"train": Dataset.from_dict({"text": ["a", "b"], "label": [0, 1]})}, {})
    kept.build_model(tiny_encoder)
    assert kept.pooler_init == "identity"  # the tiny random BERT's pooler has a zero bias: untrained


def test_pooler_identity_on_an_encoder_without_a_pooler_says_so(tmp_path, caplog):
    from transformers import DistilBertConfig, DistilBertModel

    DistilBertModel(DistilBertConfig(vocab_size=50, dim=16, hidden_dim=32, n_layers=1, n_heads=2)).save_pretrained(tmp_path)
    for mode, warned in (("identity", True), ("auto", False)):
        ad = adapter(pooler=mode)
        ad.prepare({"train": Dataset.from_dict({"text": ["a", "b"], "label": [0, 1]})}, {})
        caplog.clear()
        with caplog.at_level("WARNING", logger="bert_tasks"):
            ad.build_model(str(tmp_path))
        assert ad.pooler_init == "none"
        assert ("task.pooler=identity: DistilBertForSequenceClassification has no BERT pooler" in caplog.text) is warned


def test_swap_pairs_doubles_train_only():
    ad = adapter(swap_pairs=True)
    out = ad.prepare({"train": ds(text=["a", "b"], text_pair=["c", "d"], label=[0, 1]),
                      "validation": ds(text=["e"], text_pair=["f"], label=[1])}, {})
    assert out["train"]["text"] == ["a", "b", "c", "d"] and out["train"]["text_pair"] == ["c", "d", "a", "b"]
    assert out["train"]["label"] == [0, 1, 0, 1] and len(out["validation"]) == 1
    with pytest.raises(UserError, match="needs sentence pairs"):
        adapter(swap_pairs=True).prepare({"train": ds(text=["a", "b"], label=[0, 1])}, {})


@pytest.mark.parametrize(
    "labels, message",
    [
        ({0: "neg", 1: "neg"}, "the name 'neg' is given twice (names 1 and 2)"),
        ({1: "a", "1 ": "b"}, "the value '1' is given twice (values 1 and 2)"),
        (["neg", "pos", "neg"], "the label 'neg' is given twice (labels 1 and 3)"),
        ({0: "", 1: "pos"}, "name 1 is blank"),
    ],
)
def test_recipe_labels_are_distinct_and_not_blank(labels, message):
    # before: two values with one name trained two classes that id2label (and pipeline) could not tell apart
    ad = Classification(ClassificationOptions(name="classification", labels=labels))
    with pytest.raises(UserError, match=re.escape(f"task.labels: {message}")):
        ad.prepare({"train": Dataset.from_dict({"text": ["a", "b"], "label": ["0", "1"]})}, {})


def test_class_weights_balanced_follow_train_counts_as_scikit_learn():
    from sklearn.utils.class_weight import compute_class_weight

    labels = ["b", "a", "a", "a", "c", "a", "b", "a"]
    ad = adapter(class_weights="balanced")
    ad.prepare({"train": ds(text=list("abcdefgh"), label=labels), "validation": ds(text=["x"], label=["c"])}, {})
    expected = compute_class_weight("balanced", classes=np.array(["a", "b", "c"]), y=np.array(labels))
    assert ad.weights == pytest.approx(expected.tolist())
    assert ad.summary()["class_weights"] == {n: round(w, 4) for n, w in zip("abc", expected)}
    assert adapter().prepare({"train": ds(text=["a", "b"], label=[0, 1])}, {}) and adapter().loss_function() is None


def test_class_weights_list_and_mapping_by_value_or_name():
    train = {"train": ds(text=["a", "b", "c"], label=[0, 1, 1])}
    ad = adapter(labels={0: "neg", 1: "pos"}, class_weights=[2, 0.5])
    ad.prepare(dict(train), {})
    assert ad.weights == [2.0, 0.5]
    for given in ({"pos": 3}, {1: 3}, {"1": 3}):
        ad = adapter(labels={0: "neg", 1: "pos"}, class_weights=given)
        ad.prepare(dict(train), {})
        assert ad.weights == [1.0, 3.0], given


@pytest.mark.parametrize("given, message", [
    ([1], r"task.class_weights has 1 values for 2 labels \['0', '1'\]"),
    ({"2": 1}, r"task.class_weights: '2' is not a label \['0', '1'\]"),
    ([1, 0], r"the weight of '1' must be a positive number, got 0"),
    ([1, float("nan")], r"the weight of '1' must be a positive number, got nan"),
    ([1, True], r"the weight of '1' must be a positive number, got True"),
])
def test_bad_class_weights_are_named(given, message):
    with pytest.raises(UserError, match=message):
        adapter(class_weights=given).prepare({"train": ds(text=["a", "b"], label=[0, 1])}, {})


def test_balanced_class_weights_need_each_class_in_train():
    with pytest.raises(UserError, match=r"class_weights=balanced: no train rows of label '2'"):
        adapter(labels=[0, 1, 2], class_weights="balanced").prepare({"train": ds(text=["a", "b"], label=[0, 1])}, {})


def test_balanced_class_weights_without_train_or_saved_weights_leave_the_loss_unweighted(caplog):
    ad = adapter(labels=[0, 1], class_weights="balanced")  # e.g. evaluate of a checkpoint (no class_weights.json)
    with caplog.at_level("WARNING", logger="bert_tasks"):
        ad.prepare({"test": ds(text=["a"], label=[0])}, {})  # before: an error, so such a run could not be scored
    assert ad.weights is None and ad.loss_function() is None
    assert "the loss reported is unweighted" in caplog.text
    ad = adapter(labels=[0, 1], class_weights="balanced")
    ad.weights = [2.0, 0.5]  # what from_run reads from a run's class_weights.json
    ad.prepare({"test": ds(text=["a"], label=[0])}, {})
    assert ad.weights == [2.0, 0.5]


def test_weighted_loss_is_the_weighted_cross_entropy():
    import torch

    ad = adapter(class_weights=[1.0, 4.0])
    ad.prepare({"train": ds(text=["a", "b"], label=[0, 1])}, {})
    logits = torch.tensor([[2.0, -1.0], [0.5, 0.2], [-1.0, 1.0]])
    labels = torch.tensor([1, 0, 1])
    loss = ad.loss_function()({"logits": logits}, labels)
    per_row = torch.nn.functional.cross_entropy(logits, labels, reduction="none")
    w = torch.tensor([4.0, 1.0, 4.0])
    assert loss.item() == pytest.approx(((w * per_row).sum() / w.sum()).item())
    assert loss.item() != pytest.approx(per_row.mean().item())


def test_a_list_or_mapping_label_is_named_not_made_a_class():
    # before: with labels inferred from train, [1] and [0] became the classes '[1]' and '[0]'
    rows = ds(text=["a", "b"], label=[[1], [0, 1]])
    with pytest.raises(UserError, match=r"train split \(t.jsonl\), row 1: the label in column 'label' is a list "
                                        r"\(\[1\]\); a classification row has one label; for rows with several "
                                        r"labels, task.name=multilabel"):
        adapter().prepare({"train": rows}, {"train": "t.jsonl"})
    with pytest.raises(UserError, match=r"row 1: the label in column 'y' is a dict \(\{'x': 1\}\); a classification "
                                        r"row has one label$"):
        adapter().prepare({"train": ds(text=["a", "b"], y=[{"x": 1}, {"x": 0}])}, {"train": "t.jsonl"}, {"label": "y"})
