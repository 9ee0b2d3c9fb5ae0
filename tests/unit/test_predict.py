import pytest

from bert_tasks.errors import UserError
from bert_tasks.predict import read_inputs


def write(tmp_path, name, data):
    path = tmp_path / name
    (path.write_bytes if isinstance(data, bytes) else path.write_text)(data)
    return path


def test_formats(tmp_path):
    fields = ("text", "text_pair")
    assert read_inputs(write(tmp_path, "a.txt", "one\ttwo\n\nthree\n"), fields) == [
        {"text": "one", "text_pair": "two"}, {"text": "three"}]
    assert read_inputs(write(tmp_path, "a.jsonl", '\ufeff{"text": "x"}\n\n{"text": "y"}\n'), fields) == [
        {"text": "x"}, {"text": "y"}]
    assert read_inputs(write(tmp_path, "a.json", ' [{"text": "x"}]'), fields) == [{"text": "x"}]
    assert read_inputs(write(tmp_path, "a.tsv", "text\ttext_pair\nx\ty\n"), fields) == [{"text": "x", "text_pair": "y"}]
    # a text holding U+2028 or U+0085 is one input; tsv quotes are text (as the data reader reads tsv);
    # csv quotes may hold commas and line breaks
    assert read_inputs(write(tmp_path, "b.txt", "a\u2028b\r\nc\x85d\n"), fields) == [
        {"text": "a\u2028b"}, {"text": "c\x85d"}]
    assert read_inputs(write(tmp_path, "b.tsv", 'text\n"x\n'), fields) == [{"text": '"x'}]
    assert read_inputs(write(tmp_path, "b.jsonl", '{"text": "a\u2028b"}\r\n{"text": "c\x85"}\n'), fields) == [
        {"text": "a\u2028b"}, {"text": "c\x85"}]
    assert read_inputs(write(tmp_path, "b.csv", 'text,text_pair\n"a, b","c\nd"\n'), fields) == [
        {"text": "a, b", "text_pair": "c\nd"}]


def test_each_input_keeps_its_place_in_the_file(tmp_path):
    # before: messages said "row N", counting only non-blank lines (a blank line shifted every number)
    from bert_tasks.predict import placed_inputs

    def places(name, data):
        path = write(tmp_path, name, data)
        return [place.removeprefix(f"{path}") for place, _ in placed_inputs(path, ("text", "text_pair"))]

    assert places("a.txt", "\n\none\n\ntwo\tpair\n") == [":3", ":5"]
    assert places("a.jsonl", '{"text": "x"}\n\n\n{"text": "y"}\n') == [":1", ":4"]
    assert places("a.json", '[{"text": "x"}, {"text": "y"}]') == [", record 1", ", record 2"]
    assert places("a.tsv", "text\n\nx\ny\n") == [":3", ":4"]
    assert places("a.csv", 'text,text_pair\n"a\nb",c\nd,e\n') == [":2", ":4"]  # a quoted field over two lines
    assert places("d.json", '{"version": 2, "data": [{"text": "x"}, {"text": "y"}]}') == [", data[0]", ", data[1]"]
    assert places("pd.json", '{"text": {"0": "x", "1": "y"}}') == [", row 1", ", row 2"]  # df.to_json()
    assert read_inputs(tmp_path / "pd.json", ("text",)) == [{"text": "x"}, {"text": "y"}]
    from datasets import Dataset

    Dataset.from_dict({"text": ["x", "y"]}).to_parquet(tmp_path / "p.parquet")  # before: "not UTF-8 text"
    assert read_inputs(tmp_path / "p.parquet", ("text",)) == [{"text": "x"}, {"text": "y"}]
    assert [p.removeprefix(str(tmp_path / "p.parquet")) for p, _ in placed_inputs(tmp_path / "p.parquet", ("text",))
            ] == [", row 1", ", row 2"]
    squad = '{"data": [{"title": "t", "paragraphs": [{"context": "c", "qas": [{"id": "q7", "question": "?"}]}]}]}'
    assert places("s.json", squad) == [", question id q7"]


def test_a_text_file_with_a_header_line_is_tab_separated(tmp_path):
    # before: MRPC's .txt was read line by line, its header predicted as a (text, text_pair) pair
    mrpc = "Quality\t#1 String\t#2 String\n1\ta b\tc d\n"
    fields = ("text", "text_pair")
    assert read_inputs(write(tmp_path, "m.txt", mrpc), fields, ["#1 String", "#2 String"]) == [
        {"Quality": "1", "#1 String": "a b", "#2 String": "c d"}]
    assert read_inputs(write(tmp_path, "t.txt", "text\nfine\n"), fields) == [{"text": "fine"}]
    assert read_inputs(write(tmp_path, "p.txt", "a b\tc d\n"), fields, ["#1 String"]) == [
        {"text": "a b", "text_pair": "c d"}]  # no header: plain lines


def test_a_run_trained_without_headers_reads_inputs_without_one(tmp_path):
    names = ["text", "label", "id"]
    fields = ("text", "text_pair")
    assert read_inputs(write(tmp_path, "g.tsv", "so good\t17\tx1\nmeh\t\tx2\n"), fields, (), names) == [
        {"text": "so good", "label": "17", "id": "x1"}, {"text": "meh", "label": "", "id": "x2"}]
    assert read_inputs(write(tmp_path, "h.tsv", "text\tid\nok\tx3\n"), fields, (), names) == [
        {"text": "ok", "id": "x3"}]  # a first line naming the columns is a header still
    with pytest.raises(UserError, match=r"b.tsv:2: 2 field\(s\), but data.column_names names 3"):
        read_inputs(write(tmp_path, "b.tsv", "a\t1\tx\nb\t2\n"), fields, (), names)


def test_json_strings_and_lists_of_strings_are_inputs(tmp_path):
    # as pipelines take them: ["a text", ...], [["a text", "its pair"], ...], or one JSON string a line
    pair = ("text", "text_pair")
    assert read_inputs(write(tmp_path, "l.json", '["good", ["a", "b"]]'), pair) == [
        {"text": "good"}, {"text": "a", "text_pair": "b"}]
    assert read_inputs(write(tmp_path, "l.jsonl", '"good"\n\n{"text": "x"}\n'), ("text",)) == [
        {"text": "good"}, {"text": "x"}]
    assert read_inputs(write(tmp_path, "q.json", '[["who?", "Ann did."]]'), ("question", "context")) == [
        {"question": "who?", "context": "Ann did."}]
    with pytest.raises(UserError, match=r"l3.json, record 1: .*, a string or a list of 2 strings, got \['a', 'b', 'c'\]"):
        read_inputs(write(tmp_path, "l3.json", '[["a", "b", "c"]]'), pair)
    with pytest.raises(UserError, match=r"l4.json, record 1: .* got \['a', 5\]"):
        read_inputs(write(tmp_path, "l4.json", '[["a", 5]]'), pair)
    # a tagging run's inputs: a list of strings is a sentence's tokens, in a JSON list or JSON lines
    assert read_inputs(write(tmp_path, "t.json", '[["EU", "rejects"], "raw text"]'), ("text",), list_field="tokens") == [
        {"tokens": ["EU", "rejects"]}, {"text": "raw text"}]
    assert read_inputs(write(tmp_path, "t.jsonl", '["EU"]\n{"tokens": ["a"]}\n'), ("text",), list_field="tokens") == [
        {"tokens": ["EU"]}, {"tokens": ["a"]}]
    with pytest.raises(UserError, match=r"t2.json, record 1: .*, a string or a list of tokens \(strings\), got \['EU', 5\]"):
        read_inputs(write(tmp_path, "t2.json", '[["EU", 5]]'), ("text",), list_field="tokens")


@pytest.mark.parametrize("name, data, says", [
    ("bad.json", '[{"text": "a"}, ', r"bad.json: not a JSON list of records \(Expecting value: line 1 column 17\)"),
    ("bad.json", '["a", ["b", "c"]]', r"bad.json, record 2: each input must be a JSON object .*, or a string, got \['b', 'c'\]"),
    ("bad.jsonl", '{"text": "a"}\n\n5\n', r"bad.jsonl:3: each input must be a JSON object .*got 5$"),
    ("bad.jsonl", '{"text": "a"}\n{"text": \n', r"bad.jsonl:2: not a JSON record"),
    ("bad.txt", b"caf\xe9\n", r"bad.txt: not UTF-8 text \(byte offset 3\)"),
    ("missing.txt", None, r"--input: file not found: .*missing.txt"),
    (".", None, r"--input: .* is a folder; name a file in it"),
    ("bad.tsv", "text\tx\na\tb\tc\n", r"--input: .*bad.tsv:2: 3 field\(s\), but the header has 2"),
    ("bad.csv", "text,x\na\n", r"--input: .*bad.csv:2: 1 field\(s\), but the header has 2 \(a field is missing\)"),
    ("empty.txt", "\n \n", r"--input .*empty.txt: no inputs in the file"),
    ("two.txt", "a\n\nb\tc\n", r"two.txt:3: 2 tab-separated fields; a line of plain text holds at most 1 \(text\)$"),
    ("empty.tsv", "text\n", r"--input .*empty.tsv: no inputs in the file"),
    ("empty.jsonl", "", r"--input .*empty.jsonl: no inputs in the file"),
])
def test_bad_input_files_name_file_and_place(tmp_path, name, data, says):
    path = tmp_path / name if data is None else write(tmp_path, name, data)
    with pytest.raises(UserError, match=says):
        read_inputs(path, ("text",))


@pytest.mark.parametrize("task, good, bad", [
    ("classification", ["text", ("a", "b"), ["a", "b"]], [None, 5, ("a",), ("a", 5), {"text": "a"}]),
    ("multilabel", ["text", ("a", "b")], [None, ("a", "b", "c")]),
    ("multihead", ["text", ("a", "b")], [None, 3.0]),
    ("tagging", ["raw text", ["EU", "rejects"], ()], [None, ["EU", 5], ["EU", ""], ("EU", " ")]),
    ("span_qa", [("question?", "context."), ["q", "c"], ("q", "")], ["just text", ("q",), (None, "c"), ("", "c"), (" \n", "c")]),
])
def test_each_task_says_which_raw_inputs_it_accepts(task, good, bad):
    from bert_tasks.tasks import get_task

    adapter = get_task(task)
    assert adapter.input_help
    assert all(adapter.accepts(x) for x in good)
    assert not any(adapter.accepts(x) for x in bad)


def test_split_inputs_refuses_a_mix_of_texts_and_pairs():
    from bert_tasks.tasks.base import split_inputs

    assert split_inputs(["a", "b"]) == (["a", "b"], None)
    assert split_inputs([("a", "b")]) == (["a"], ["b"])
    with pytest.raises(UserError, match="mix 1 single texts and 1") as e:
        split_inputs(["a", ("b", "c")])
    assert e.value.index == 1 and "(input 0 is a single text, input 1 a pair)" in str(e.value)
    with pytest.raises(UserError, match=r"mix 2 single texts and 2 .*\(input 0 is a pair, input 2 a single text\)") as e:
        split_inputs([("b", "c"), ["d", "e"], "a", "f"])
    assert e.value.index == 2


def test_prediction_path_never_the_input(tmp_path):
    from bert_tasks.predict import prediction_path

    src = write(tmp_path, "in.txt", "good\n")
    assert prediction_path(src) == tmp_path / "in.predictions.jsonl"
    assert prediction_path(src, tmp_path / "o.jsonl") == tmp_path / "o.jsonl"
    (tmp_path / "out").mkdir()
    assert prediction_path(src, tmp_path / "out") == tmp_path / "out" / "in.predictions.jsonl"  # a folder
    # a path ending in / is a folder even before it exists (before: a file named "new" was written)
    assert prediction_path(src, f"{tmp_path}/new/") == tmp_path / "new" / "in.predictions.jsonl"
    for same in (src, tmp_path / "out" / ".." / "in.txt"):
        with pytest.raises(UserError, match="is the input file; choose another path"):
            prediction_path(src, same)
    assert src.read_text() == "good\n"


def test_predict_file_checks_the_input_before_loading_the_model(tmp_path):
    from bert_tasks import load_recipe
    from bert_tasks.predict import predict_file

    run = tmp_path / "run"  # a recipe and no model: loading the model would fail
    run.mkdir()
    (run / "recipe.yaml").write_text(load_recipe("sst2").to_yaml(), encoding="utf-8")
    src = write(tmp_path, "in.jsonl", '{"text": "fine"}\n7\n')
    with pytest.raises(UserError, match="in.jsonl:2: each input must be a JSON object"):
        predict_file(str(run), str(src))
    with pytest.raises(UserError, match="is the input file"):
        predict_file(str(run), str(src), str(src))
    with pytest.raises(UserError, match=r"--input https://example.com/in.tsv: predict reads a local file; download it"):
        predict_file(str(run), "https://example.com/in.tsv")
    good = write(tmp_path, "good.jsonl", '{"text": "fine"}\n')
    with pytest.raises(UserError, match=r"--output .*in.jsonl/o.jsonl: cannot write there \(.*in.jsonl is a file, not a folder\)"):
        predict_file(str(run), str(good), str(src / "o.jsonl"))
    assert not (tmp_path / "in.predictions.jsonl").exists()


def test_a_run_that_saved_no_model_is_named(tmp_path):
    from bert_tasks import Predictor, load_recipe

    run = tmp_path / "run"  # what a run stopped before its end leaves: its recipe, perhaps checkpoints
    run.mkdir()
    (run / "recipe.yaml").write_text(load_recipe("sst2").to_yaml(), encoding="utf-8")
    with pytest.raises(UserError, match=r"run: no model saved there \(no config.json\): the run did not finish; "
                                        r"run it again \(it saved no checkpoint\)"):
        Predictor.from_run(run)
    (run / "checkpoint-5").mkdir()
    with pytest.raises(UserError, match=r"resume it with its recipe and train.resume_from_checkpoint=auto "
                                        r"\(1 checkpoint\(s\) there\)"):
        Predictor.from_run(run)


def test_a_missing_folder_and_a_folder_that_is_no_run_are_told_apart(tmp_path):
    from bert_tasks import Predictor

    with pytest.raises(UserError, match=r"nowhere: no such run directory"):
        Predictor.from_run(tmp_path / "nowhere")
    with pytest.raises(UserError, match=r"not a run directory \(no recipe.yaml\)"):
        Predictor.from_run(tmp_path)


def test_untagged_token_lines_are_sentences(tmp_path):
    from bert_tasks.predict import _token_lines

    path = write(tmp_path, "a.conll", "EU\tNNP\nrejects\tVBZ\n\n-DOCSTART-\nPeter\tNNP\n")
    assert [(p.removeprefix(str(path)), r) for p, r in _token_lines(path, 0)] == [
        (":1", {"tokens": ["EU", "rejects"]}), (":5", {"tokens": ["Peter"]})]
    assert [r["tokens"] for _, r in _token_lines(path, -1)] == [["NNP", "VBZ"], ["NNP"]]
    with pytest.raises(UserError, match=r"a.conll:1: data.token_column 2 is beyond the line's 2 columns"):
        _token_lines(path, 2)
    with pytest.raises(UserError, match="no inputs in the file"):
        _token_lines(write(tmp_path, "e.bio", "\n-DOCSTART-\n\n"), 0)
    with pytest.raises(UserError, match=r"l.bio: not UTF-8 text"):
        _token_lines(write(tmp_path, "l.bio", b"caf\xe9\n"), 0)


def test_a_missing_token_file_is_named(tmp_path):
    from bert_tasks import load_recipe
    from bert_tasks.predict import predict_file

    run = tmp_path / "run"
    run.mkdir()
    (run / "recipe.yaml").write_text(load_recipe("conll2003").to_yaml(), encoding="utf-8")
    with pytest.raises(UserError, match=r"--input: file not found: .*missing.conll"):
        predict_file(str(run), str(tmp_path / "missing.conll"))


@pytest.mark.parametrize("engine", ["fbgemm", "onednn"])
def test_int8_layers_of_each_engine_are_close_to_fp32_and_leave_the_setting(engine, monkeypatch):
    # the int8 layers are packed by int8_engine()'s engine (oneDNN's AMX kernels where the CPU has them);
    # the process-wide setting is as it was afterwards
    import torch

    from bert_tasks import predict

    if engine not in torch.backends.quantized.supported_engines:
        pytest.skip(f"torch here has no {engine} engine")
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(64, 256), torch.nn.GELU(), torch.nn.Linear(256, 8))
    x = torch.randn(32, 64)
    before = torch.backends.quantized.engine
    monkeypatch.setattr(predict, "int8_engine", lambda: engine)
    with torch.no_grad():
        want = model(x)
        got = predict.quantize_int8(model)(x)
    assert torch.backends.quantized.engine == before
    assert not torch.equal(got, want) and (got - want).abs().max() < 0.05 * want.abs().max()


def test_int8_engine_is_onednn_with_amx_tiles_only(monkeypatch):
    import torch

    from bert_tasks.predict import int8_engine

    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False, raising=False)
    assert int8_engine() == torch.backends.quantized.engine
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: True, raising=False)
    assert int8_engine() == ("onednn" if "onednn" in torch.backends.quantized.supported_engines
                             else torch.backends.quantized.engine)


def test_compressed_input_files(tmp_path):
    import gzip

    from bert_tasks.predict import placed_inputs, prediction_path

    path = write(tmp_path, "in.tsv.gz", gzip.compress(b"text\ttext_pair\nx\ty\n\nz\tw\n"))
    assert placed_inputs(path, ("text", "text_pair")) == [
        (f"{path}:2", {"text": "x", "text_pair": "y"}), (f"{path}:4", {"text": "z", "text_pair": "w"})]
    assert read_inputs(write(tmp_path, "in.jsonl.gz", gzip.compress(b'{"text": "a"}\n')), ("text",)) == [{"text": "a"}]
    assert prediction_path(path) == tmp_path / "in.predictions.jsonl"  # not in.tsv.predictions.jsonl
    assert prediction_path(tmp_path / "in.tsv") == tmp_path / "in.predictions.jsonl"


def test_a_dataset_saved_to_disk_is_an_input(tmp_path):
    from datasets import Dataset, DatasetDict

    from bert_tasks.predict import placed_inputs

    rows = Dataset.from_dict({"sentence": ["good", "bad"]})
    rows.save_to_disk(str(tmp_path / "one"))
    DatasetDict({"train": rows}).save_to_disk(str(tmp_path / "both"))
    assert placed_inputs(tmp_path / "one", ("text",)) == [
        (f"{tmp_path / 'one'}, row 1", {"sentence": "good"}), (f"{tmp_path / 'one'}, row 2", {"sentence": "bad"})]
    with pytest.raises(UserError, match=r"--input: .*both holds the splits train, not test; name the folder"):
        placed_inputs(tmp_path / "both", ("text",))
