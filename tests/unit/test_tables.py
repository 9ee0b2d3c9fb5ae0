"""Splits given from Python as tables held in memory: DataFrames, Datasets, row dicts, column dicts."""

import json
from pathlib import Path

import datasets
import pandas as pd
import pytest
import yaml

from bert_tasks import build_trainer, dry_run, evaluate_run, load_recipe, train
from bert_tasks.errors import UserError
from bert_tasks.tables import describe, is_table, save_tables, to_dataset
from conftest import SAMPLES, run_cli

DEV = pd.read_csv(SAMPLES / "sst2" / "dev.tsv", sep="\t")


def test_what_is_a_table():
    assert is_table(DEV) and is_table(datasets.Dataset.from_pandas(DEV))
    assert is_table([{"text": "a", "label": 0}]) and is_table({"text": ["a"], "label": [0]})
    assert is_table({"text": DEV.sentence.values, "label": DEV.label})  # numpy arrays and Series as columns
    for not_one in ("a.tsv", ["a.tsv", "b.tsv"], [], {}, None, {"text": "a"}):
        assert not is_table(not_one), not_one


def test_describe_and_read():
    assert describe(DEV) == "a pandas DataFrame of 872 rows"
    assert describe([{"text": "a"}] * 3) == "a list of 3 row dicts"
    assert describe({"text": ["a", "b"], "label": [0, 1]}) == "a dict of columns (text, label) of 2 rows"
    ds = to_dataset(DEV.set_index("sentence"), "data.train")  # the index is not a column
    assert ds.column_names == ["label"]
    rows = to_dataset([{"text": "a", "label": 1}, {"text": "b", "extra": 2}], "data.train")  # every row's keys
    assert rows.column_names == ["text", "label", "extra"] and rows["label"] == [1, None]
    assert to_dataset({1: ["x"]}, "data.train").column_names == ["1"]
    columns = to_dataset({"text": DEV.sentence.values[:3], "label": DEV.label[:3]}, "data.train")
    assert columns["text"] == list(DEV.sentence[:3]) and columns["label"] == list(DEV.label[:3])


@pytest.mark.parametrize(
    "value, message",
    [
        ([{"text": "a", "label": 0}, {"text": "b", "label": "x"}], "column 'label' mixes int (row 1) and str (row 2)"),
        ({"text": ["a", "b"], "label": [0]}, "the columns have text: 2, label: 1 values"),
    ],
)
def test_unreadable_tables_say_what_and_where(value, message):
    with pytest.raises(UserError, match="data.train") as e:
        to_dataset(value, "data.train")
    assert message in str(e.value)


@pytest.mark.parametrize(
    "value, message",
    [
        (datasets.DatasetDict({"train": datasets.Dataset.from_pandas(DEV)}), "give one of them, e.g. data.train = dataset['train']"),
        (DEV.sentence, "a pandas Series is one column"),
        (5, "data.train is of type int; give a path"),
    ],
)
def test_values_that_are_no_split_are_refused(value, message):
    recipe = load_recipe("sst2")
    recipe.data.train = value
    with pytest.raises(UserError) as e:
        load_recipe(recipe)
    assert message in str(e.value)


def test_a_path_object_is_a_path():
    recipe = load_recipe("sst2")
    recipe.data.train, recipe.data.validation = SAMPLES / "sst2" / "train.tsv", [SAMPLES / "sst2" / "dev.tsv"]
    recipe.data.test = ("a.tsv", SAMPLES / "b.tsv")
    again = load_recipe(recipe)
    assert again.data.train == str(SAMPLES / "sst2" / "train.tsv")
    assert again.data.validation == [str(SAMPLES / "sst2" / "dev.tsv")]
    assert again.data.test == ["a.tsv", str(SAMPLES / "b.tsv")]


def test_a_table_is_shared_not_copied_and_described_in_yaml():
    recipe = load_recipe("sst2")
    recipe.data.validation = DEV
    again = load_recipe(recipe, ["train.max_steps=3"])
    assert again.data.validation is DEV
    assert again.to_dict()["data"]["validation"] == "<in memory: a pandas DataFrame of 872 rows>"
    assert yaml.safe_load(again.to_yaml())["data"]["validation"] == "<in memory: a pandas DataFrame of 872 rows>"


def test_split_errors_name_the_table(tiny_encoder):
    recipe = load_recipe("sst2", [f"encoder={tiny_encoder}"])
    recipe.data.validation = DEV.assign(label=2)
    with pytest.raises(UserError, match=r"validation split \(a pandas DataFrame of 872 rows\), row 1: label '2'"):
        dry_run(recipe)
    recipe.data.validation = DEV.rename(columns={"sentence": "text"})
    with pytest.raises(UserError, match=r"no column 'sentence' for role 'text'"):
        dry_run(recipe)


def test_save_tables_writes_parquet_and_names_it(tmp_path):
    recipe = load_recipe("sst2")
    recipe.data.validation = DEV.head(5)
    save_tables(recipe.data, tmp_path)
    path = tmp_path / "data" / "validation.parquet"
    assert recipe.data.validation == str(path.resolve()) and recipe.data.train.endswith("train.tsv")
    assert datasets.Dataset.from_parquet(str(path))["sentence"] == list(DEV.head(5).sentence)
    assert [p.name for p in (tmp_path / "data").iterdir()] == ["validation.parquet"]  # no temporary file left


def test_training_on_tables_matches_the_same_files(tiny_encoder, tmp_path):
    """A DataFrame and row dicts train and score as the files they came from; the run keeps them as
    parquet files named in its recipe.yaml, and that recipe runs again from the command line."""
    train_rows = pd.read_csv(SAMPLES / "sst2" / "train.tsv", sep="\t").head(200)
    base = [f"encoder={tiny_encoder}", "train.max_steps=4", "train.per_device_train_batch_size=8"]
    files = tmp_path / "files.tsv"
    train_rows.to_csv(files, sep="\t", index=False)
    _, from_files = train("sst2", [*base, f"data.train={files}", f"train.output_dir={tmp_path / 'a'}"])

    recipe = load_recipe("sst2", [*base, f"train.output_dir={tmp_path / 'b'}"])
    recipe.data.train, recipe.data.validation = train_rows, DEV.to_dict("records")
    run, from_tables = train(recipe)
    assert recipe.data.train is train_rows  # the caller's recipe is left as it was
    assert from_tables["validation"]["confusion_matrix"] == from_files["validation"]["confusion_matrix"]
    for key in ("loss", "accuracy"):
        assert from_tables["validation"][key] == pytest.approx(from_files["validation"][key]), key

    saved = yaml.safe_load((Path(run) / "recipe.yaml").read_text())["data"]
    assert saved["train"] == str((Path(run) / "data" / "train.parquet").resolve())
    assert saved["validation"] == str((Path(run) / "data" / "validation.parquet").resolve())
    again = tmp_path / "c"
    result = run_cli(str(Path(run) / "recipe.yaml"), f"train.output_dir={again}")
    assert result.returncode == 0, result.stderr
    rerun = json.loads((again / "metrics.json").read_text())["validation"]
    assert rerun["accuracy"] == pytest.approx(from_tables["validation"]["accuracy"])

    folder, metrics = evaluate_run(run, DEV)
    assert Path(folder).name == "table"
    assert metrics["test"]["accuracy"] == pytest.approx(from_tables["validation"]["accuracy"])
    marker = json.loads((Path(folder) / "evaluation.json").read_text())["data"]
    assert marker.startswith("<in memory: a pandas DataFrame of 872 rows, fingerprint ")
    assert evaluate_run(run, DEV.copy())[0] == folder  # the same content: its evaluation is replaced
    assert Path(evaluate_run(run, DEV.head(100))[0]).name == "table-2"  # other content: a folder of its own


def test_resuming_with_the_same_table_is_no_other_data(tiny_encoder, tmp_path, caplog):
    # the checkpoint's recipe.yaml names data/train.parquet; the table given again is not taken for other data
    rows = pd.read_csv(SAMPLES / "sst2" / "train.tsv", sep="\t").head(64)
    base = [f"encoder={tiny_encoder}", "train.max_steps=4", "train.save_steps=2", "train.eval_strategy=no",
            "~data.validation", "train.per_device_train_batch_size=8", f"train.output_dir={tmp_path / 'run'}"]
    recipe = load_recipe("sst2", base)
    recipe.data.train = rows
    trainer = build_trainer(recipe)
    trainer.args.max_steps = 2  # stop after the first checkpoint
    trainer.train()
    saved = yaml.safe_load((tmp_path / "run" / "checkpoint-2" / "recipe.yaml").read_text())["data"]["train"]
    assert saved == str((tmp_path / "run" / "data" / "train.parquet").resolve())
    recipe = load_recipe("sst2", [*base, "train.resume_from_checkpoint=auto"])
    recipe.data.train = rows
    caplog.clear()
    train(recipe)
    assert "other data" not in caplog.text
    assert json.loads((tmp_path / "run" / "trainer_state.json").read_text())["global_step"] == 4
