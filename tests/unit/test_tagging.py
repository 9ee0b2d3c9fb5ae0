import numpy as np
import pytest
from datasets import Dataset

from bert_tasks.errors import UserError
from bert_tasks.tasks.tagging import Tagging, TaggingOptions, split_words


def adapter(**kw):
    return Tagging(TaggingOptions(name="tagging", **kw))


@pytest.fixture
def tok(tiny_encoder):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_encoder)


def test_prepare_converts_and_reports_invalid(caplog):
    ad = adapter()
    rows = {"tokens": [["a", "b", "c"], ["d", "e"]], "tags": [["B-PER", "I-PER", "O"], ["O", "I-LOC"]],
            "file": ["f.txt", "f.txt"], "line": [1, 5]}
    with caplog.at_level("WARNING", logger="bert_tasks"):
        out = ad.prepare({"train": Dataset.from_dict(rows)}, {"train": "f.txt"})
    assert ad.source_scheme == "iob2"
    assert out["train"]["tags"] == [["B-PER", "E-PER", "O"], ["O", "S-LOC"]]
    assert "1 sentence(s)" in caplog.text and "f.txt:6" in caplog.text
    assert ad.labels[:5] == ["O", "B-LOC", "I-LOC", "E-LOC", "S-LOC"]
    assert "look like" not in caplog.text  # auto: the guess is the scheme used


def test_a_scheme_set_against_the_data_says_what_the_tags_look_like(caplog):
    rows = {"tokens": [["a", "b", "c"]] * 2, "tags": [["B-PER", "I-PER", "O"], ["O", "B-LOC", "I-LOC"]]}
    with caplog.at_level("WARNING", logger="bert_tasks"):
        adapter(scheme="bilou").prepare({"train": Dataset.from_dict(rows)}, {"train": "t.json"})
    assert "2 sentence(s) have tags invalid under bilou" in caplog.text
    assert "these tags look like iob2: set task.scheme=iob2, or auto" in caplog.text


def test_weibo_position_digits_are_pointed_at(caplog):
    chars = "科技全方位资讯智能张三在北京工作了十年之久"
    rows = {"tokens": [[f"{c}{i % 3}" for i, c in enumerate(chars)]], "tags": [["O"] * len(chars)]}
    with caplog.at_level("WARNING", logger="bert_tasks"):
        adapter().prepare({"train": Dataset.from_dict(rows)}, {"train": "weibo.train"})
    assert "train split (weibo.train): nearly every token is one character and a digit (科0 技1 全2 方0)" in caplog.text
    assert "task.strip_position_digit=true" in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING", logger="bert_tasks"):
        out = adapter(strip_position_digit=True).prepare({"train": Dataset.from_dict(rows)}, {"train": "weibo.train"})
    assert out["train"]["tokens"][0][:3] == ["科", "技", "全"] and "strip_position_digit" not in caplog.text
    plain = {"tokens": [["B2", "bombers", "and", "A4", "paper"] * 5], "tags": [["O"] * 25]}  # some, not nearly all
    with caplog.at_level("WARNING", logger="bert_tasks"):
        adapter().prepare({"train": Dataset.from_dict(plain)}, {"train": "en.txt"})
    assert "strip_position_digit" not in caplog.text


def test_malformed_tag_names_its_line():
    rows = {"tokens": [["a", "b"], ["c", "d", "e"]], "tags": [["B-PER", "O"], ["O", "O", "X-LOC"]],
            "file": ["f.txt", "f.txt"], "line": [1, 4]}
    with pytest.raises(UserError, match=r"^f.txt:6: tag 'X-LOC' is not O or <prefix>-<type>"):
        adapter(scheme="iob2").prepare({"train": Dataset.from_dict(rows)}, {"train": "f.txt"})
    rows = {"tokens": [["c", "d", "e"]], "tags": [["O", "PER", "O"]]}
    with pytest.raises(UserError, match=r"^t.json, row 1, token 2: tag 'PER'"):
        adapter(scheme="iob2").prepare({"train": Dataset.from_dict(rows)}, {"train": "t.json"})
    # scheme auto guesses from the tags: before, a bare ValueError with no place (a wrong data.tag_column)
    rows = {"tokens": [["EU", "rejects"]], "tags": [["EU", "rejects"]], "file": ["f.txt"], "line": [3]}
    with pytest.raises(UserError, match=r"^f.txt:3: tag 'EU' is not O .*\(data.tag_column picks the tag's column\)"):
        adapter().prepare({"train": Dataset.from_dict(rows)}, {"train": "f.txt"})


def test_tokens_and_tags_must_be_lists_of_strings(tmp_path):
    from bert_tasks.data import read_files

    cases = [  # second JSON line -> what the message shows
        ('{"tokens": "Peter Blackburn", "tags": ["B-PER", "I-PER"]}', ": column 'tokens' must hold a list of strings, got 'Peter"),
        ('{"tokens": ["Peter", null], "tags": ["B-PER", "I-PER"]}', r": column 'tokens' .* got \['Peter', None\]"),
        ('{"tokens": ["Peter", "B"], "tags": null}', ": column 'tags' must hold a list of strings, got null"),
        ('{"tokens": ["Peter", "B"], "tags": ["B-PER", 3]}', r": column 'tags' .* got \['B-PER', 3\]"),
        ('{"tokens": ["Peter", " "], "tags": ["B-PER", "I-PER"]}', ", token 2: column 'tokens' holds a blank token ' '"),
    ]
    for line, message in cases:
        path = tmp_path / "t.jsonl"
        path.write_text('{"tokens": ["EU", "rejects"], "tags": ["B-ORG", "O"]}\n' + line + "\n", encoding="utf-8")
        train = read_files([str(path)], "json", "data.train")
        with pytest.raises(UserError, match=rf"train split \(t.jsonl\), row 2{message}"):
            adapter().prepare({"train": train}, {"train": "t.jsonl"})


def test_integer_tags_are_named_by_task_tag_names(tmp_path):
    # a hub dataset saved as JSON keeps ner_tags as ids: before, only "must hold a list of strings"
    from bert_tasks.data import read_files

    path = tmp_path / "t.jsonl"
    path.write_text('{"tokens": ["EU", "rejects", "Peter"], "ner_tags": [3, 0, 1]}\n'
                    '{"tokens": ["Peter", "Blackburn"], "ner_tags": [1, 2]}\n', encoding="utf-8")
    train = read_files([str(path)], "json", "data.train")
    columns = {"tags": "ner_tags"}
    with pytest.raises(UserError, match=r"row 1: column 'ner_tags' .* integer tags \(ids\)\? name them with task.tag_names"):
        adapter().prepare({"train": train}, {"train": "t.jsonl"}, columns)
    names = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG"]
    out = adapter(tag_names=names).prepare({"train": train}, {"train": "t.jsonl"}, columns)
    assert out["train"]["tags"] == [["S-ORG", "O", "S-PER"], ["B-PER", "E-PER"]]
    with pytest.raises(UserError, match=r"train split \(t.jsonl\), row 1, token 1: tag id 3 has no name in "
                                        r"task.tag_names \(3 names: ids 0 to 2\)"):
        adapter(tag_names=names[:3]).prepare({"train": train}, {"train": "t.jsonl"}, columns)
    for bad, says in ((["O", "PER"], r"task.tag_names\[1\]: tag 'PER' is not O"),
                      (["O", "B-PER", "O"], "task.tag_names: 'O' is named twice \\(ids 0 and 2\\)")):
        with pytest.raises(UserError, match=says):
            adapter(tag_names=bad).prepare({"train": train}, {"train": "t.jsonl"}, columns)


def test_hub_tag_ids_are_read_by_their_names():
    # before: "column 'ner_tags' must hold a list of strings, got [0, 1]"
    from conftest import hub_like

    train = hub_like().select([0, 1]).map(lambda r: {"tokens": r["sentence"].split() * len(r["ner_tags"])})
    out = adapter().prepare({"train": train}, {"train": "hub"}, {"tags": "ner_tags"})
    assert out["train"]["tags"] == [["O", "S-PER"], ["B-PER", "E-PER"]]
    # a validation split whose ClassLabel orders the tags otherwise: its ids by its own names (before: train's)
    from datasets import ClassLabel, Features, List, Value

    names = train.features["ner_tags"].feature.names
    other = Features({"tokens": List(Value("string")), "ner_tags": List(ClassLabel(names=names[::-1]))})
    valid = Dataset.from_dict({"tokens": [["Peter", "Blackburn"]],
                               "ner_tags": [[names[::-1].index("B-PER"), names[::-1].index("I-PER")]]}, features=other)
    out = adapter().prepare({"train": train, "validation": valid}, {}, {"tags": "ner_tags"})
    assert out["validation"]["tags"] == [["B-PER", "E-PER"]]
    # task.tag_names still names the ids of a ClassLabel whose own names are no tags (B_PER)
    odd = Features({"tokens": List(Value("string")), "ner_tags": List(ClassLabel(names=["O", "B_PER", "I_PER"]))})
    data = Dataset.from_dict({"tokens": [["Peter", "Blackburn", "said"]], "ner_tags": [[1, 2, 0]]}, features=odd)
    out = adapter(tag_names=["O", "B-PER", "I-PER"]).prepare({"train": data}, {}, {"tags": "ner_tags"})
    assert out["train"]["tags"] == [["B-PER", "E-PER", "O"]]


def test_tagging_recipe_on_sentence_csv_is_a_clear_error():
    with pytest.raises(UserError, match="tagging needs a list of tokens and a list of tags"):
        adapter().prepare({"train": Dataset.from_dict({"text": ["a b"], "label": [1]})}, {"train": "t.csv"})


def test_tags_under_another_name_are_pointed_at():
    data = Dataset.from_dict({"tokens": [["a", "b"]], "ner_tags": [["O", "B-PER"]]})
    with pytest.raises(UserError, match=r"no column 'tags' \(did you mean 'ner_tags'\?\)"):
        adapter().prepare({"train": data}, {"train": "t.json"})


def test_unknown_type_in_validation():
    with pytest.raises(UserError, match=r"entity types \['MISC'\] never occur in train \(the first at v.json, row 2\)$"):
        adapter().prepare({"train": Dataset.from_dict({"tokens": [["a"]], "tags": [["B-PER"]]}),
                           "validation": Dataset.from_dict({"tokens": [["a"], ["b", "c"]],
                                                            "tags": [["B-PER"], ["O", "B-MISC"]]})},
                          {"validation": "v.json"})


def test_all_pieces_continuation_tags(tok):
    ad = adapter(label_all_pieces=True)
    rows = ad.prepare({"train": Dataset.from_dict({"tokens": [["xqzw", "film"]], "tags": [["B-PER", "O"]]})}, {})
    feats = rows["train"].map(ad.encode_fn(tok, 64), batched=True, remove_columns=rows["train"].column_names)
    pieces = tok.convert_ids_to_tokens(feats[0]["input_ids"])
    assert len(pieces) > 4  # xqzw splits into several pieces
    tags = [ad.labels[i] if i >= 0 else None for i in feats[0]["labels"]]
    n = pieces.index("film") - 1
    assert tags[1:1 + n] == ["B-PER"] + ["I-PER"] * (n - 2) + ["E-PER"]  # S-PER over n pieces
    assert tags[0] is None and tags[-1] is None


def test_first_piece_labels(tok):
    ad = adapter()
    rows = ad.prepare({"train": Dataset.from_dict({"tokens": [["xqzw", "film"]], "tags": [["B-PER", "O"]]})}, {})
    feats = rows["train"].map(ad.encode_fn(tok, 64), batched=True, remove_columns=rows["train"].column_names)
    labels = feats[0]["labels"]
    assert ad.labels[labels[1]] == "S-PER" and all(x == -100 for x in labels[2:-2])


@pytest.mark.parametrize("all_pieces", [False, True])
def test_windowing_gives_same_tags_as_one_window(tiny_encoder, tok, all_pieces):
    from transformers import AutoModelForTokenClassification

    rng = np.random.default_rng(0)
    vocab = ["the", "film", "good", "plot", "awful", "xqzw", "said", "."]
    sentences = [[vocab[i] for i in rng.integers(0, len(vocab), int(rng.integers(20, 60)))] for _ in range(6)]
    ad = adapter(label_all_pieces=all_pieces, stride=8)
    ad.labels = ["O", "B-X", "I-X", "E-X", "S-X"]
    model = AutoModelForTokenClassification.from_pretrained(tiny_encoder, num_labels=5).eval()
    # A model whose scores depend on the token only (no context) gives the same scores in any
    # window: zero every attention output so the position/context paths vanish.
    import torch

    with torch.no_grad():
        for layer in model.bert.encoder.layer:
            layer.attention.output.dense.weight.zero_()
            layer.attention.output.dense.bias.zero_()
        model.bert.embeddings.position_embeddings.weight.zero_()
    whole = ad.predict(model, tok, sentences, max_length=512)
    windowed = ad.predict(model, tok, sentences, max_length=16)
    assert [w["tags"] for w in whole] == [w["tags"] for w in windowed]
    assert any(len(s) > 14 for s in sentences)


def test_raw_text_spans_with_offsets():
    assert split_words("Hi, 张三 lives") == [("Hi", 0, 2), (",", 2, 3), ("张", 4, 5), ("三", 5, 6), ("lives", 7, 12)]


def test_document_context_is_unlabelled_extra_input(tok):
    ad = adapter(context_words=5)
    rows = {"tokens": [["alice", "went"], ["to", "paris"], ["bob", "film"]], "tags": [["B-PER", "O"], ["O", "B-LOC"], ["B-PER", "O"]],
            "doc": [1, 1, 2]}
    out = ad.prepare({"train": Dataset.from_dict(rows)}, {})["train"]
    assert out["left"] == [[], ["alice", "went"], []] and out["right"] == [["to", "paris"], [], []]
    feats = out.map(ad.encode_fn(tok, 64), batched=True, remove_columns=out.column_names)
    pieces = tok.convert_ids_to_tokens(feats[1]["input_ids"])
    assert pieces == ["[CLS]", "alice", "went", "to", "paris", "[SEP]"]
    assert feats[1]["word_ids"] == [-1, -1, -1, 0, 1, -1]
    labels = [ad.labels[i] if i >= 0 else None for i in feats[1]["labels"]]
    assert labels == [None, None, None, "O", "S-LOC", None]
    short = out.map(ad.encode_fn(tok, 4), batched=True, remove_columns=out.column_names)  # no room: no context
    assert tok.convert_ids_to_tokens(short[1]["input_ids"]) == ["[CLS]", "to", "paris", "[SEP]"]


def test_prediction_lines_keep_three_columns_when_a_token_holds_a_space(tmp_path):
    from bert_tasks.data import read_conll
    from bert_tasks.tasks.tagging import conll_lines

    plain = conll_lines([["alice", "ran"]], [["S-PER", "O"]], [["S-PER", "S-PER"]])
    assert plain == ["alice S-PER S-PER", "ran O S-PER", ""]  # CoNLL-2003's spaces
    # before: "New York S-LOC S-LOC" had four columns, and the file did not read back
    sentences = [["in", "New York", "a\tb\nc"], ["bob"]]
    gold = [["O", "S-LOC", "O"], ["S-PER"]]
    pred = [["O", "S-LOC", "S-PER"], ["O"]]
    lines = conll_lines(sentences, gold, pred)
    assert lines[1] == "New York\tS-LOC\tS-LOC" and lines[2] == "a b c\tO\tS-PER"
    path = tmp_path / "predictions_test.conll"
    path.write_text("\n".join(lines), encoding="utf-8")
    back = read_conll([str(path)], "predictions")
    assert back["tokens"] == [["in", "New York", "a b c"], ["bob"]]
    assert back["tags"] == pred  # the last column
