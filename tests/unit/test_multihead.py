import pytest
import torch
from datasets import Dataset

from bert_tasks.errors import UserError
from bert_tasks.tasks.multihead import MultiHead, MultiHeadOptions

HEADS = {
    "ekman": {"map": {"joy": ["joy", "love"], "anger": ["anger"], "neutral": ["neutral"]}},
    "size": {"column": "size"},
}


def adapter(**kw):
    return MultiHead(MultiHeadOptions(name="multihead", source_labels=["joy", "love", "anger", "neutral"], **kw))


def test_mapping_majority_and_tie_rule():
    ad = adapter(heads=HEADS)
    data = {"text": list("abcd"), "label": ["1", "0,2", "2,3,0,1", "3"], "size": ["M", "S", "L", "M"]}
    out = ad.prepare({"train": Dataset.from_dict(data)}, {})
    assert ad.head_labels == {"ekman": ["joy", "anger", "neutral"], "size": ["L", "M", "S"]}
    # row 2: joy vs anger tie -> first listed (joy); row 3: joy twice -> joy
    assert [r[0] for r in out["train"]["label"]] == [0, 0, 0, 2]
    assert [r[1] for r in out["train"]["label"]] == [1, 2, 0, 1]
    first = adapter(heads=HEADS, rule="first")
    out = first.prepare({"train": Dataset.from_dict({**data, "label": ["2,0,0", "0", "3", "1"]})}, {})
    assert out["train"]["label"][0][0] == 1  # anger listed first


def test_head_spec_is_strict():
    with pytest.raises(UserError, match=r"task.heads.size.colum.*did you mean 'column'"):
        adapter(heads={"size": {"colum": "size"}})
    with pytest.raises(UserError, match="exactly one of 'column' or 'map'"):
        adapter(heads={"size": {}})


def test_map_names_a_typo_and_a_label_in_two_groups():
    data = {"train": Dataset.from_dict({"text": ["a", "b"], "label": ["0", "2"]})}
    # before: a typo matched nothing, and a label in two groups went silently to the later one
    typo = {"ekman": {"map": {"joy": ["joy", "lvoe"], "anger": ["anger"], "neutral": ["neutral"]}}}
    with pytest.raises(UserError, match=r"task.heads.ekman.map.joy: 'lvoe' is not one of task.source_labels "
                                        r"\(did you mean 'love'\?\)"):
        adapter(heads=typo).prepare(data, {})
    twice = {"ekman": {"map": {"joy": ["joy", "anger"], "anger": ["anger"]}}}
    with pytest.raises(UserError, match=r"task.heads.ekman.map: fine label 'anger' is in two groups, 'joy' and 'anger'"):
        adapter(heads=twice).prepare(data, {})


def test_fine_label_list_with_an_empty_item_names_its_row():
    data = {"text": ["a", "b"], "label": ["0", "1,,2"], "size": ["M", "S"]}
    with pytest.raises(UserError, match=r"train split \(t.csv\), row 2: the label list '1,,2' has an empty item"):
        adapter(heads=HEADS).prepare({"train": Dataset.from_dict(data)}, {"train": "t.csv"})


def test_head_labels_are_distinct():
    data = {"text": ["a"], "label": ["0"], "size": ["M"]}
    heads = {"size": {"column": "size", "labels": ["S", "M", "S"]}}
    with pytest.raises(UserError, match=r"task.heads.size.labels: the label 'S' is given twice \(labels 1 and 3\)"):
        adapter(heads=heads).prepare({"train": Dataset.from_dict(data)}, {})


def test_model_sums_head_losses(tiny_encoder):
    ad = adapter(heads={**HEADS, "size": {"column": "size", "weight": 0.5}})
    ad.prepare({"train": Dataset.from_dict({"text": ["a", "b"], "label": ["0", "2"], "size": ["S", "L"]})}, {})
    model = ad.build_model(tiny_encoder).eval()
    assert type(model).__name__ == "BertForSequenceClassification"  # the standard head, one output per label
    assert model.config.id2label == {0: "ekman:joy", 1: "ekman:anger", 2: "ekman:neutral", 3: "size:L", 4: "size:S"}
    assert model.config.heads == {"ekman": ["joy", "anger", "neutral"], "size": ["L", "S"]}
    ids = torch.tensor([[2, 7, 3], [2, 8, 3]])
    labels = torch.tensor([[0, 1], [1, -100]])
    out = model(input_ids=ids)
    assert out.logits.shape == (2, 3 + 2)
    ek, sz = out.logits[:, :3], out.logits[:, 3:]
    expected = torch.nn.functional.cross_entropy(ek, labels[:, 0]) + 0.5 * torch.nn.functional.cross_entropy(sz[:1], labels[:1, 1])
    assert ad.loss_function()(out, labels).item() == pytest.approx(expected.item(), rel=1e-5)
    no_size = torch.tensor([[0, -100], [1, -100]])  # a head without a label in the batch adds nothing
    only_ek = torch.nn.functional.cross_entropy(ek, no_size[:, 0])
    assert ad.loss_function()(out, no_size).item() == pytest.approx(only_ek.item(), rel=1e-5)
    nothing = ad.loss_function()(out, torch.full((2, 2), -100))  # no label for any head: 0, and it back-propagates
    assert nothing.item() == 0.0 and nothing.requires_grad



def test_head_class_weights_weigh_that_heads_cross_entropy(tiny_encoder):
    # balanced over the rows with a label for that head (scikit-learn's rule), a mapping by label
    heads = {"ekman": {**HEADS["ekman"], "class_weights": {"anger": 3}},
             "size": {"column": "size", "class_weights": "balanced"}}
    ad = adapter(heads=heads)
    data = {"text": list("abcde"), "label": ["0", "2", "0", "3", "1"], "size": ["S", "L", "S", "", "S"]}
    ad.prepare({"train": Dataset.from_dict(data)}, {})
    assert ad.head_labels["size"] == ["L", "S"]
    assert ad.head_class_weights == {"ekman": [1.0, 3.0, 1.0], "size": [4 / (2 * 1), 4 / (2 * 3)]}  # blank row left out
    assert ad.summary()["class_weights"] == {"ekman": {"joy": 1.0, "anger": 3.0, "neutral": 1.0},
                                             "size": {"L": 2.0, "S": 0.6667}}
    model = ad.build_model(tiny_encoder).eval()
    out = model(input_ids=torch.tensor([[2, 7, 3], [2, 8, 3], [2, 9, 3]]))
    labels = torch.tensor([[0, 1], [1, 0], [2, 1]])
    ek, sz = out.logits[:, :3], out.logits[:, 3:]
    ce = torch.nn.functional.cross_entropy
    expected = ce(ek, labels[:, 0], weight=torch.tensor([1.0, 3.0, 1.0])) + ce(sz, labels[:, 1], weight=torch.tensor([2.0, 4 / 6]))
    assert ad.loss_function()(out, labels).item() == pytest.approx(expected.item(), rel=1e-5)
    assert expected.item() != pytest.approx((ce(ek, labels[:, 0]) + ce(sz, labels[:, 1])).item(), rel=1e-3)


@pytest.mark.parametrize("given, message", [
    ([1, 2], r"task.heads.size.class_weights has 2 values for 3 labels \['L', 'M', 'S'\]"),
    ({"XL": 2}, r"task.heads.size.class_weights: 'XL' is not a label \['L', 'M', 'S'\]"),
    ({"M": 0}, r"task.heads.size.class_weights: the weight of 'M' must be a positive number, got 0"),
])
def test_bad_head_class_weights_are_named(given, message):
    data = {"text": list("abc"), "label": ["0", "2", "3"], "size": ["S", "L", "M"]}
    with pytest.raises(UserError, match=message):
        adapter(heads={"size": {"column": "size", "class_weights": given}}).prepare({"train": Dataset.from_dict(data)}, {})

def test_a_non_bert_encoder_trains_its_own_classification_head(tmp_path):
    # before: "task multihead runs on BERT encoders"; now any encoder with a sequence-classification head
    from transformers import AutoTokenizer, DistilBertConfig, DistilBertModel

    from bert_tasks import build_tiny_bert

    tok = AutoTokenizer.from_pretrained(build_tiny_bert(tmp_path / "bert", ["a b c d"]))
    DistilBertModel(DistilBertConfig(vocab_size=len(tok), dim=32, n_layers=1, n_heads=2, hidden_dim=64)).save_pretrained(
        tmp_path / "distil")
    ad = adapter(heads=HEADS)
    ad.prepare({"train": Dataset.from_dict({"text": ["a", "b"], "label": ["0", "2"], "size": ["S", "L"]})}, {})
    model = ad.build_model(str(tmp_path / "distil"))
    assert type(model).__name__ == "DistilBertForSequenceClassification" and model.config.num_labels == 5
    out = model(input_ids=torch.tensor([[1, 2, 3]]))
    loss = ad.loss_function()(out, torch.tensor([[2, 0]]))
    loss.backward()
    assert loss.item() > 0 and model.classifier.weight.grad.abs().sum() > 0


def test_a_run_saved_with_the_former_bert_multihead_class_still_loads(tiny_encoder, tmp_path):
    from transformers import BertConfig

    from bert_tasks.heads import BertForMultiHeadClassification

    config = BertConfig.from_pretrained(tiny_encoder)
    config.heads = {"ekman": ["joy", "anger"], "size": ["L"]}
    old = BertForMultiHeadClassification.from_pretrained(tiny_encoder, config=config)
    old.save_pretrained(tmp_path)
    loaded = MultiHead.load_model(str(tmp_path))
    assert type(loaded) is BertForMultiHeadClassification
    ids = torch.tensor([[2, 7, 3]])
    assert torch.equal(loaded.eval()(input_ids=ids).logits, old.eval()(input_ids=ids).logits)


def test_hub_class_label_columns_are_read_by_their_names(caplog):
    # before: a hub ClassLabel column trained as labels '0', '1', ... and a mapped list of ids needed source_labels
    from datasets import ClassLabel, Features, List, Value

    features = Features({"text": Value("string"), "label": List(ClassLabel(names=["joy", "anger", "neutral"])),
                         "size": ClassLabel(names=["S", "M", "L"])})
    train = Dataset.from_dict({"text": ["a", "b", "c"], "label": [[0], [1, 1, 0], [2]], "size": [2, 0, 1]},
                              features=features)
    heads = {"ekman": {"map": {"happy": ["joy"], "angry": ["anger"], "neutral": ["neutral"]}}, "size": {"column": "size"}}
    ad = MultiHead(MultiHeadOptions(name="multihead", heads=heads))
    out = ad.prepare({"train": train, "validation": train.select([1])}, {})
    assert ad.head_labels == {"ekman": ["happy", "angry", "neutral"], "size": ["S", "M", "L"]}  # the hub's order
    assert out["train"]["label"] == [[0, 2], [1, 0], [2, 1]] and out["validation"]["label"] == [[1, 0]]
    listed = MultiHead(MultiHeadOptions(name="multihead", heads={"size": {"column": "size", "labels": ["0", "1", "2"]}}))
    with caplog.at_level("WARNING", logger="bert_tasks"):
        assert listed.prepare({"train": train}, {})["train"]["label"] == [[2], [0], [1]]  # other labels: ids as values
    assert "train split (data, head 'size'): its label names ['S', 'M', 'L'] are not all among" in caplog.text
    # given labels that name the ClassLabel's names, in another order: ids read by name (before: as values)
    named = MultiHead(MultiHeadOptions(name="multihead", heads={"size": {"column": "size", "labels": ["L", "M", "S"]}}))
    assert named.prepare({"train": train}, {})["train"]["label"] == [[0], [2], [1]]  # L, S, M
    bad = Dataset.from_dict({"text": ["a"], "label": [[0]], "size": [-1]}, features=features)
    with pytest.raises(UserError, match=r"validation split \(v.parquet\), row 1: label '-1' of head 'size'"):
        ad.prepare({"train": train, "validation": bad}, {"validation": "v.parquet"})


@pytest.mark.parametrize("blank", ["", "  ", None])
def test_a_blank_cell_of_a_column_head_is_no_label_not_a_class(blank):
    ad = adapter(heads={"size": {"column": "size"}})
    out = ad.prepare({"train": Dataset.from_dict({"text": list("abc"), "size": ["M", blank, "S"]})}, {})
    assert ad.head_labels == {"size": ["M", "S"]}  # before: a class '' (or 'None')
    assert out["train"]["label"] == [[0], [-100], [1]]
    with pytest.raises(UserError, match=r"train split \(t.csv\): column 'size' of head 'size' holds no label"):
        adapter(heads={"size": {"column": "size"}}).prepare(
            {"train": Dataset.from_dict({"text": ["a"], "size": [blank]})}, {"train": "t.csv"})


def test_a_finished_runs_labels_serve_a_split_without_train():
    ad = adapter(heads={"size": {"column": "size"}, "colour": {"column": "colour"}})
    ad.head_labels = {"size": ["S", "M"], "colour": ["red"]}  # as from_run sets them, in the model's order
    out = ad.prepare({"test": Dataset.from_dict({"text": ["a", "b"], "size": ["M", "S"], "colour": ["red", ""]})},
                     {"test": "e.csv"})
    assert out["test"]["label"] == [[1, 0], [0, -100]]
    with pytest.raises(UserError, match=r"test split \(e.csv\): no column 'colour' for head 'colour'; columns are "
                                        r"\['text', 'size'\]"):
        ad.prepare({"test": Dataset.from_dict({"text": ["a"], "size": ["M"]})}, {"test": "e.csv"})
    unlabelled = ad.prepare({"test": Dataset.from_dict({"text": ["a"]})}, {"test": "e.csv"})["test"]
    assert "label" not in unlabelled.column_names


def test_csv_cells_of_a_column_head_match_its_labels_as_classification_does():
    # csv/tsv cells are text: '01' keeps its zero; 'true' is the recipe's true, '2.0' its 2
    ad = adapter(heads={"stars": {"column": "stars", "labels": [1, 2]}, "ok": {"column": "ok", "labels": [False, True]}})
    rows = {"text": list("abc"), "stars": ["2.0", "1", "2"], "ok": ["true", "False", "TRUE"]}
    assert ad.prepare({"train": Dataset.from_dict(rows)}, {})["train"]["label"] == [[1, 1], [0, 0], [1, 1]]
    ad = adapter(heads={"code": {"column": "code"}})
    out = ad.prepare({"train": Dataset.from_dict({"text": list("ab"), "code": ["01", "10"]})}, {})
    assert ad.head_labels == {"code": ["01", "10"]} and out["train"]["label"] == [[0], [1]]
    with pytest.raises(UserError, match=r"row 1: label '1' of head 'code' is not among \['01', '10'\]"):
        ad.prepare({"validation": Dataset.from_dict({"text": ["a"], "code": ["1"]})}, {"validation": "v.csv"})


def test_a_list_in_a_column_head_is_named_not_made_a_class():
    # before: with the head's labels from train, ["M"] became a class "['M']"
    rows = {"text": list("ab"), "size": [["M"], ["S", "L"]]}
    with pytest.raises(UserError, match=r"train split \(t.jsonl\), row 1: column 'size' of head 'size' holds a list "
                                        r"\(\[.M.\]\); a head takes one label per row"):
        adapter(heads={"size": {"column": "size"}}).prepare({"train": Dataset.from_dict(rows)}, {"train": "t.jsonl"})
