import json
import re

import pytest

from bert_tasks.data import file_format, load_splits, read_split
from bert_tasks.errors import UserError
from bert_tasks.recipe import DataConfig
from conftest import SAMPLES


def test_mrpc_style_tsv_bom_crlf_quotes(tmp_path):
    path = tmp_path / "m.txt"
    path.write_bytes(
        b'\xef\xbb\xbfQuality\t#1 ID\t#2 ID\t#1 String\t#2 String\r\n'
        b'1\t1\t2\tHe said "the witness\tshe said.\r\n'
        b'0\t3\t4\tNA\t"quoted" start\r\n'
    )
    ds = read_split(str(path), "train")
    assert ds.column_names == ["Quality", "#1 ID", "#2 ID", "#1 String", "#2 String"]
    assert ds["#1 String"] == ['He said "the witness', "NA"]  # no quote handling, NA stays text
    assert ds["#2 String"] == ["she said.", '"quoted" start']
    assert ds["Quality"] == ["1", "0"]  # cells as written (pandas would type the column as int)


def test_csv_and_tsv_cells_are_read_as_written(tmp_path):
    # before: pandas typed a column of digits, so labels 01, 02 became 1, 2 and a text 007 the number 7
    (tmp_path / "a.csv").write_text("text,label,flag\n007,01,True\n1e5,02,\n42,10,false\n", encoding="utf-8")
    ds = read_split(str(tmp_path / "a.csv"), "train")
    assert ds["text"] == ["007", "1e5", "42"] and ds["label"] == ["01", "02", "10"]
    assert ds["flag"] == ["True", "", "false"]
    (tmp_path / "b.tsv").write_text("3.50\t007\n1\t08\n", encoding="utf-8")
    ds = read_split(str(tmp_path / "b.tsv"), "train", DataConfig(header=False, column_names=["score", "text"]))
    assert ds["score"] == ["3.50", "1"] and ds["text"] == ["007", "08"]


def test_csv_spaces_after_commas_are_no_part_of_a_cell(tmp_path):
    # before: the header named ' label' ("no column 'label' (did you mean ' label'?)"), the label was ' 1',
    # and ` "a, b"` was split at its comma into two fields (a field-count error)
    (tmp_path / "a.csv").write_text('text, label\n"great film, really", 1\n fine film,0\n', encoding="utf-8")
    ds = read_split(str(tmp_path / "a.csv"), "train")
    assert ds.column_names == ["text", "label"]
    assert ds["text"] == ["great film, really", "fine film"] and ds["label"] == ["1", "0"]


def test_shipped_samples_read_like_originals():
    ds = read_split(str(SAMPLES / "mrpc" / "msr_paraphrase_train.txt"), "train")
    assert len(ds) == 2000 and "Quality" in ds.column_names
    sst = read_split(str(SAMPLES / "sst2" / "dev.tsv"), "validation")
    assert len(sst) == 872 and sst.column_names == ["sentence", "label"]


def test_csv_and_jsonl(tmp_path):
    (tmp_path / "a.csv").write_text('text,label\n"hello, world",pos\nbye,neg\n', encoding="utf-8")
    assert read_split(str(tmp_path / "a.csv"), "train")["text"] == ["hello, world", "bye"]
    rows = [{"text": "x", "label": "a"}, {"text": "y", "label": "b"}]
    (tmp_path / "a.jsonl").write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")
    assert read_split(str(tmp_path / "a.jsonl"), "train")["label"] == ["a", "b"]


def test_list_of_paths_concatenates(tmp_path):
    for name in ("a.tsv", "b.tsv"):
        (tmp_path / name).write_text(f"text\tlabel\n{name}\t1\n", encoding="utf-8")
    ds = read_split([str(tmp_path / "a.tsv"), str(tmp_path / "b.tsv")], "train")
    assert ds["text"] == ["a.tsv", "b.tsv"]


def test_files_of_one_split_need_the_same_columns(tmp_path):
    (tmp_path / "a.csv").write_text("text,label\ngood,1\n", encoding="utf-8")
    (tmp_path / "b.csv").write_text('"text",label\nbad,0\n', encoding="utf-8")
    (tmp_path / "c.csv").write_text("text,label,extra\nok,1,x\n", encoding="utf-8")
    (tmp_path / "d.csv").write_text("label,text\n0,poor\n", encoding="utf-8")
    files = [str(tmp_path / n) for n in ("a.csv", "b.csv")]
    assert read_split(files, "train")["text"] == ["good", "bad"]
    # before: datasets' 'An error occurred while generating the dataset'
    with pytest.raises(UserError, match=r"the files of one split need the same columns: .*a.csv has \['text', "
                                        r"'label'\], .*c.csv has \['text', 'label', 'extra'\]; rename or drop"):
        read_split([*files, str(tmp_path / "c.csv")], "train")
    with pytest.raises(UserError, match=r"d.csv has \['label', 'text'\]; put them in one order"):
        read_split([*files, str(tmp_path / "d.csv")], "train")


def test_json_files_of_one_split_need_the_same_fields(tmp_path):
    (tmp_path / "a.jsonl").write_text('{"text": "good", "label": 1}\n', encoding="utf-8")
    (tmp_path / "b.json").write_text('[{"label": 0, "text": "bad"}]', encoding="utf-8")  # another order is fine
    (tmp_path / "c.jsonl").write_text('\n{"sentence": "meh", "label": 0}\n', encoding="utf-8")
    files = [str(tmp_path / n) for n in ("a.jsonl", "b.json")]
    assert read_split(files, "train")["text"] == ["good", "bad"]
    with pytest.raises(UserError, match=r"the files of one split need the same fields: .*a.jsonl:1 has \['label', "
                                        r"'text'\], .*c.jsonl:2 has \['label', 'sentence'\]"):
        read_split([*files, str(tmp_path / "c.jsonl")], "train")  # before: datasets' "Couldn't cast"


def test_txt_is_sniffed(tmp_path):
    (tmp_path / "t.txt").write_text("a\tb\n1\t2\n", encoding="utf-8")
    (tmp_path / "c.txt").write_text("a,b\n1,2\n", encoding="utf-8")
    assert file_format(str(tmp_path / "t.txt"), "auto") == "tsv"
    assert file_format(str(tmp_path / "c.txt"), "auto") == "csv"


def test_missing_file_is_named(tmp_path):
    with pytest.raises(UserError, match=r"data.train: file not found: .*nope.tsv"):
        read_split(str(tmp_path / "nope.tsv"), "train")


def test_missing_relative_file_says_where_it_was_read_and_names_a_shipped_sample(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # as from a shipped recipe copied here, its data/... paths left as they were
    shipped = (SAMPLES / "sst2" / "train.tsv").resolve()
    with pytest.raises(UserError, match=(
        r"^data.train: file not found: data/sst2/train.tsv \(a relative path in a recipe file is read beside that "
        rf"file, one on the command line from the current folder, {re.escape(str(tmp_path))}\); the shipped sample "
        rf"of that name is {re.escape(str(shipped))}$"
    )):
        read_split("data/sst2/train.tsv", "train")
    with pytest.raises(UserError, match=rf"file not found: mine.tsv \(.*current folder, {re.escape(str(tmp_path))}\)$"):
        read_split("mine.tsv", "train")


def test_not_utf8_names_byte_offset(tmp_path):
    path = tmp_path / "latin.tsv"
    path.write_bytes("text\tlabel\ncaf\xe9\t1\n".encode("latin-1"))
    with pytest.raises(UserError, match=r"latin.tsv: not UTF-8 text \(byte offset 14\)"):
        read_split(str(path), "train")


def test_hub_name_offline_is_clear():
    with pytest.raises(UserError, match="offline mode is on"):
        read_split("someone/some_dataset", "train")


def test_hub_datasets_keep_their_class_labels_and_drop_unlabelled_columns(monkeypatch):
    import datasets

    from conftest import hub_like

    hub = hub_like()
    asked = []
    monkeypatch.setattr(datasets, "load_dataset", lambda name, config, split: asked.append((name, split)) or hub)
    ds = read_split("someone/mrpc:dev", "validation")
    assert asked == [("someone/mrpc", "dev")]
    assert ds["label"] == [1, 0, -1] and ds.features == hub.features  # ids and names, for the adapters
    unlabelled = hub.select([2, 2])  # GLUE's test splits: -1 in every row -> no label column, predicted only
    monkeypatch.setattr(datasets, "load_dataset", lambda name, config, split: unlabelled)
    assert read_split("someone/mrpc:test", "test").column_names == ["sentence", "ner_tags"]


def test_json_records_under_data_are_read(tmp_path):
    # {"version": ..., "data": [records]} as the example scripts read it (load_dataset(..., field="data")):
    # before, one row with the columns 'version' and 'data'
    (tmp_path / "d.json").write_text('{"version": "1.0", "data": [{"text": "a", "label": 1}, {"text": "b", "label": 0}]}',
                                     encoding="utf-8")
    ds = read_split(str(tmp_path / "d.json"), "train")
    assert ds["text"] == ["a", "b"] and ds["label"] == [1, 0]
    (tmp_path / "rows.jsonl").write_text('{"text": "a", "data": [{"x": 1}]}\n{"text": "b", "data": [{"x": 2}]}\n',
                                         encoding="utf-8")
    assert read_split(str(tmp_path / "rows.jsonl"), "train")["text"] == ["a", "b"]  # JSON lines: rows, as before


def test_pandas_json_layouts_are_read_as_rows(tmp_path):
    # df.to_json()'s default (columns of index -> value) and orient="split": before, one row holding the columns
    import pandas as pd

    df = pd.DataFrame({"text": ["a", "b", "c"], "label": [1, 0, 1]}, index=[2, 0, 1])
    df.to_json(tmp_path / "cols.json")
    df.to_json(tmp_path / "split.json", orient="split")
    df.to_json(tmp_path / "noindex.json", orient="split", index=False)
    df.to_json(tmp_path / "index.json", orient="index")  # before: "Expected bytes, got a 'int' object"
    (tmp_path / "rows.json").write_text('[{"text": "d", "label": 0}]', encoding="utf-8")
    for name in ("cols.json", "split.json", "noindex.json", "index.json"):
        ds = read_split(str(tmp_path / name), "train")
        assert ds["text"] == ["a", "b", "c"] and ds["label"] == [1, 0, 1], name  # the frame's row order
    both = read_split([str(tmp_path / "cols.json"), str(tmp_path / "rows.json")], "train")
    assert both["text"] == ["a", "b", "c", "d"]
    pd.DataFrame({"text": [], "label": []}).to_json(tmp_path / "empty.json")
    with pytest.raises(UserError, match=r"train: the split is empty \(0 rows\) in .*empty.json"):
        read_split(str(tmp_path / "empty.json"), "train")
    # a single record is not a table: a nested dict, or a column of another kind, keeps it a record
    from bert_tasks.data import pandas_records

    assert pandas_records('{"text": "a", "answers": {"text": ["x"], "answer_start": [0]}}') is None
    assert pandas_records('{"tokens": ["EU"], "tags": ["S-ORG"]}') is None
    assert pandas_records('{"a": {"0": {"x": 1}}}') is None
    numbered = pd.DataFrame({0: ["a", "b"], 1: [1, 0]})  # integer column names and index: the default layout
    assert pandas_records(numbered.to_json()) == [{"0": "a", "1": 1}, {"0": "b", "1": 0}]


def test_parquet_files_are_read_with_their_label_names(tmp_path):
    # before: "not UTF-8 text (byte offset ...)"
    from datasets import ClassLabel, Dataset, Features, Value

    features = Features({"sentence": Value("string"), "label": ClassLabel(names=["negative", "positive"])})
    Dataset.from_dict({"sentence": ["a", "b"], "label": [1, 0]}, features=features).to_parquet(tmp_path / "t.parquet")
    ds = read_split(str(tmp_path / "t.parquet"), "train")
    assert ds["sentence"] == ["a", "b"] and ds["label"] == [1, 0] and ds.features["label"].names == ["negative", "positive"]
    Dataset.from_dict({"sentence": [], "label": []}, features=features).to_parquet(tmp_path / "e.parquet")
    with pytest.raises(UserError, match=r"data.train: the split is empty \(0 rows\) in .*e.parquet"):
        read_split(str(tmp_path / "e.parquet"), "train")
    (tmp_path / "bad.parquet").write_text("sentence,label\na,1\n", encoding="utf-8")
    with pytest.raises(UserError, match=r"data.train: could not read .*bad.parquet as parquet"):
        read_split(str(tmp_path / "bad.parquet"), "train")


def test_validation_held_out_of_train(tmp_path):
    (tmp_path / "t.tsv").write_text("text\tlabel\n" + "".join(f"s{i}\t{i % 2}\n" for i in range(100)), encoding="utf-8")
    cfg = DataConfig(train=str(tmp_path / "t.tsv"), validation_from_train=20)
    splits, sources = load_splits(cfg, seed=1)
    assert len(splits["train"]) == 80 and len(splits["validation"]) == 20
    assert not set(splits["train"]["text"]) & set(splits["validation"]["text"])
    again, _ = load_splits(cfg, seed=1)
    assert again["validation"]["text"] == splits["validation"]["text"]  # seeded
    assert "held out" in sources["validation"]
    frac, _ = load_splits(DataConfig(train=str(tmp_path / "t.tsv"), validation_from_train=0.1), seed=1)
    assert len(frac["validation"]) == 10
    with pytest.raises(UserError, match=r"either data.validation \(x.tsv\) or data.validation_from_train \(5\), not both; delete one "
                       r"\(on the command line: ~data.validation_from_train"):
        load_splits(DataConfig(train=str(tmp_path / "t.tsv"), validation="x.tsv", validation_from_train=5))
    for hold, says in ((-3, "give a number of rows"), (1.5, "or a fraction of train"), (1.0, "between 0 and 1"),
                       (100, "must leave rows in train [(]100 rows[)]"),
                       (0.001, "holds out no row of train's 100; give a larger one")):
        with pytest.raises(UserError, match=f"data.validation_from_train={hold}: .*{says}"):
            load_splits(DataConfig(train=str(tmp_path / "t.tsv"), validation_from_train=hold), seed=1)


def test_headerless_tsv_with_names(tmp_path):
    from bert_tasks.recipe import DataConfig

    (tmp_path / "g.tsv").write_text("I love it\t0,17\tid1\nmeh\t27\tid2\n", encoding="utf-8")
    ds = read_split(str(tmp_path / "g.tsv"), "train", DataConfig(header=False, column_names=["text", "labels", "id"]))
    assert ds["text"] == ["I love it", "meh"] and ds["labels"] == ["0,17", "27"]
    plain = read_split(str(tmp_path / "g.tsv"), "train", DataConfig(header=False))
    assert plain.column_names == ["column_1", "column_2", "column_3"]


def test_rows_with_the_wrong_number_of_fields(tmp_path):
    """A row with a field too many or too few is named by file and line, before pandas reads it.

    Left to pandas, a first row with an extra field made column 1 the index (every column shifted
    by one) and a short row was filled with empty values that trained as text.
    """
    cases = [
        ("a.tsv", "sentence\tlabel\ngood movie\t1\tx\nbad\t0\n", "a.tsv:2: 3 field.*header has 2 .a tab inside"),
        ("b.tsv", "sentence\tlabel\r\ngood\t1\r\n\r\nbad\r\n", "b.tsv:4: 1 field.*header has 2 .a field is missing"),
        ("c.csv", 'sentence,label\n"a, b",1\n"c\nd",0\ne, f,1\n', "c.csv:5: 3 field.*header has 2 .a comma inside"),
    ]
    for name, text, says in cases:
        (tmp_path / name).write_text(text, encoding="utf-8")
        with pytest.raises(UserError, match=f"data.train: .*{says}"):
            read_split(str(tmp_path / name), "train")
    # a csv whose header is one field holding tabs or semicolons: the file is separated by something else
    for sep, shown, fix in [("\t", r"\\t", "name it .tsv or set data.format=tsv"), (";", ";", "save it comma-separated")]:
        (tmp_path / "s.csv").write_text(f"sentence{sep}label\ngood{sep}1\n", encoding="utf-8")
        with pytest.raises(UserError, match=f"s.csv:1: one field .*; the file looks separated by '{shown}', not by "
                                            f"commas: {fix}"):
            read_split(str(tmp_path / "s.csv"), "train")
    # a header naming one column twice: before, pandas read the first as 'sentence' and the second as 'sentence.1'
    (tmp_path / "d.tsv").write_text("sentence\tsentence\tlabel\na\tb\t1\n", encoding="utf-8")
    with pytest.raises(UserError, match="d.tsv:1: the header names the column 'sentence' twice"):
        read_split(str(tmp_path / "d.tsv"), "train")
    # quoted commas and line breaks in a csv, and a BOM, are one field each
    (tmp_path / "ok.csv").write_text('\ufeffsentence,label\n"a, b",1\n"c\nd",0\n', encoding="utf-8")
    assert read_split(str(tmp_path / "ok.csv"), "train")["sentence"] == ["a, b", "c\nd"]
    # headerless: each row against data.column_names, or against the first row
    (tmp_path / "g.tsv").write_text("I love it\t0,17\tid1\nmeh\t27\n", encoding="utf-8")
    with pytest.raises(UserError, match="g.tsv:1: 3 field.*data.column_names names 2"):
        read_split(str(tmp_path / "g.tsv"), "train", DataConfig(header=False, column_names=["text", "labels"]))
    with pytest.raises(UserError, match="g.tsv:2: 2 field.*the first row has 3"):
        read_split(str(tmp_path / "g.tsv"), "train", DataConfig(header=False))


def test_glob_patterns_folders_and_home(tmp_path, monkeypatch):
    (tmp_path / "d").mkdir()
    for name, rows in [("t1.tsv", "a\t0\n"), ("t2.tsv", "b\t1\nc\t0\n")]:
        (tmp_path / "d" / name).write_text("text\tlabel\n" + rows, encoding="utf-8")
    assert read_split(str(tmp_path / "d" / "t*.tsv"), "train")["text"] == ["a", "b", "c"]  # sorted by name
    _, sources = load_splits(DataConfig(train=str(tmp_path / "d" / "t*.tsv")))
    assert sources["train"] == f"{tmp_path}/d/t1.tsv, {tmp_path}/d/t2.tsv"  # messages name the files matched
    with pytest.raises(UserError, match=r"data.train: no file matches .*x\*.tsv"):
        read_split(str(tmp_path / "d" / "x*.tsv"), "train")
    # a folder is named as one (before: "file not found"), with its files and a pattern to use
    with pytest.raises(UserError, match=r"data.train: .*/d is a folder \(it holds t1.tsv, t2.tsv\); name its files, "
                                        r"or a pattern such as .*/d/\*.tsv"):
        read_split(str(tmp_path / "d"), "train")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert len(read_split("~/d/t2.tsv", "train")) == 2


def test_conll_reader_and_column_errors(tmp_path):
    from bert_tasks.recipe import DataConfig

    path = tmp_path / "x.txt"
    path.write_text("-DOCSTART- -X- -X- O\n\nEU NNP B-NP B-ORG\nrejects VBZ B-VP O\n\nPeter NNP B-NP B-PER\n", encoding="utf-8")
    ds = read_split(str(path), "train", DataConfig(format="auto"))  # -DOCSTART- is sniffed as conll
    assert ds["tokens"] == [["EU", "rejects"], ["Peter"]]
    assert ds["tags"] == [["B-ORG", "O"], ["B-PER"]]
    assert ds["line"] == [3, 6]
    chunks = read_split(str(path), "train", DataConfig(format="conll", tag_column=2))
    assert chunks["tags"][0] == ["B-NP", "B-VP"]
    path.write_text("EU NNP B-ORG\nrejects O\n", encoding="utf-8")
    with pytest.raises(UserError, match=r"x.txt:2: 2 column\(s\), expected 3"):
        read_split(str(path), "train", DataConfig(format="conll"))
    (tmp_path / "zh.bmes").write_text("高\tB-NAME\n勇\tE-NAME\n", encoding="utf-8")
    assert read_split(str(tmp_path / "zh.bmes"), "train")["tokens"] == [["高", "勇"]]
    # a line with a token and no tag; with tabs in the file, a space does not split columns
    path.write_text("EU B-ORG\nrejects O\n\nPeter B-PER\nBlack\tI-PER\n", encoding="utf-8")
    with pytest.raises(UserError, match=r"x.txt:1: a token line needs a token and a tag, .* split on tabs only"):
        read_split(str(path), "train", DataConfig(format="conll"))
    # lines end at \n only: U+2028 or U+0085 inside a token stays in it
    path.write_text("a\u2028b\tO\nc\x85d\tB-PER\n", encoding="utf-8")
    assert read_split(str(path), "train", DataConfig(format="conll"))["tokens"] == [["a\u2028b", "c\x85d"]]


def test_validation_held_out_by_group(tmp_path):
    rows = "".join(f"q{i}\tart{i // 10}\n" for i in range(100))
    (tmp_path / "t.tsv").write_text("text\ttitle\n" + rows, encoding="utf-8")
    cfg = DataConfig(train=str(tmp_path / "t.tsv"), validation_from_train=0.2, validation_group="title")
    splits, sources = load_splits(cfg, seed=3)
    assert len(splits["validation"]) == 20
    assert not set(splits["train"]["title"]) & set(splits["validation"]["title"])
    assert "2 title groups" in sources["validation"]


def test_empty_files_are_named(tmp_path):
    (tmp_path / "e.tsv").write_text("text\tlabel\n", encoding="utf-8")
    (tmp_path / "e.json").write_text("", encoding="utf-8")
    for name in ("e.tsv", "e.json"):
        with pytest.raises(UserError, match=rf"data.validation: the split is empty \(0 rows\) in .*{name}"):
            read_split(str(tmp_path / name), "validation")


def test_one_line_json_is_not_empty(tmp_path):
    (tmp_path / "one.json").write_text('[{"text": "a", "label": 1}]', encoding="utf-8")
    assert len(read_split(str(tmp_path / "one.json"), "train")) == 1


def test_json_that_datasets_cannot_read_names_file_and_line(tmp_path):
    good = '{"text": "a", "label": 1}'
    cases = [  # file name, content -> message
        ("a.jsonl", f'{good}\n{{"text": "b", "label": 0\n{good}\n', r"a.jsonl:2: not a JSON record \(Expecting ','"),
        ("b.jsonl", f"{good}\n\n{good}\n[1, 2]\n", r"b.jsonl:4: each row must be a JSON object, got \[1, 2\]"),
        ("c.json", f"\n[{good}, 5]", r"c.json, record 2: each row must be a JSON object, got 5"),
        ("d.json", f"\n\n[{good},\n {good}", r"d.json: not a JSON list of records \(.*: line 4 column"),
    ]
    for name, text, says in cases:
        (tmp_path / name).write_text(text, encoding="utf-8")
        with pytest.raises(UserError, match=rf"^data.train: .*{says}"):
            read_split(str(tmp_path / name), "train")


def test_check_text_column(tmp_path):
    from datasets import Dataset

    from bert_tasks.data import check_text_column, read_files

    where = "train split (t.csv)"
    check_text_column(Dataset.from_dict({"s": ["a", ""]}), "s", where, "text")  # all str, empty included: fine
    with pytest.raises(UserError, match=r"^train split \(t.csv\), row 2: column 's' \(text\) must hold text, got null$"):
        check_text_column(Dataset.from_dict({"s": ["a", None, "c"]}), "s", where, "text")
    with pytest.raises(UserError, match=r"row 1: column 's' \(text_pair\) must hold text, got 1$"):
        check_text_column(Dataset.from_dict({"s": [1, 2]}), "s", where, "text_pair")
    # a JSON file of columns ({"s": [...], "label": [...]}) reads as one row of lists: the message says so
    path = tmp_path / "cols.json"
    path.write_text(json.dumps({"s": ["good film", "bad film"], "label": [1, 0]}), encoding="utf-8")
    with pytest.raises(UserError, match=r"row 1: column 's' \(text\) must hold text, got \['good film', 'bad film'\]; "
                       r"the split is one row whose 's' is a list of 2 texts, as a JSON file of columns "
                       r"\(\{\"s\": \[\.\.\.\], \.\.\.\}\) reads: write one object per row"):
        check_text_column(read_files([str(path)], "json", "data.train"), "s", where, "text")
    # a list in a text column of a split of several rows is not that case
    with pytest.raises(UserError, match=r"got \['x', 'y'\]$"):
        check_text_column(Dataset.from_dict({"s": [["x", "y"], ["z"]]}), "s", where, "text")


def squad_file(tmp_path, **changes):
    qa = {"id": "q1", "question": "What is the capital?", "answers": [{"text": "Paris", "answer_start": 0}]}
    para = {"context": "Paris is the capital of France.", "qas": [qa]}
    for key, value in changes.items():
        target = para if key == "context" else qa["answers"][0] if key in ("text", "answer_start") else qa
        if value is None:
            del target[key]
        else:
            target[key] = value
    path = tmp_path / "qa.json"
    path.write_text(json.dumps({"version": "1.1", "data": [{"title": "T", "paragraphs": [para]}]}), encoding="utf-8")
    return str(path)


def test_squad_json_rows_and_errors_naming_the_question(tmp_path):
    ds = read_split(squad_file(tmp_path), "train")
    assert ds[0]["answers"] == {"text": ["Paris"], "answer_start": [0]} and ds[0]["title"] == "T"
    place = r"qa.json: data\[0\].paragraphs\[0\].qas\[0\] \(id q1\)"
    for change, says in (({"context": None}, "no 'context' field"), ({"question": None}, "no 'question' field"),
                         ({"answer_start": None}, "no 'answer_start' field"),
                         ({"answer_start": "zero"}, "answers need a text and an integer answer_start")):
        with pytest.raises(UserError, match=f"{place}: {says}"):
            read_split(squad_file(tmp_path, **change), "train")


def test_a_split_read_from_a_train_file_is_warned_about(tmp_path, caplog):
    (tmp_path / "t.tsv").write_text("text\tlabel\na\t0\nb\t1\n", encoding="utf-8")
    (tmp_path / "v.tsv").write_text("text\tlabel\nc\t0\n", encoding="utf-8")
    with caplog.at_level("WARNING", logger="bert_tasks"):
        load_splits(DataConfig(train=str(tmp_path / "t.tsv"), validation=str(tmp_path / "v.tsv")))
        assert not caplog.records
        load_splits(DataConfig(train=str(tmp_path / "t.tsv"), test=[str(tmp_path / "v.tsv"), str(tmp_path / "*.tsv")]))
    said = (f"data.test reads {tmp_path.resolve() / 't.tsv'}, which data.train reads too: its metrics measure fit to "
            "the training data, not generalisation")
    assert [r.getMessage() for r in caplog.records] == [said]


def test_blank_texts_are_counted_in_a_warning(caplog):
    from datasets import Dataset

    from bert_tasks.data import check_text_column

    ds = Dataset.from_dict({"sentence": ["good", "", "bad", " \t"]})
    with caplog.at_level("WARNING", logger="bert_tasks"):
        check_text_column(ds, "sentence", "train split (t.tsv)", "text")
    assert "train split (t.tsv): 2 row(s) with a blank text in column 'sentence' (text), the first at row 2" in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING", logger="bert_tasks"):
        check_text_column(Dataset.from_dict({"sentence": ["good"]}), "sentence", "t", "text")
    assert not caplog.text


def test_looks_like_conll():
    from bert_tasks.data import looks_like_conll

    assert looks_like_conll("-DOCSTART- -X- -X- O\n\nEU NNP B-NP B-ORG\nrejects VBZ B-VP O\n")
    assert looks_like_conll("张 B-NAME\n三 E-NAME\n是 O\n\n")
    assert looks_like_conll("New York\tB-LOC\nis\tO\n")
    assert not looks_like_conll("Alice went to Paris .\nBob met Carol\n")
    assert not looks_like_conll("the film is O\nbut this one is not\n")  # one line ending in O is not enough
    assert not looks_like_conll("")


def test_conll_columns_beyond_the_line_are_named(tmp_path):
    from bert_tasks.data import read_conll

    path = tmp_path / "t.txt"
    path.write_text("-DOCSTART- -X- O\n\nEU NNP B-ORG\nrejects VBZ O\n", encoding="utf-8")
    assert read_conll([str(path)], "data.train", 0, -3)["tags"] == [["EU", "rejects"]]  # in range: -3 is column 0
    for key, args in (("tag_column", (0, 3)), ("token_column", (-4, -1))):
        # before: IndexError: list index out of range
        with pytest.raises(UserError, match=rf"t.txt:3: data.{key} -?\d is beyond the line's 3 columns \(0 to 2, or -1"):
            read_conll([str(path)], "data.train", *args)


def test_text_format_reads_one_text_per_line(tmp_path):
    from bert_tasks.data import read_files

    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\ufeffFirst line, with a comma.\n\n  \nsecond\tline with a tab\r\nthird\n", encoding="utf-8")
    ds = read_files([str(corpus)], "text", "data.train")
    assert ds.column_names == ["text"]
    assert ds["text"] == ["First line, with a comma.", "second\tline with a tab", "third"]


def test_a_txt_file_sniffed_as_csv_names_the_text_format(tmp_path):
    from bert_tasks.data import read_files

    corpus = tmp_path / "corpus.txt"
    corpus.write_text("a sentence\nanother one, with a comma\n", encoding="utf-8")
    with pytest.raises(UserError, match=r"corpus.txt:2: 2 field\(s\).*one text per line is data.format=text"):
        read_files([str(corpus)], "auto", "data.train")


def test_json_rows_written_as_lists_are_an_error_naming_the_record(tmp_path):
    # pandas' orient="values": before, one column 'text' holding lists, then "no column 'sentence'"
    import pandas as pd

    pd.DataFrame({"sentence": ["a film", "dull"], "label": [1, 0]}).to_json(tmp_path / "values.json", orient="values")
    with pytest.raises(UserError, match=r"^data.train: .*values.json, record 1: a JSON list, not an object naming its "
                                        r"columns; write each row as \{\"text\": \.\.\., \"label\": \.\.\.\}"):
        read_split(str(tmp_path / "values.json"), "train")
    (tmp_path / "lists.jsonl").write_text('\n\n["a film", 1]\n["dull", 0]\n', encoding="utf-8")
    with pytest.raises(UserError, match=r"lists.jsonl:3: a JSON list"):
        read_split(str(tmp_path / "lists.jsonl"), "train")
    (tmp_path / "texts.json").write_text('["a film", "dull"]', encoding="utf-8")  # strings: one text column, as before
    assert read_split(str(tmp_path / "texts.json"), "train")["text"] == ["a film", "dull"]


@pytest.mark.parametrize("suffix", [".gz", ".bz2", ".xz"])
def test_compressed_files_are_read_as_what_they_hold(tmp_path, suffix):
    # before: "t.tsv.gz: not UTF-8 text (byte offset 1)"
    import bz2
    import gzip
    import lzma

    module = {".gz": gzip, ".bz2": bz2, ".xz": lzma}[suffix]

    def packed(name, text):
        path = tmp_path / (name + suffix)
        path.write_bytes(module.compress(text.encode("utf-8")))
        return str(path)

    assert file_format(packed("t.tsv", "sentence\tlabel\n"), "auto") == "tsv"
    tsv = read_split(packed("t.tsv", '\ufeffsentence\tlabel\r\n"good\t1\nbad\t0\n'), "train")
    assert tsv.column_names == ["sentence", "label"] and tsv["sentence"] == ['"good', "bad"]
    assert read_split(packed("a.csv", 'text,label\n"a, b",1\n'), "train")["text"] == ["a, b"]
    assert read_split(packed("a.jsonl", '{"text": "x", "label": 1}\n'), "train")["label"] == [1]
    assert read_split(packed("u.txt", "text\tlabel\nx\t1\n"), "train")["text"] == ["x"]  # sniffed: tab-separated
    tags = read_split(packed("n.conll", "EU\tB-ORG\nrejects\tO\n\nPeter\tS-PER\n"), "train")
    assert tags["tokens"] == [["EU", "rejects"], ["Peter"]] and tags["tags"] == [["B-ORG", "O"], ["S-PER"]]
    squad = {"data": [{"title": "t", "paragraphs": [{"context": "Paris is big.", "qas": [
        {"id": "q1", "question": "What is big?", "answers": [{"text": "Paris", "answer_start": 0}]}]}]}]}
    assert read_split(packed("s.json", json.dumps(squad)), "train")["answers"] == [{"text": ["Paris"], "answer_start": [0]}]
    # a field count is checked in what the file holds, with its line number
    with pytest.raises(UserError, match=rf"b.tsv{re.escape(suffix)}:3: 3 field\(s\), but the header has 2"):
        read_split(packed("b.tsv", "sentence\tlabel\nx\t1\ny\t0\tz\n"), "train")
    broken = tmp_path / ("broken.tsv" + suffix)
    broken.write_bytes(module.compress(b"sentence\tlabel\nx\t1\n")[:-6])
    with pytest.raises(UserError, match=rf"broken.tsv{re.escape(suffix)}: could not decompress it as {re.escape(suffix)}"):
        read_split(str(broken), "train")


def test_a_compressed_file_without_its_suffix_is_named(tmp_path):
    # before: "not UTF-8 text (byte offset 1); convert it, e.g. iconv -t utf-8"
    import gzip

    (tmp_path / "t.tsv").write_bytes(gzip.compress(b"sentence\tlabel\nx\t1\n"))
    with pytest.raises(UserError, match=r"t.tsv: the file is gzip-compressed; name it t.tsv.gz \(it is then "
                                        r"decompressed as it is read\), or decompress it"):
        read_split(str(tmp_path / "t.tsv"), "train")


def test_binary_files_are_named_for_what_they_are(tmp_path):
    # before: "not UTF-8 text (byte offset 12); convert it, e.g. iconv -t utf-8"
    import zipfile

    import pandas as pd

    with zipfile.ZipFile(tmp_path / "sheet.xlsx", "w") as z:
        z.writestr("xl/workbook.xml", "<workbook/>")
    with pytest.raises(UserError, match=r"sheet.xlsx: the file is a zip archive \(an Excel .xlsx workbook is one\), "
                                        r"not text: save the sheet as .csv"):
        read_split(str(tmp_path / "sheet.xlsx"), "train")
    pd.DataFrame({"text": ["a"], "label": [1]}).to_parquet(tmp_path / "t.csv")
    with pytest.raises(UserError, match=r"t.csv: the file is parquet; name it t.parquet"):
        read_split(str(tmp_path / "t.csv"), "train")


@pytest.fixture
def served(tmp_path, monkeypatch):
    """Files under tmp_path/www served over http on localhost, datasets online with its download cache in tmp_path."""
    import functools
    import http.server
    import threading

    from datasets import config

    www = tmp_path / "www"
    www.mkdir()
    class Handler(http.server.SimpleHTTPRequestHandler):
        def end_headers(self):  # as most servers do: datasets then names its copy by the ETag too
            self.send_header("ETag", '"v1"')
            super().end_headers()

        def log_message(self, *args):
            pass

    handler = functools.partial(Handler, directory=str(www))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setattr(config, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(config, "DOWNLOADED_DATASETS_PATH", tmp_path / "downloads")
    yield www, f"http://127.0.0.1:{server.server_address[1]}", server
    server.shutdown()
    server.server_close()


def test_files_at_a_url_are_downloaded_and_named_by_their_url(served, monkeypatch, caplog):
    # before: "data.train: file not found: https://... (a relative path in a recipe file is read beside that file ...)"
    from datasets import config

    www, base, server = served
    (www / "t.tsv").write_text("sentence\tlabel\ngood\t1\nbad\t0\n", encoding="utf-8")
    (www / "b.tsv").write_text("sentence\tlabel\ngood\t1\tx\n", encoding="utf-8")
    ds = read_split(f"{base}/t.tsv?raw=true", "train")  # a query is no glob pattern
    assert ds["sentence"] == ["good", "bad"] and ds["label"] == ["1", "0"]
    with caplog.at_level("WARNING", logger="bert_tasks"):  # one URL for two splits is said as one file is
        load_splits(DataConfig(train=f"{base}/t.tsv", validation=f"{base}/t.tsv"))
    assert f"data.validation reads {base}/t.tsv, which data.train reads too" in caplog.text
    with pytest.raises(UserError, match=rf"data.train: {re.escape(base)}/b.tsv:2: 3 field\(s\), but the header has 2"):
        read_split(f"{base}/b.tsv", "train")  # the URL named, not the local copy
    with pytest.raises(UserError, match=rf"data.train: could not download {re.escape(base)}/missing.tsv "
                                        r"\(ClientResponseError: 404, message='File not found'"):
        read_split(f"{base}/missing.tsv", "train")
    server.shutdown()  # offline, the copy downloaded before is read; a file never downloaded is named
    monkeypatch.setattr(config, "HF_HUB_OFFLINE", True)
    assert read_split(f"{base}/t.tsv?raw=true", "train")["sentence"] == ["good", "bad"]
    with pytest.raises(UserError, match=r"cannot be downloaded in offline mode \(HF_HUB_OFFLINE\) and was not "
                                        r"downloaded before; download it while online, or point data.train at a local"):
        read_split(f"{base}/other.tsv", "train")


def test_a_dataset_saved_to_disk_is_read_by_its_folder(tmp_path):
    # before: "data.train: .../saved is a folder (it holds data-00000-of-00001.arrow, ...); name its files"
    from datasets import ClassLabel, Dataset, DatasetDict, Features, Value

    features = Features({"sentence": Value("string"), "label": ClassLabel(names=["negative", "positive"])})
    train = Dataset.from_dict({"sentence": ["good", "bad"], "label": [1, 0]}, features=features)
    test = Dataset.from_dict({"sentence": ["fine"], "label": [-1]}, features=features)  # unlabelled, as GLUE's
    train.save_to_disk(str(tmp_path / "one"))
    DatasetDict({"train": train, "test": test}).save_to_disk(str(tmp_path / "both"))
    one = read_split(str(tmp_path / "one"), "train")
    assert one["sentence"] == ["good", "bad"] and one.features["label"].names == ["negative", "positive"]
    assert read_split(str(tmp_path / "both"), "train")["label"] == [1, 0]  # a DatasetDict: the split of that name
    assert read_split(str(tmp_path / "both" / "test"), "validation").column_names == ["sentence"]  # -1 only: dropped
    with pytest.raises(UserError, match=r"data.validation: .*both holds the splits train, test, not validation; "
                                        r"name the folder of the one to read, e.g. .*both/train"):
        read_split(str(tmp_path / "both"), "validation")
    with pytest.raises(UserError, match=r"one is a dataset saved by save_to_disk: name it alone"):
        read_split([str(tmp_path / "one"), str(tmp_path / "one")], "train")
    splits, sources = load_splits(DataConfig(train=str(tmp_path / "one"), validation=str(tmp_path / "both/test")))
    assert len(splits["train"]) == 2 and sources["train"] == str(tmp_path / "one")
