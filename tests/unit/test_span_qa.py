import numpy as np
import pytest
from datasets import Dataset

from bert_tasks.errors import UserError
from bert_tasks.tasks.span_qa import SpanQA, SpanQAOptions


def adapter(**kw):
    return SpanQA(SpanQAOptions(name="span_qa", **kw))


@pytest.fixture
def tok(tiny_encoder):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_encoder)


def squad_rows(question, context, answer):
    start = context.index(answer)
    return Dataset.from_dict({"id": ["q1"], "question": [question], "context": [context],
                              "answers": [{"text": [answer], "answer_start": [start]}]})


def test_long_passage_answer_only_in_later_window(tok):
    context = " ".join(["the film was good"] * 30) + " paris is the answer ."
    ad = adapter(doc_stride=8)
    rows = ad.prepare({"train": squad_rows("where ?", context, "paris")}, {})["train"]
    feats = rows.map(ad.encode_fn(tok, 32), batched=True, remove_columns=rows.column_names)
    assert len(feats) > 3
    labelled = [(f["start_positions"], f["end_positions"]) for f in feats]
    assert all(s == 0 and e == 0 for s, e in labelled[:-2])  # answer outside: [CLS]
    s, e = labelled[-1]
    assert s > 0 and tok.convert_ids_to_tokens(feats[-1]["input_ids"][s : e + 1]) == ["paris"]
    # post-processing finds it from hand-built logits pointing there, across all windows
    width = max(len(f["input_ids"]) for f in feats)
    start = np.full((len(feats), width), -5.0)
    end = np.full((len(feats), width), -5.0)
    start[-1, s], end[-1, e] = 5.0, 5.0
    best = ad.best_spans(start, end, feats, rows["context"])
    assert best[0]["text"] == "paris"


def test_spans_respect_max_length_and_order(tok):
    context = "alpha beta gamma delta epsilon"
    ad = adapter(max_answer_length=2)
    rows = ad.prepare({"validation": squad_rows("q ?", context, "beta")}, {})["validation"]
    feats = rows.map(ad.encode_fn(tok, 64), batched=True, remove_columns=rows.column_names)
    n = len(feats[0]["input_ids"])
    offs = feats[0]["offset_mapping"]
    ctx = [k for k, o in enumerate(offs) if o is not None]
    start, end = np.zeros((1, n)), np.zeros((1, n))
    start[0, ctx[0]] = 9.0  # alpha ... epsilon would be best but is too long
    end[0, ctx[-1]] = 9.0
    start[0, ctx[1]] = 4.0
    end[0, ctx[2]] = 4.0
    end[0, ctx[0]] = 3.0  # end before start would score 12: must be ignored
    best = ad.best_spans(start, end, feats, rows["context"])
    assert best[0]["text"] in ("beta gamma", "alpha")
    assert best[0]["text"] == "beta gamma" or best[0]["score"] >= 12.0
    spans = [(c["start"], c["end"]) for c in best[0]["n_best"]]
    assert all(e > s for s, e in spans)


def test_no_answer_threshold():
    ad = adapter()
    best = [{"text": "x", "score": 2.0, "null": 5.0}, {"text": "y", "score": 6.0, "null": 1.0}]
    assert ad.answers(best, 1.0) == ["", "y"]
    assert ad.answers(best, None) == ["x", "y"]


def test_answer_start_recovery_and_drop(caplog):
    ds = Dataset.from_dict({
        "id": ["a", "b", "c"], "question": ["q", "q", "q"],
        "context": ["paris and paris", "rome", "berlin"],
        "answers": [{"text": ["paris"], "answer_start": [9]}, {"text": ["rome"], "answer_start": [3]},
                    {"text": ["madrid"], "answer_start": [0]}],
    })
    with caplog.at_level("WARNING", logger="bert_tasks"):
        out = adapter().prepare({"train": ds}, {"train": "t.json"})["train"]
    assert out["id"] == ["a", "b"]
    assert out["answers"][0]["answer_start"] == [10]  # nearest occurrence to the wrong offset 9
    assert out["answers"][1]["answer_start"] == [0]
    assert "2 answer_start offsets" in caplog.text and "dropped" in caplog.text and "id c" in caplog.text


def test_evaluation_splits_keep_questions_whose_answer_is_not_in_the_passage(caplog, tok):
    ds = Dataset.from_dict({
        "id": ["a", "b", "c"], "question": ["q", "q", "q"],
        "context": ["paris and rome", "berlin", "oslo"],
        "answers": [{"text": ["rome", "lisbon"], "answer_start": [10, 0]}, {"text": ["madrid"], "answer_start": [0]},
                    {"text": ["wien", "oslo"], "answer_start": [0, 0]}],
    })
    ad = adapter()
    with caplog.at_level("WARNING", logger="bert_tasks"):
        out = ad.prepare({"train": ds, "test": ds}, {"train": "t.json", "test": "e.json"})
    assert out["train"]["id"] == ["a", "c"]  # train: no span to learn for b; a and c keep the answers found
    assert out["train"]["answers"][0] == {"text": ["rome"], "answer_start": [10]}
    test = out["test"]  # before: b was dropped, and the unfound answers of a and c left the gold set
    assert test["id"] == ["a", "b", "c"]
    assert test["answers"] == [{"text": ["rome", "lisbon"], "answer_start": [10, -1]},
                               {"text": ["madrid"], "answer_start": [-1]},
                               {"text": ["oslo", "wien"], "answer_start": [0, -1]}]  # found ones first
    assert "test split (e.json): 1 question(s) whose answer text is not in the passage, scored by that text" in caplog.text
    assert "first: id b" in caplog.text
    feats = test.map(ad.encode_fn(tok, 32), batched=True, remove_columns=test.column_names)
    starts = dict(zip(feats["example"], feats["start_positions"]))
    assert starts[1] == 0 and starts[0] > 0 and starts[2] > 0  # b's loss target: no answer ([CLS])
    assert SpanQA.beyond_first_window(test, feats) == [False, False, False]


def test_question_context_and_answers_of_the_wrong_shape_are_named(tmp_path):
    from bert_tasks.data import read_files

    good = '{"question": "who?", "context": "Tom ran.", "answers": {"text": ["Tom"], "answer_start": [0]}}'
    cases = [  # second JSON line -> what the message says
        ('{"question": null, "context": "Ann sat.", "answers": {"text": ["Ann"], "answer_start": [0]}}',
         r"row 2: column 'question' \(question\) must hold text, got null"),
        ('{"question": "who?", "context": "Ann sat.", "answers": {"text": "Ann", "answer_start": 0}}',
         r"row 2 \(id 1\): answers must be \{text: \[str, ...\], answer_start: \[int, ...\]\}"),
        ('{"question": "who?", "context": "Ann sat.", "answers": [{"text": "Ann"}]}',
         r"row 2 \(id 1\): answers must be .* or a list of \{text, answer_start\} records; got \[\{'text': 'Ann'"),
        ('{"question": "who?", "context": "Ann sat.", "answers": {"text": ["Ann"], "answer_start": []}}',
         r"row 2 \(id 1\): answers must be .* lists of equal length"),
        # a blank answer text would train a span that ends before it starts
        ('{"question": "who?", "context": "Ann sat.", "answers": {"text": ["Ann", " "], "answer_start": [0, 3]}}',
         r"row 2 \(id 1\): an answer text is blank, got .*; a question without an answer has empty lists"),
    ]
    for line, message in cases:
        path = tmp_path / "qa.jsonl"
        path.write_text(good + "\n" + line + "\n", encoding="utf-8")
        train = read_files([str(path)], "json", "data.train")
        with pytest.raises(UserError, match=rf"train split \(qa.jsonl\), {message}"):
            adapter().prepare({"train": train}, {"train": "qa.jsonl"})
    path.write_text(good + "\n" + good + "\n", encoding="utf-8")  # the right shape passes
    assert len(adapter().prepare({"train": read_files([str(path)], "json", "t")}, {})["train"]) == 2


def test_answers_as_a_list_of_records_are_read(tmp_path):
    # SQuAD JSON's own per-question layout, kept by a JSON-lines export (before: "answers must be {text: [...]...")
    from bert_tasks.data import read_files

    path = tmp_path / "qa.jsonl"
    path.write_text('{"id": "a", "question": "who?", "context": "Tom ran.", "answers": [{"text": "Tom", "answer_start": 0}]}\n'
                    '{"id": "b", "question": "why?", "context": "Tom ran.", "answers": []}\n', encoding="utf-8")
    out = adapter().prepare({"validation": read_files([str(path)], "json", "t")}, {})
    assert out["validation"]["answers"] == [{"text": ["Tom"], "answer_start": [0]}, {"text": [], "answer_start": []}]


def test_a_question_id_repeated_in_an_evaluated_split_is_named():
    rows = {"id": ["q1", "q2", "q1"], "question": ["who?"] * 3, "context": ["Tom ran."] * 3,
            "answers": [{"text": ["Tom"], "answer_start": [0]}] * 3}
    # before: predictions_validation.json (keyed by id) silently kept one of the two predictions
    with pytest.raises(UserError, match=r"validation split \(v.json\): question id 'q1' is on rows 1 and 3; ids "
                                        r"must be unique"):
        adapter().prepare({"validation": Dataset.from_dict(rows)}, {"validation": "v.json"})
    assert len(adapter().prepare({"train": Dataset.from_dict(rows)}, {})["train"]) == 3  # train is not keyed


def test_beyond_first_window_flags(tok):
    context = " ".join(["the film was good"] * 30) + " paris is the answer ."
    ad = adapter(doc_stride=8)
    ds = Dataset.from_dict({"id": ["a", "b"], "question": ["where ?", "what ?"], "context": [context, context],
                            "answers": [{"text": ["paris"], "answer_start": [context.index("paris")]},
                                        {"text": ["film"], "answer_start": [4]}]})
    rows = ad.prepare({"test": ds}, {})["test"]
    feats = rows.map(ad.encode_fn(tok, 32), batched=True, remove_columns=rows.column_names)
    assert ad.beyond_first_window(rows, feats) == [True, False]


def test_train_answers_all_gives_one_row_per_distinct_span(tok):
    context = "the capital is paris , in france"
    ds = Dataset.from_dict({
        "id": ["a", "b"], "question": ["where ?", "what ?"], "context": [context, context],
        "answers": [{"text": ["paris", "paris", "paris , in france"], "answer_start": [15, 15, 15]},
                    {"text": ["capital"], "answer_start": [4]}],
    })
    first = adapter().prepare({"train": ds}, {})["train"]
    assert first["id"] == ["a", "b"]
    ad = adapter(train_answers="all")
    out = ad.prepare({"train": ds, "validation": ds}, {})
    assert out["train"]["id"] == ["a", "a", "b"]
    assert [a["text"] for a in out["train"]["answers"]] == [["paris"], ["paris , in france"], ["capital"]]
    assert out["validation"]["id"] == ["a", "b"]  # scored splits keep every gold answer on one row
    feats = out["train"].map(ad.encode_fn(tok, 64), batched=True, remove_columns=out["train"].column_names)
    spans = [tok.decode(f["input_ids"][f["start_positions"]: f["end_positions"] + 1]) for f in feats]
    assert spans == ["paris", "paris, in france", "capital"]


def test_long_question_is_cut_to_max_question_length(tok):
    question = " ".join(["where did the film end"] * 40) + " ?"  # 201 tokens: more than a 64-token window holds
    context = " ".join(["the film was good"] * 30) + " paris is the answer ."
    ad = adapter(doc_stride=8, max_question_length=6)
    rows = ad.prepare({"train": squad_rows(question, context, "paris")}, {})["train"]
    feats = rows.map(ad.encode_fn(tok, 64), batched=True, remove_columns=rows.column_names)
    assert len(feats) > 1
    for f in feats:
        sep = f["input_ids"].index(tok.sep_token_id)
        assert tok.convert_ids_to_tokens(f["input_ids"][1:sep]) == ["where", "did", "the", "film", "end", "where"]


def test_question_that_leaves_no_room_for_the_stride_is_an_error(tok):
    question = " ".join(["where did the film end"] * 40) + " ?"
    ad = adapter(doc_stride=16, max_question_length=60)
    rows = ad.prepare({"train": squad_rows(question, "the film was good in paris .", "paris")}, {})["train"]
    with pytest.raises(UserError, match=r"question id q1 .* has 60 tokens: with data.max_length=64 a window holds 1 "):
        rows.map(ad.encode_fn(tok, 64), batched=True, remove_columns=rows.column_names)


def test_misspelt_question_column_is_pointed_at():
    data = Dataset.from_dict({"questoin": ["Who?"], "context": ["Ann ran."],
                              "answers": [{"text": ["Ann"], "answer_start": [0]}]})
    with pytest.raises(UserError, match=r"missing 'question' \(did you mean 'questoin'\?\);"):
        adapter().prepare({"train": data}, {"train": "q.json"})
    # every missing column gets its own hint, not just the first
    data = Dataset.from_dict({"questoin": ["Who?"], "contexts": ["Ann ran."],
                              "answers": [{"text": ["Ann"], "answer_start": [0]}]})
    with pytest.raises(UserError, match=r"missing 'question' \(did you mean 'questoin'\?\), "
                                        r"'context' \(did you mean 'contexts'\?\);"):
        adapter().prepare({"train": data}, {"train": "q.json"})
