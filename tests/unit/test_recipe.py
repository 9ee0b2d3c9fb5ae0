import os
import re

import pytest

from bert_tasks.errors import UserError
from bert_tasks.recipe import apply_overrides, list_recipes, load_recipe, load_yaml, parse_override


def write(tmp_path, text, name="r.yaml"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


BASIC = """
task: {name: classification}
encoder: embedded
data: {train: train.tsv}
train: {output_dir: out, learning_rate: 5e-5}
"""


def test_shipped_recipes_load_and_are_listed():
    names = [n for n, _ in list_recipes()]
    assert {"sst2", "mrpc"} <= set(names)
    for name in names:
        recipe = load_recipe(name)
        assert recipe.task.name
        assert recipe.train["output_dir"]
    summaries = dict(list_recipes())
    assert "SST-2" in summaries["sst2"]


def test_a_recipe_path_may_start_with_a_tilde(tmp_path, monkeypatch):
    # before: load_recipe("~/r.yaml") from Python said "no recipe file '~/r.yaml'"
    write(tmp_path, BASIC)
    monkeypatch.setenv("HOME", str(tmp_path))
    recipe = load_recipe("~/r.yaml")
    assert recipe.source == str(tmp_path / "r.yaml")


def test_yaml_float_string_is_coerced(tmp_path):
    recipe = load_recipe(write(tmp_path, BASIC))
    assert recipe.train["learning_rate"] == pytest.approx(5e-5)
    assert isinstance(recipe.train["learning_rate"], float)


def test_dotted_overrides_and_delete(tmp_path):
    path = write(tmp_path, BASIC)
    recipe = load_recipe(path, ["train.max_steps=7", "data.columns.text=sentence", "~train.learning_rate"])
    assert recipe.train["max_steps"] == 7
    assert recipe.data.columns == {"text": "sentence"}
    assert "learning_rate" not in recipe.train
    assert load_recipe(path, ["encoder=some/model"]).encoder == "some/model"


def test_file_may_leave_encoder_and_task_name_to_the_command_line(tmp_path):
    # before: "r.yaml: 'encoder' must be a hub id, ..., got None" with encoder=... given
    path = write(tmp_path, BASIC.replace("encoder: embedded\n", ""))
    assert load_recipe(path, ["encoder=some/model"]).encoder == "some/model"
    empty = write(tmp_path, BASIC.replace("encoder: embedded", "encoder:"), "e.yaml")  # a template's blank
    assert load_recipe(empty, ["encoder=some/model"]).encoder == "some/model"
    with pytest.raises(UserError, match=r"r.yaml: no 'encoder' given: .*on the command line \(encoder=...\)"):
        load_recipe(path)
    no_name = write(tmp_path, BASIC.replace("{name: classification}", "{labels: [a, b]}"), "n.yaml")
    assert load_recipe(no_name, ["task.name=classification"]).task.labels == ["a", "b"]
    with pytest.raises(UserError, match=r"n.yaml: unknown key 'task.labels'"):  # the file's options, judged by that task
        load_recipe(no_name, ["task.name=tagging"])
    no_task = write(tmp_path, BASIC.replace("task: {name: classification}\n", ""), "t.yaml")
    assert load_recipe(no_task, ["task.name=classification"]).task.name == "classification"
    with pytest.raises(UserError, match=r"command line: unknown key 'train.foo'"):  # the file alone is fine
        load_recipe(path, ["encoder=x", "train.foo=1"])


def test_deleting_a_key_the_recipe_lacks_is_an_error(tmp_path):
    path = write(tmp_path, BASIC)  # a misspelt ~key would otherwise do nothing, silently
    with pytest.raises(UserError, match=r"override '~data.tset': the recipe has no 'data.tset' to delete; "
                                        r"its keys of 'data': train"):
        load_recipe(path, ["~data.tset"])
    with pytest.raises(UserError, match="no 'nosuch' to delete; its sections: task, encoder, data, train"):
        load_recipe(path, ["~nosuch.key"])
    with pytest.raises(UserError, match="override '~encoder.x': 'encoder' is not a mapping"):
        load_recipe(path, ["~encoder.x"])


def test_overrides_into_the_task_shorthand(tmp_path):
    path = write(tmp_path, BASIC.replace("task: {name: classification}", "task: classification"))
    assert load_recipe(path, ["task.pooler=identity"]).task.pooler == "identity"


def test_one_column_for_two_roles_is_an_error(tmp_path):
    path = write(tmp_path, BASIC)  # before: a KeyError while tokenizing (the text column was renamed away)
    with pytest.raises(UserError, match="data.columns gives column 'sentence' to both 'text' and 'text_pair'"):
        load_recipe(path, ["data.columns.text=sentence", "data.columns.text_pair=sentence"])
    with pytest.raises(UserError, match="gives column 'label' to both 'text' and 'label'"):
        load_recipe(path, ["data.columns.text=label"])
    assert load_recipe(path, ["data.columns.text=label", "data.columns.label=y"]).data.columns["text"] == "label"


def test_a_column_must_be_named(tmp_path):
    path = write(tmp_path, BASIC)  # before: "TypeError: 'NoneType' object is not iterable" while reading the data
    for value, shown in (("", "None"), ("' '", "' '"), ("[a, b]", r"\['a', 'b'\]"), ("true", "True")):
        with pytest.raises(UserError, match=rf"data.columns.text must name a column of the data, got {shown}; "
                                            r"delete it \(~data.columns.text\) to read the column 'text'"):
            load_recipe(path, [f"data.columns.text={value}"])
    assert load_recipe(path, ["data.columns.label=2"]).data.columns["label"] == "2"  # a csv header '2' is text


def test_parse_override_values():
    assert parse_override("a.b=1") == (["a", "b"], 1, False)
    assert parse_override("a=true") == (["a"], True, False)
    assert parse_override("a=x y") == (["a"], "x y", False)
    assert parse_override("~a.b") == (["a", "b"], None, True)
    with pytest.raises(UserError, match="key=value"):
        parse_override("novalue")
    # before: "unknown key 'train.'" and the list of every TrainingArguments field
    for text, key in [("train..seed=1", "train..seed"), ("train.=1", "train."), ("~.seed", ".seed")]:
        with pytest.raises(UserError, match=rf"override '{re.escape(text)}': the key '{re.escape(key)}' has an empty part"):
            parse_override(text)
    # text that is no YAML stays text, but a broken list or mapping says why (before: "expects list, got str")
    assert parse_override("data.train=@x") == (["data", "train"], "@x", False)
    with pytest.raises(UserError, match=r"override 'task.labels=\[a, b': malformed YAML list: expected ',' or '\]'"):
        parse_override("task.labels=[a, b")
    with pytest.raises(UserError, match=r"malformed YAML mapping: key 1.0 appears twice"):
        parse_override("task.labels={1: a, 1.0: b}")


def test_override_names_a_labels_key_that_yaml_read_as_a_number():
    raw = load_yaml("task: {name: classification, labels: {0: negative, 1: positive}}")
    # before: task.labels.0=neg added a key '0' beside 0, so the model had three labels
    out = apply_overrides(raw, ["task.labels.0=neg", "task.labels.2=neutral", "~task.labels.1"])
    assert out["task"]["labels"] == {0: "neg", 2: "neutral"}
    assert list(map(type, out["task"]["labels"])) == [int, int]
    raw = load_yaml("task: {name: classification, labels: {true: yes, false: no}}")
    assert apply_overrides(raw, ["task.labels.True=y"])["task"]["labels"] == {True: "y", False: "no"}
    out = apply_overrides({"train": {}}, ["train.seed=1"])  # text keys stay text
    assert out == {"train": {"seed": 1}}


def test_apply_overrides_does_not_mutate():
    raw = {"train": {"a": 1}}
    out = apply_overrides(raw, ["train.a=2"])
    assert raw == {"train": {"a": 1}} and out == {"train": {"a": 2}}


@pytest.mark.parametrize(
    "override, message",
    [
        ("trian.max_steps=1", "unknown key 'trian' (did you mean 'train'?)"),
        ("train.learnin_rate=1", "unknown key 'train.learnin_rate' (did you mean 'learning_rate'?)"),
        ("data.valdation=x", "unknown key 'data.valdation' (did you mean 'validation'?)"),
        ("task.lables=[a]", "unknown key 'task.lables' (did you mean 'labels'?)"),
        ("data.columns.txt=s", "unknown key 'data.columns.txt' (did you mean 'text'?)"),
        ("task.name=clasification", "unknown task.name 'clasification' (did you mean 'classification'?)"),
        # transformers 4 names and shorthands say what to write (difflib offered output_dir, auto_find_batch_size)
        ("train.group_by_length=true", ("'train.group_by_length': transformers 5 replaced it with "
                                       "train_sampling_strategy: group_by_length")),
        ("train.warmup_ratio=0.1", "a float below 1 is a ratio of the total steps (warmup_steps: 0.1)"),
        ("train.overwrite_output_dir=true", "the recipe's top-level key overwrite: true replaces a finished run"),
        ("train.batch_size=8", "'train.batch_size': write per_device_train_batch_size"),
        ("train.lr=1e-4", "'train.lr': write learning_rate"),
        # a long list of valid keys is not printed whole: its size, and the keys sharing a word with the typo
        ("train.save_everything=1", ("keys are valid (transformers.TrainingArguments' fields), among them "
                                    "save_on_each_node, save_only_model, save_steps")),
    ],
)
def test_unknown_keys_name_closest(tmp_path, override, message):
    with pytest.raises(UserError) as err:
        load_recipe(write(tmp_path, BASIC), [override])
    assert message in str(err.value)
    assert str(err.value).startswith("command line")


def test_unknown_key_in_file_names_file(tmp_path):
    path = write(tmp_path, BASIC + "\nencodr: x\n")
    with pytest.raises(UserError) as err:
        load_recipe(path)
    assert str(path) in str(err.value) and "did you mean 'encoder'" in str(err.value)


@pytest.mark.parametrize(
    "override, expected",
    [
        ("train.learning_rate=fast", "'train.learning_rate' expects float, got 'fast'"),
        ("train.max_steps=1.5", "'train.max_steps' expects int"),
        ("data.max_length=long", "'data.max_length' expects int"),
        ("train.fp16=maybe", "'train.fp16' expects bool"),
    ],
)
def test_wrong_types_name_key_and_type(tmp_path, override, expected):
    with pytest.raises(UserError, match=expected):
        load_recipe(write(tmp_path, BASIC), [override])


@pytest.mark.parametrize("override, section", [("learning_rate=1e-5", "train"), ("max_length=40", "data"),
                                               ("decode=argmax", "task")])
def test_a_section_key_given_at_the_top_names_its_section(override, section):
    # before: "unknown key 'learning_rate'; valid keys: data, encoder, layer_lr_decay, ..."
    key = override.split("=")[0]
    with pytest.raises(UserError, match=rf"unknown key '{key}' \(did you mean '{section}.{key}'\? "):
        load_recipe("conll2003", [override])


@pytest.mark.parametrize("override", ["train.overwrite=true", "task.layer_lr_decay=0.8",
                                      "data.trust_remote_code=true", "train.early_stopping_patience=2"])
def test_a_top_level_key_given_inside_a_section_names_the_top_level(override, tmp_path):
    # before: "unknown key 'train.overwrite'; 114 keys are valid (transformers.TrainingArguments' fields)"
    dotted = override.split("=")[0]
    section, key = dotted.split(".")
    with pytest.raises(UserError, match=rf"^command line: unknown key '{dotted}' \(did you mean '{key}'\? "
                                        rf"'{key}' is a top-level key of the recipe, beside {section}"):
        load_recipe(write(tmp_path, BASIC), [override])
    in_file = BASIC.replace("train: {", "train: {early_stopping_threshold: 0.1, ")
    with pytest.raises(UserError, match=r"r.yaml: unknown key 'train.early_stopping_threshold' \(did you mean"):
        load_recipe(write(tmp_path, in_file))


def test_a_wrong_item_type_names_the_item_type():
    # before: "expects list or None, got ['O', 3] (list)"
    with pytest.raises(UserError, match=r"'task.tag_names' expects list of str or None, got \['O', 3\] \(list\)"):
        load_recipe("conll2003", ["task.tag_names=[O, 3]"])


@pytest.mark.parametrize("value", [0, -5, 4])
def test_max_length_has_room_for_special_tokens(tmp_path, value):
    with pytest.raises(UserError, match=f"data.max_length must be at least 5 .*got {value}"):
        load_recipe(write(tmp_path, BASIC), [f"data.max_length={value}"])


@pytest.mark.parametrize(
    "override, minimum",
    [
        ("train.per_device_train_batch_size=0", 1),
        ("train.per_device_eval_batch_size=-1", 1),
        ("train.gradient_accumulation_steps=0", 1),
        ("train.learning_rate=-1e-5", 0),
        ("train.weight_decay=-0.01", 0),
    ],
)
def test_values_below_their_minimum_name_the_key(tmp_path, override, minimum):
    key = override.split("=")[0]
    with pytest.raises(UserError, match=f"'{key}' must be at least {minimum}, got -?[0-9.e-]+$"):
        load_recipe(write(tmp_path, BASIC), [override])


def test_output_dir_must_name_a_folder(tmp_path):
    path = write(tmp_path, BASIC)
    for value, got in (("", "null"), ("' '", "' '"), ("null", "null")):
        with pytest.raises(UserError, match=rf"'train.output_dir' must name a folder, got {got}; delete the key"):
            load_recipe(path, [f"train.output_dir={value}"])  # before: a bare TypeError once training began
    assert load_recipe(path, ["~train.output_dir"]).train["output_dir"] == os.path.join("runs", "r")


@pytest.mark.parametrize("key, expects", [("seed", "int"), ("learning_rate", "float"), ("num_train_epochs", "float"),
                                           ("per_device_train_batch_size", "int"), ("warmup_steps", "float")])
def test_null_for_a_training_argument_that_takes_none_is_an_error(tmp_path, key, expects):
    path = write(tmp_path, BASIC)
    with pytest.raises(UserError, match=rf"'train.{key}' cannot be null \(expects {expects}\); delete the key \(~train.{key}\)"):
        load_recipe(path, [f"train.{key}="])  # before: a bare TypeError inside transformers
    assert load_recipe(path, ["train.max_grad_norm=2", "train.eval_steps=null"]).train["eval_steps"] is None  # Optional


def test_a_run_of_no_training_steps_is_an_error(tmp_path):
    path = write(tmp_path, BASIC)
    for epochs in ("0", "-1"):
        with pytest.raises(UserError, match=f"'train.num_train_epochs' must be above 0, got {epochs}"):
            load_recipe(path, [f"train.num_train_epochs={epochs}"])
    with pytest.raises(UserError, match="'train.max_steps' is 0, which trains nothing"):
        load_recipe(path, ["train.max_steps=0"])
    assert load_recipe(path, ["train.num_train_epochs=0", "train.max_steps=5"]).train["max_steps"] == 5
    assert load_recipe(path, ["train.num_train_epochs=0.5"]).train["num_train_epochs"] == 0.5


def test_malformed_yaml_names_line_and_column(tmp_path):
    path = write(tmp_path, "task: {name: classification\nencoder: x\n")
    with pytest.raises(UserError) as err:
        load_recipe(path)
    assert f"{path}:2:8: malformed YAML" in str(err.value)


def test_a_key_given_twice_is_an_error_not_silently_dropped(tmp_path):
    path = write(tmp_path, BASIC + "train: {seed: 3}\n")  # a second train section would replace the first
    with pytest.raises(UserError, match=rf"{path}:6:1: malformed YAML: key 'train' appears twice in one mapping "
                                        r"\(first on line 5\)"):
        load_recipe(path)
    path = write(tmp_path, BASIC.replace("learning_rate: 5e-5", "learning_rate: 5e-5, learning_rate: 1e-4"))
    with pytest.raises(UserError, match="key 'learning_rate' appears twice"):
        load_recipe(path)
    # a YAML merge key (<<) is not a duplicate: the mapping's own key wins over the merged one
    assert load_yaml("b: &b {seed: 1, lr: 3}\nt: {<<: *b, seed: 2}\n")["t"] == {"seed": 2, "lr": 3}


def test_relative_paths_resolve_against_recipe_file(tmp_path):
    (tmp_path / "train.tsv").write_text("text\tlabel\n", encoding="utf-8")
    recipe = load_recipe(write(tmp_path, BASIC))
    assert recipe.data.train == str((tmp_path / "train.tsv").resolve())
    # a glob pattern too, when it matches beside the recipe
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "a.tsv").write_text("text\tlabel\n", encoding="utf-8")
    recipe = load_recipe(write(tmp_path, BASIC.replace("train.tsv", "d/*.tsv")))
    assert recipe.data.train == str((tmp_path / "d").resolve() / "*.tsv")


def test_toolkit_defaults_visible_and_overridable(tmp_path):
    recipe = load_recipe(write(tmp_path, BASIC))
    assert recipe.train["train_sampling_strategy"] == "group_by_length"
    assert recipe.train["eval_strategy"] == "no"  # no validation split
    assert recipe.train["average_tokens_across_devices"] is False  # a loss per row (see TaskTrainer.compute_loss)
    assert load_recipe("conll2003").train["average_tokens_across_devices"] is True  # a loss over tokens
    recipe = load_recipe(write(tmp_path, BASIC), ["data.validation=dev.tsv", "train.train_sampling_strategy=random"])
    assert recipe.train["eval_strategy"] == "epoch"
    assert recipe.train["train_sampling_strategy"] == "random"


def test_evaluation_without_validation_is_named(tmp_path):
    with pytest.raises(UserError, match=r"train.eval_strategy=epoch evaluates on data.validation, which is not set"):
        load_recipe(write(tmp_path, BASIC), ["train.eval_strategy=epoch"])
    assert load_recipe(write(tmp_path, BASIC), ["train.eval_strategy=no"]).train["eval_strategy"] == "no"
    recipe = load_recipe(write(tmp_path, BASIC), ["data.validation_from_train=2", "train.eval_strategy=steps"])
    assert recipe.train["eval_strategy"] == "steps"


def test_evaluation_and_saving_by_steps_go_together():
    from bert_tasks.training import training_arguments

    # mrpc loads the best checkpoint at the end, which needs saving and evaluation to match; before,
    # train.eval_strategy=steps met the toolkit's per-epoch saving in Trainer's error
    for overrides, steps in ((["train.eval_strategy=steps", "train.eval_steps=30"], 30),
                             (["train.eval_strategy=steps", "train.logging_steps=20"], 20),
                             (["train.save_strategy=steps", "train.save_steps=40"], 40),
                             (["train.save_strategy=steps"], 500)):
        recipe = load_recipe("mrpc", overrides)
        assert (recipe.train["eval_strategy"], recipe.train["save_strategy"]) == ("steps", "steps"), overrides
        assert recipe.train["eval_steps"] == recipe.train["save_steps"] == steps, overrides
        args = training_arguments(recipe)
        assert args.load_best_model_at_end and args.eval_steps == args.save_steps == steps
    recipe = load_recipe("mrpc", ["train.eval_strategy=steps", "train.save_strategy=epoch"])  # as given
    assert recipe.train["save_strategy"] == "epoch" and "save_steps" not in recipe.train
    recipe = load_recipe("mrpc", ["train.eval_strategy=no"])  # no evaluation to pick a checkpoint by
    assert recipe.train["load_best_model_at_end"] is False and training_arguments(recipe).save_strategy == "epoch"
    recipe = load_recipe("mrpc", ["train.save_strategy=no"])  # no checkpoint to pick
    assert recipe.train["load_best_model_at_end"] is False and training_arguments(recipe).eval_strategy == "epoch"
    assert load_recipe("mrpc", ["train.save_strategy=best"]).train["load_best_model_at_end"] is True
    recipe = load_recipe("sst2", ["~data.validation", "train.save_strategy=steps"])
    assert recipe.train["eval_strategy"] == "no"  # nothing to evaluate on
    recipe = load_recipe("sst2", ["train.eval_strategy=steps"])  # no best checkpoint loaded: as given
    assert recipe.train["save_strategy"] == "epoch" and "save_steps" not in recipe.train


def test_best_metric_default_comes_from_task(tmp_path):
    recipe = load_recipe(write(tmp_path, BASIC), ["train.load_best_model_at_end=true"])
    assert recipe.train["metric_for_best_model"] == "accuracy"


def test_unknown_recipe_name():
    with pytest.raises(UserError, match="did you mean 'sst2'"):
        load_recipe("sst3")


def test_wrong_argument_types_are_named():
    with pytest.raises(UserError, match=r"overrides must be a list of 'key=value' strings, e.g. \['train.seed=1'\]"):
        load_recipe("sst2", "train.seed=1")
    with pytest.raises(UserError, match=r"e.g. \['train.seed=1', 'encoder=embedded'\], not a dict"):
        load_recipe("sst2", {"train.seed": 1, "encoder": "embedded"})  # before: its keys read as overrides
    with pytest.raises(UserError, match=r"overrides\[1\] is 5 \(int\); each override is a 'key=value' string"):
        load_recipe("sst2", ["train.seed=1", 5])  # before: AttributeError
    with pytest.raises(UserError, match="a recipe is a shipped name, a YAML path, a mapping or a Recipe, got list"):
        load_recipe(["sst2"])
    assert load_recipe("sst2", ("train.seed=1",)).train["seed"] == 1  # any iterable of strings


def test_overrides_apply_to_a_recipe_object():
    recipe = load_recipe("sst2")
    assert load_recipe(recipe) == recipe  # checked again (a copy), the same recipe
    changed = load_recipe(recipe, ["train.seed=7", "~task.labels"])  # before: overrides of a Recipe were ignored
    assert changed.train["seed"] == 7 and changed.task.labels is None
    assert (changed.name, changed.source) == (recipe.name, recipe.source)
    assert recipe.train["seed"] == 42  # the given recipe is unchanged
    with pytest.raises(UserError, match="command line: unknown key 'train.sede'"):
        load_recipe(recipe, ["train.sede=7"])


def test_resolved_recipe_round_trips(tmp_path):
    import yaml

    recipe = load_recipe("mrpc", ["train.max_steps=3"])
    again = load_recipe(yaml.safe_load(recipe.to_yaml()))
    assert again.to_dict() == recipe.to_dict()


def test_yaml_no_is_a_string_not_false(tmp_path):
    recipe = load_recipe(write(tmp_path, BASIC + "\n"), ["train.eval_strategy=no", "train.save_strategy=no"])
    assert recipe.train["eval_strategy"] == "no" and recipe.train["save_strategy"] == "no"
    assert parse_override("a=false") == (["a"], False, False)
    assert parse_override("a=off") == (["a"], "off", False)


def test_trust_remote_code_is_off_unless_the_recipe_sets_it():
    from bert_tasks.encoder import remote_code

    recipe = load_recipe("sst2")
    assert recipe.trust_remote_code is False and recipe.to_dict()["trust_remote_code"] is False
    assert remote_code(recipe.trust_remote_code) == {}  # never passed to from_pretrained when off
    on = load_recipe("sst2", ["trust_remote_code=true"])
    assert on.trust_remote_code is True and remote_code(True) == {"trust_remote_code": True}
    with pytest.raises(UserError, match="trust_remote_code"):
        load_recipe("sst2", ["trust_remote_code=maybe"])


def test_early_stopping_keys_are_checked_at_load():
    recipe = load_recipe("sst2", ["early_stopping_patience=3"])
    assert recipe.early_stopping_patience == 3 and recipe.early_stopping_threshold == 0.0
    assert recipe.train["load_best_model_at_end"] is True and recipe.train["metric_for_best_model"] == "accuracy"
    assert load_recipe("sst2").early_stopping_patience is None
    for overrides, message in (
        (["early_stopping_patience=0"], "early_stopping_patience must be 1 or more evaluations, got 0"),
        (["early_stopping_patience=1.5"], "'early_stopping_patience' expects int, got 1.5"),
        (["early_stopping_threshold=-1"], "early_stopping_threshold must be 0 or more"),
        (["early_stopping_patience=2", "~data.validation"], "compares evaluations on data.validation, which is not set"),
        (["early_stopping_patience=2", "train.eval_strategy=no"], r"but train.eval_strategy=no; remove one of them"),
        (["early_stopping_patience=2", "train.load_best_model_at_end=false"], "but train.load_best_model_at_end=false"),
        (["early_stoping_patience=2"], "did you mean 'early_stopping_patience'"),
    ):
        with pytest.raises(UserError, match=message):
            load_recipe("sst2", overrides)


def test_a_recipe_changed_in_python_is_checked_again(tmp_path):
    # before: a Recipe came back unchecked, and the mistake surfaced inside transformers or the data code
    recipe = load_recipe(write(tmp_path, BASIC))
    assert load_recipe(recipe) == recipe
    recipe.train["learnin_rate"] = 1e-5
    with pytest.raises(UserError, match=r"^recipe 'r' \(as changed in Python\): unknown key 'train.learnin_rate' "
                                        r"\(did you mean 'learning_rate'\?\)"):
        load_recipe(recipe)
    recipe = load_recipe(write(tmp_path, BASIC))
    recipe.data.max_length = "64"
    with pytest.raises(UserError, match=r"'data.max_length' expects int, got '64' \(str\)"):
        load_recipe(recipe)
    recipe.data.max_length = 64
    recipe.train["learning_rate"] = 3e-5
    again = load_recipe(recipe)
    assert again.train["learning_rate"] == 3e-5 and again.data.max_length == 64 and again.source == recipe.source
