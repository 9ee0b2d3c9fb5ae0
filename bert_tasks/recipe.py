"""Recipes: YAML files with the sections ``task``, ``encoder``, ``data``, ``train``.

A recipe is read with a safe YAML loader (YAML 1.2 booleans), dotted ``key=value`` overrides are
applied (``~key`` deletes a key), and every section is checked strictly:

* ``task``: ``name`` picks the adapter in the registry; the other keys are that
  adapter's ``Options`` dataclass.
* ``encoder``: a hub id, a local folder, or ``embedded`` (see :mod:`.encoder`).
* ``data``: :class:`DataConfig`.
* ``train``: passed to ``transformers.TrainingArguments`` unchanged; keys and
  types are checked against its fields before anything runs.

Example:
    >>> from bert_tasks import load_recipe
    >>> r = load_recipe("sst2", ["train.max_steps=10", "encoder=embedded"])
    >>> r.train["max_steps"]
    10
"""

from __future__ import annotations

import dataclasses
import glob
import os
import re
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from .config_check import build_dataclass, check_value, type_name, unknown_key_error
from .data import SPLITS
from .errors import UserError, shown
from .tables import check_split, in_memory, is_table
from .tasks import get_task


class RecipeLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` with YAML 1.2 booleans: only true/false are booleans.

    YAML 1.1 reads ``no``, ``off``, ``yes``, ``on`` as booleans, which turns
    ``eval_strategy: no`` (a TrainingArguments value) into ``False``. A key given twice in
    one mapping is an error: plain YAML loaders keep the last one and drop the first silently.
    """

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            first: dict = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    earlier = first.setdefault(key, key_node.start_mark)
                except TypeError:  # an unhashable key: SafeLoader reports it
                    continue
                if earlier is not key_node.start_mark:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"key {key!r} appears twice in one mapping (first on line {earlier.line + 1})",
                        key_node.start_mark,
                    )
        return super().construct_mapping(node, deep=deep)


RecipeLoader.yaml_implicit_resolvers = {
    key: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.copy().items()
}
RecipeLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def load_yaml(text: str):
    """Parse YAML text safely (no Python objects), with YAML 1.2 booleans."""
    return yaml.load(text, Loader=RecipeLoader)


# Installed (pip install ., a wheel): the recipes travel inside the package; a source checkout (also an
# editable install) reads the repository's recipes/ folder itself.
_PACKAGE = Path(__file__).resolve().parent
RECIPES_DIR = _PACKAGE / "recipes" if (_PACKAGE / "recipes").is_dir() else _PACKAGE.parent / "recipes"
SECTIONS = ("task", "encoder", "data", "train", "overwrite", "trust_remote_code", "layer_lr_decay",
            "early_stopping_patience", "early_stopping_threshold")
TOP_LEVEL = SECTIONS[4:]  # the keys that are no section
DataPath = str | list[str] | None


@dataclass
class DataConfig:
    """The ``data:`` section."""

    train: DataPath = field(default=None, metadata={"help": "File path, list of paths, or hub dataset name."})
    validation: DataPath = field(default=None, metadata={"help": "Like train; omit to skip evaluation."})
    test: DataPath = field(default=None, metadata={"help": "Like train; unlabelled files are predicted only."})
    format: Literal["auto", "csv", "tsv", "json", "jsonl", "conll", "parquet", "text", "hub"] = field(
        default="auto",
        metadata={"help": "File format; auto uses the extension (and sniffs .txt). conll: token-per-line columns; "
                          "text: one text per line (column 'text'; blank lines skipped)."},
    )
    columns: dict = field(
        default_factory=dict,
        metadata={"help": "Role -> column name, e.g. {text: sentence}. Roles depend on the task."},
    )
    header: bool = field(default=True, metadata={"help": "csv/tsv files start with a header row."})
    column_names: list[str] | None = field(
        default=None, metadata={"help": "Names of the columns of csv/tsv files without a header (data.header=false)."}
    )
    token_column: int = field(default=0, metadata={"help": "conll: the column of the token (0-based)."})
    tag_column: int = field(default=-1, metadata={"help": "conll: the column of the tag (default: the last)."})
    max_length: int = field(default=128, metadata={"help": "Tokens per example, special tokens included."})
    validation_from_train: int | float | None = field(
        default=None,
        metadata={"help": "Hold out this many rows (int) or this fraction (float) of train as validation."},
    )
    validation_group: str | None = field(
        default=None,
        metadata={"help": "Column whose values stay together in the validation_from_train hold-out (e.g. title)."},
    )
    hub_config: str | None = field(default=None, metadata={"help": "Config name of a hub dataset."})


MIN_LENGTH = 5  # the shortest data.max_length accepted


@dataclass
class Recipe:
    """A validated recipe. ``task`` is the adapter's options dataclass (``task.name`` is the adapter)."""

    task: Any
    encoder: str
    data: DataConfig
    train: dict
    overwrite: bool = False
    trust_remote_code: bool = False  # passed to from_pretrained for the encoder; off unless the recipe says so
    layer_lr_decay: float | None = None  # see layer_lr.py; None: transformers' optimizer unchanged
    # transformers' EarlyStoppingCallback: stop after this many evaluations without improvement of
    # train.metric_for_best_model by more than the threshold; None: train the whole budget
    early_stopping_patience: int | None = None
    early_stopping_threshold: float = 0.0
    name: str = "recipe"
    source: str | None = None

    def to_dict(self, tables: bool = False) -> dict:
        """The recipe as YAML-ready data (what ``recipe.yaml`` in a run directory holds). A split held in
        memory (:mod:`.tables`) is described there, or with ``tables=True`` kept as it is (not copied)."""
        splits = {s: getattr(self.data, s) for s in SPLITS}
        data = dataclasses.asdict(dataclasses.replace(self.data, **dict.fromkeys(SPLITS)))
        for split, value in splits.items():
            data[split] = value if tables or not is_table(value) else in_memory(value)
        return {
            "task": dataclasses.asdict(self.task),
            "encoder": self.encoder,
            "data": data,
            "train": dict(self.train),
            "overwrite": self.overwrite,
            "trust_remote_code": self.trust_remote_code,
            "layer_lr_decay": self.layer_lr_decay,
            "early_stopping_patience": self.early_stopping_patience,
            "early_stopping_threshold": self.early_stopping_threshold,
        }

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False, allow_unicode=True)


def list_recipes() -> list[tuple[str, str]]:
    """(name, first comment line) of every shipped recipe."""
    out = []
    for path in sorted(RECIPES_DIR.glob("*.yaml")):
        summary = ""
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.startswith("#"):
                summary = line.lstrip("# ").strip()
                break
        out.append((path.stem, summary))
    return out


def find_recipe(name_or_path: str | os.PathLike) -> Path:
    """A recipe file: an existing path (``~`` expanded, as a shell would), or the name of a shipped recipe."""
    path = Path(os.path.expanduser(os.fspath(name_or_path)))
    if path.is_file():
        return path
    shipped = RECIPES_DIR / f"{name_or_path}.yaml"
    if shipped.is_file():
        return shipped
    names = [n for n, _ in list_recipes()]
    from .config_check import closest

    raise UserError(
        f"no recipe file '{name_or_path}' and no shipped recipe of that name{closest(str(name_or_path), names)}; "
        f"shipped recipes: {', '.join(names)}"
    )


def read_yaml(path: Path) -> dict:
    """Read a YAML mapping safely; syntax errors name the file, line and column."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise UserError(f"{path}: not UTF-8 text (byte offset {e.start})") from None
    try:
        raw = load_yaml(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        loc = f":{mark.line + 1}:{mark.column + 1}" if mark else ""
        problem = getattr(e, "problem", None) or str(e)
        raise UserError(f"{path}{loc}: malformed YAML: {problem}") from None
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise UserError(f"{path}: a recipe must be a mapping with sections {', '.join(SECTIONS[:4])}")
    return raw


def parse_override(text: str) -> tuple[list[str], Any, bool]:
    """``'a.b=1'`` -> (['a', 'b'], 1, False); ``'~a.b'`` -> (['a', 'b'], None, True)."""
    if text.startswith("~"):
        return _key_parts(text, text[1:]), None, True
    if "=" not in text:
        raise UserError(f"override '{text}' is not of the form key=value (or ~key to delete)")
    key, value = text.split("=", 1)
    if not key:
        raise UserError(f"override '{text}' has no key")
    parts = _key_parts(text, key)
    try:
        parsed = load_yaml(value) if value != "" else None
    except yaml.YAMLError as e:
        if value.lstrip()[:1] in ("{", "["):  # meant as a list or mapping: say why it is not one
            problem = getattr(e, "problem", None) or str(e)
            raise UserError(f"override '{text}': malformed YAML {'mapping' if value.lstrip()[0] == '{' else 'list'}: "
                            f"{problem}") from None
        parsed = value  # not a YAML scalar: keep the text as a string
    return parts, parsed, False


def _key_parts(text: str, key: str) -> list[str]:
    parts = key.split(".")
    if "" in parts:  # 'train..seed', '.seed', 'train.'
        raise UserError(f"override '{text}': the key '{key}' has an empty part; write it as section.key, e.g. train.seed")
    return parts


def apply_overrides(raw: dict, overrides: typing.Iterable[str]) -> dict:
    """Return a copy of ``raw`` with dotted overrides applied."""
    import copy

    data = raw.get("data") if isinstance(raw, dict) else None
    keep = [data.get(s) for s in SPLITS] if isinstance(data, dict) else []
    raw = copy.deepcopy(raw, {id(t): t for t in keep if is_table(t)})  # a table in memory is shared, not copied
    for text in overrides:
        keys, value, delete = parse_override(text)
        node = raw
        for i, key in enumerate(keys[:-1]):
            key = _existing_key(node, key)
            child = node.get(key)
            if i == 0 and key == "task" and isinstance(child, str):
                child = node[key] = {"name": child}  # the shorthand 'task: <name>'
            if not isinstance(child, dict):
                if delete and key not in node:
                    _nothing_to_delete(text, keys[: i + 1], node)
                if child is not None:
                    raise UserError(f"override '{text}': '{'.'.join(keys[: i + 1])}' is not a mapping")
                child = node[key] = {}
            node = child
        last = _existing_key(node, keys[-1])
        if delete:
            if last not in node:
                _nothing_to_delete(text, keys, node)
            del node[last]
        else:
            node[last] = value
    return raw


def _existing_key(node: dict, key: str) -> Any:
    """The key of ``node`` that an override's part names.

    A part is text, but YAML reads ``0:`` in a mapping as the int 0 (a label map such as
    ``labels: {0: negative}``): ``task.labels.0=neg`` names that key, not a new key '0' beside it.
    A new key in a mapping whose keys are all such scalars is read as a YAML scalar too.
    """
    if key in node:
        return key
    same = next((k for k in node if not isinstance(k, str) and str(k).lower() == key.lower()), None)
    if same is not None:
        return same
    if node and not any(isinstance(k, str) for k in node):
        try:
            parsed = load_yaml(key)
        except yaml.YAMLError:
            return key
        if isinstance(parsed, (int, float, bool)):
            return parsed
    return key


def _nothing_to_delete(text: str, keys: list[str], node: dict) -> typing.NoReturn:
    """A ``~key`` override of a key the recipe does not have: a misspelt deletion would do nothing."""
    where = ".".join(keys[:-1])
    there = f"keys of '{where}'" if where else "sections"
    raise UserError(
        f"override '{text}': the recipe has no '{'.'.join(keys)}' to delete; its {there}: {', '.join(map(str, node))}"
    )


def _resolve_data_paths(data: dict, base: Path) -> dict:
    """Make relative data paths written in a recipe file relative to that file's folder."""

    def fix(p):
        if isinstance(p, str) and not os.path.isabs(p) and ((base / p).exists() or glob.glob(str(base / p))):
            return str((base / p).resolve())
        return p

    for split in ("train", "validation", "test"):
        value = data.get(split)
        data[split] = [fix(p) for p in value] if isinstance(value, list) else fix(value)
    return data


def _resolve_task_paths(task: dict, base: Path) -> dict:
    """Task options that name files (``labels: labels.txt``) are relative to the recipe file too."""
    for key, value in task.items():
        if isinstance(value, str) and key != "name" and not os.path.isabs(value) and (base / value).is_file():
            task[key] = str((base / value).resolve())
    return task


def _training_args_fields() -> dict[str, Any]:
    from transformers import TrainingArguments

    hints = typing.get_type_hints(TrainingArguments)
    return {f.name: hints.get(f.name, Any) for f in dataclasses.fields(TrainingArguments) if f.init}


# TrainingArguments fields it does not check itself, with their lowest valid value (the DataLoader or
# the optimizer would fail later without naming the key).
_TRAIN_MINIMUMS = {
    "per_device_train_batch_size": 1,
    "per_device_eval_batch_size": 1,
    "gradient_accumulation_steps": 1,
    "learning_rate": 0,
    "weight_decay": 0,
}


# TrainingArguments names that transformers 5 removed or renamed, and common shorthands: what to write instead.
_TRAIN_INSTEAD = {
    "warmup_ratio": "transformers 5 folded it into warmup_steps: a float below 1 is a ratio of the total steps "
                    "(warmup_steps: 0.1)",
    "group_by_length": "transformers 5 replaced it with train_sampling_strategy: group_by_length (the toolkit's "
                       "default)",
    "evaluation_strategy": "transformers 5 renamed it eval_strategy",
    "overwrite_output_dir": "transformers 5 removed it; the recipe's top-level key overwrite: true replaces a "
                            "finished run",
    "logging_dir": "transformers 5 removed it; TensorBoard logs go where the TENSORBOARD_LOGGING_DIR environment "
                   "variable says",
    "no_cuda": "transformers 5 removed it; write use_cpu: true",
    "per_gpu_train_batch_size": "write per_device_train_batch_size",
    "per_gpu_eval_batch_size": "write per_device_eval_batch_size",
    "lr": "write learning_rate",
    "epochs": "write num_train_epochs",
    "num_epochs": "write num_train_epochs",
    "batch_size": "write per_device_train_batch_size (and per_device_eval_batch_size)",
    "train_batch_size": "write per_device_train_batch_size",
    "eval_batch_size": "write per_device_eval_batch_size",
}


def _allows_none(hint: Any) -> bool:
    return hint is Any or hint is type(None) or type(None) in typing.get_args(hint)


def _check_train(raw: Any, where: str) -> dict:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise UserError(f"{where}: 'train' must be a mapping of TrainingArguments fields")
    fields = _training_args_fields()
    out = {}
    for key, value in raw.items():
        if key not in fields and key in _TRAIN_INSTEAD:
            raise UserError(f"{where}: unknown key 'train.{key}': {_TRAIN_INSTEAD[key]}")
        if key not in fields:
            raise unknown_key_error(where, f"train.{key}", str(key), fields, "transformers.TrainingArguments' fields")
        if value is None and not _allows_none(fields[key]):  # before: a bare TypeError inside transformers
            raise UserError(
                f"{where}: 'train.{key}' cannot be null (expects {type_name(fields[key])}); delete the key "
                f"(~train.{key}) for its default"
            )
        out[key] = value if value is None else check_value(where, f"train.{key}", value, fields[key])
        if key in _TRAIN_MINIMUMS and out[key] is not None and out[key] < _TRAIN_MINIMUMS[key]:
            raise UserError(f"{where}: 'train.{key}' must be at least {_TRAIN_MINIMUMS[key]}, got {out[key]}")
    if "output_dir" in out and not (isinstance(out["output_dir"], str) and out["output_dir"].strip()):
        # before: null reached the run folder code as None (a bare TypeError)
        raise UserError(
            f"{where}: 'train.output_dir' must name a folder, got {shown(out['output_dir'])}; "
            "delete the key (~train.output_dir) for the default runs/<recipe>"
        )
    for key in ("output_dir", "resume_from_checkpoint"):
        # ~/runs/x: the folder checked, locked and saved in the run is the one transformers writes (before: the
        # checks looked at a literal './~/runs/x', so a finished run in ~/runs/x was replaced without overwrite)
        if isinstance(out.get(key), str) and out[key].startswith("~"):
            out[key] = os.path.expanduser(out[key])
    _check_training_length(out, where)
    return out


def _check_training_length(train: dict, where: str) -> None:
    """A run that would take no training step is an error (transformers saves the untrained model)."""
    steps = train.get("max_steps")
    if steps == 0:
        raise UserError(
            f"{where}: 'train.max_steps' is 0, which trains nothing; give a positive number of steps, "
            f"or -1 to train for train.num_train_epochs"
        )
    epochs = train.get("num_train_epochs")
    if (steps is None or steps < 0) and epochs is not None and epochs <= 0:
        raise UserError(
            f"{where}: 'train.num_train_epochs' must be above 0, got {epochs} (or set train.max_steps to a number of steps)"
        )


def train_defaults(name: str, adapter: type, has_validation: bool, train: dict) -> dict:
    """The toolkit's TrainingArguments defaults, where they differ from transformers'.

    They are written into the resolved recipe, so ``--print-config`` and the run
    directory's ``recipe.yaml`` show every value the run used.
    """
    defaults = {
        "output_dir": os.path.join("runs", name),
        "report_to": "none",
        # Batches of similar lengths waste little compute on padding (transformers 5 name).
        "train_sampling_strategy": "group_by_length",
        # transformers 5 multiplies the loss by the world size under DDP for heads that
        # ignore num_items_in_batch (sequence classification): keep plain per-device means there;
        # a loss over tokens is weighed by the tokens of every process (TaskTrainer.compute_loss).
        "average_tokens_across_devices": adapter.loss_over_tokens,
        "logging_steps": 50,
        "save_strategy": "epoch",
        "save_total_limit": 2,
        "eval_strategy": "epoch" if has_validation else "no",
    }
    # load_best_model_at_end needs evaluation and saving to match: there, one set to "steps"
    # without the other takes the other along, at the same steps.
    best = train.get("load_best_model_at_end")
    if best and train.get("eval_strategy") == "steps" and "save_strategy" not in train:
        # transformers evaluates every logging_steps when eval_steps is not set
        steps = train.get("eval_steps", train.get("logging_steps", defaults["logging_steps"]))
        defaults.update(save_strategy="steps", eval_steps=steps)
        if "save_steps" not in train:
            defaults["save_steps"] = steps
    if best and train.get("save_strategy") == "steps" and "eval_strategy" not in train and has_validation:
        steps = train.get("save_steps", 500)  # transformers' default save_steps
        defaults.update(eval_strategy="steps", save_steps=steps)
        if "eval_steps" not in train:
            defaults["eval_steps"] = steps
    if best and "metric_for_best_model" not in train:
        defaults["metric_for_best_model"] = adapter.default_metric
        defaults["greater_is_better"] = adapter.greater_is_better
    return defaults


def _section_of(key: str, task: Any) -> str | None:
    """The section whose key a misplaced top-level key is (``learning_rate`` -> ``train``), if any."""
    if key in _training_args_fields():
        return "train"
    if key in {f.name for f in dataclasses.fields(DataConfig)}:
        return "data"
    name = task.get("name") if isinstance(task, dict) else task
    try:
        options = get_task(str(name)).Options
    except UserError:
        return None
    return "task" if key in {f.name for f in dataclasses.fields(options)} else None


def validate(raw: dict, where: str, name: str) -> Recipe:
    """Turn a raw mapping into a :class:`Recipe`, or raise :class:`UserError`."""
    for key in raw:
        if key not in SECTIONS:
            section = _section_of(str(key), raw.get("task"))
            if section:  # before: "valid keys: data, encoder, ..." for learning_rate=1e-5
                raise UserError(f"{where}: unknown key '{key}' (did you mean '{section}.{key}'? "
                                f"'{key}' is a key of the {section} section)")
            raise unknown_key_error(where, str(key), str(key), SECTIONS)
    for section in ("task", "data", "train"):
        body = raw.get(section)
        for key in body if isinstance(body, dict) else ():
            if key in TOP_LEVEL:  # before: "114 keys are valid (TrainingArguments' fields)" for train.overwrite
                raise UserError(f"{where}: unknown key '{section}.{key}' (did you mean '{key}'? '{key}' is a "
                                f"top-level key of the recipe, beside {section}, not inside it)")
    task_raw = raw.get("task")
    if isinstance(task_raw, str):
        task_raw = {"name": task_raw}
    if not isinstance(task_raw, dict) or "name" not in task_raw:
        raise UserError(f"{where}: 'task' must be a mapping with a 'name' (e.g. task: {{name: classification}})")
    adapter = get_task(str(task_raw["name"]), where)
    task = build_dataclass(adapter.Options, task_raw, where, "task")

    encoder = raw.get("encoder")
    if encoder is None and "encoder" not in raw:
        raise UserError(f"{where}: no 'encoder' given: add 'encoder: embedded' (or a hub id or local path), "
                        "or set it on the command line (encoder=...)")
    if not isinstance(encoder, str) or not encoder:
        raise UserError(f"{where}: 'encoder' must be a hub id, a local path or 'embedded', got {encoder!r}")
    data = _data_config(raw.get("data"), where)
    if data.max_length < MIN_LENGTH:
        # Below this the tokenizer cannot fit the special tokens and silently stops truncating.
        raise UserError(
            f"{where}: data.max_length must be at least {MIN_LENGTH} (the special tokens and a word piece of each text), "
            f"got {data.max_length}"
        )
    roles = adapter.column_roles
    for role, column in data.columns.items():
        if role not in roles:
            raise unknown_key_error(where, f"data.columns.{role}", str(role), roles)
        if isinstance(column, bool) or not isinstance(column, (str, int)) or not str(column).strip():
            # before: data.columns.text= (null) failed later with "TypeError: 'NoneType' object is not iterable"
            raise UserError(f"{where}: data.columns.{role} must name a column of the data, got {column!r}; "
                            f"delete it (~data.columns.{role}) to read the column '{role}'")
    data.columns = {role: str(column) for role, column in data.columns.items()}  # a header '2' is text: columns.label=2
    taken: dict = {}
    for role in roles:  # each role reads its own column (a role's default column is its own name)
        column = data.columns.get(role, role)
        if column in taken:
            raise UserError(
                f"{where}: data.columns gives column '{column}' to both '{taken[column]}' and '{role}'; "
                f"each role needs a column of its own"
            )
        taken[column] = role
    overwrite = check_value(where, "overwrite", raw.get("overwrite", False), bool)
    trust_remote_code = check_value(where, "trust_remote_code", raw.get("trust_remote_code", False), bool)
    layer_lr_decay = raw.get("layer_lr_decay")
    if layer_lr_decay is not None:
        layer_lr_decay = check_value(where, "layer_lr_decay", layer_lr_decay, float)
        if not 0 < layer_lr_decay <= 1:
            raise UserError(f"{where}: layer_lr_decay must be in (0, 1], got {layer_lr_decay}")
    patience = raw.get("early_stopping_patience")
    if patience is not None:
        patience = check_value(where, "early_stopping_patience", patience, int)
        if patience < 1:
            raise UserError(f"{where}: early_stopping_patience must be 1 or more evaluations, got {patience}")
    threshold = check_value(where, "early_stopping_threshold", raw.get("early_stopping_threshold", 0.0), float)
    if threshold < 0:
        raise UserError(f"{where}: early_stopping_threshold must be 0 or more, got {threshold}")
    train = _check_train(raw.get("train"), where)
    has_validation = data.validation is not None or bool(data.validation_from_train)
    if patience is not None:
        _check_early_stopping(where, train, has_validation)
        train.setdefault("load_best_model_at_end", True)  # stopping early keeps the best evaluation's weights
    for key, value in train_defaults(name, adapter, has_validation, train).items():
        train.setdefault(key, value)
    strategy = train.get("eval_strategy")
    if not has_validation and strategy not in ("no", None, False):
        # before: Trainer's "you didn't pass an eval_dataset" after the data and model loaded
        raise UserError(
            f"{where}: train.eval_strategy={strategy} evaluates on data.validation, which is not set; "
            "set data.validation (or data.validation_from_train), or remove train.eval_strategy"
        )
    unpicked = not has_validation or strategy in ("no", False) or train.get("save_strategy") in ("no", False)
    if train.get("load_best_model_at_end") and unpicked:
        # No best checkpoint to pick (no validation split, train.eval_strategy=no or
        # train.save_strategy=no): the last weights are the model. Before, either strategy set
        # to no met Trainer's "requires the save and eval strategy to match".
        train["load_best_model_at_end"] = False
    return Recipe(
        task=task, encoder=encoder, data=data, train=train, overwrite=overwrite,
        trust_remote_code=trust_remote_code, layer_lr_decay=layer_lr_decay, early_stopping_patience=patience,
        early_stopping_threshold=threshold, name=name,
    )


def _data_config(raw: Any, where: str) -> DataConfig:
    """The ``data`` section; a split given from Python as a table held in memory is kept as it is."""
    if not isinstance(raw, dict):
        return build_dataclass(DataConfig, raw, where, "data")
    tables, raw = {}, dict(raw)
    for split in SPLITS:
        value = raw.get(split)
        check_split(value, f"data.{split}")
        if is_table(value):
            tables[split], raw[split] = value, None
        elif isinstance(value, os.PathLike):
            raw[split] = os.fspath(value)
        elif isinstance(value, (list, tuple)):  # paths: Path objects as their text
            raw[split] = [os.fspath(v) if isinstance(v, os.PathLike) else v for v in value]
        elif value is not None and not isinstance(value, str):
            raise UserError(
                f"{where}: data.{split} is of type {type(value).__name__}; give a path, a list of paths or a hub name, "
                "or from Python a pandas DataFrame, a datasets.Dataset, a list of row dicts or a dict of columns"
            )
    data = build_dataclass(DataConfig, raw, where, "data")
    for split, value in tables.items():
        setattr(data, split, value)
    return data


def _check_early_stopping(where: str, train: dict, has_validation: bool) -> None:
    """Early stopping compares evaluations on the validation split and keeps the best checkpoint
    (transformers' EarlyStoppingCallback asserts both at the first evaluation; named here, at load)."""
    if not has_validation:
        raise UserError(f"{where}: early_stopping_patience compares evaluations on data.validation, which is not "
                        "set; set data.validation (or data.validation_from_train), or remove early_stopping_patience")
    for key, off in (("eval_strategy", ("no", False)), ("save_strategy", ("no", False)),
                     ("load_best_model_at_end", (False,))):
        if key in train and train[key] in off:
            value = str(train[key]).lower() if isinstance(train[key], bool) else train[key]
            raise UserError(f"{where}: early_stopping_patience needs evaluations and a best checkpoint to go back "
                            f"to, but train.{key}={value}; remove one of them")


def _with_required_from(raw: dict, merged: dict) -> dict:
    """``raw`` with the required values it lacks (``encoder``, the task's name) taken from ``merged``.

    A recipe file may leave them to the command line (one recipe run with several encoders); the
    check of the file alone then judges only what the file holds.
    """
    view = dict(raw)
    if raw.get("encoder") is None and merged.get("encoder") is not None:  # absent, or `encoder:` left empty
        view["encoder"] = merged["encoder"]
    task, merged_task = raw.get("task"), merged.get("task")
    name = merged_task.get("name") if isinstance(merged_task, dict) else merged_task
    if task is None and name is not None:
        view["task"] = {"name": name}
    elif isinstance(task, dict) and "name" not in task and name is not None:
        view["task"] = {**task, "name": name}
    return view


def load_recipe(name_or_path: str | os.PathLike | dict | Recipe, overrides: typing.Iterable[str] = ()) -> Recipe:
    """Load, override and validate a recipe.

    Args:
        name_or_path: a shipped recipe name (``sst2``), a YAML path, a mapping, or a :class:`Recipe`
            (checked again, as changes made to it in Python are, and returned as a new one).
        overrides: ``key=value`` / ``~key`` strings, as on the command line.

    Returns:
        A :class:`Recipe`. Raises :class:`UserError` on any bad key or value.
    """
    if isinstance(overrides, (str, bytes)):
        raise UserError(f"overrides must be a list of 'key=value' strings, e.g. [{overrides!r}], not one string")
    if isinstance(overrides, dict):  # before: its keys were read as overrides ("not of the form key=value")
        example = [f"{k}={v}" for k, v in list(overrides.items())[:2]]
        raise UserError(f"overrides must be a list of 'key=value' strings, e.g. {example}, not a dict")
    overrides = list(overrides)
    for i, text in enumerate(overrides):
        if not isinstance(text, str):
            raise UserError(f"overrides[{i}] is {text!r} ({type(text).__name__}); each override is a 'key=value' string")
    if isinstance(name_or_path, Recipe):
        # checked again, so that a Recipe changed in Python (recipe.train["learnin_rate"] = 1e-5,
        # recipe.data.max_length = "64") gets the messages a file gets, not an error deep in transformers
        where = "command line" if overrides else f"recipe {name_or_path.name!r} (as changed in Python)"
        recipe = validate(apply_overrides(name_or_path.to_dict(tables=True), overrides), where, name_or_path.name)
        recipe.source = name_or_path.source
        return recipe
    if not isinstance(name_or_path, (str, os.PathLike, dict)):
        raise UserError(
            f"a recipe is a shipped name, a YAML path, a mapping or a Recipe, got {type(name_or_path).__name__} {name_or_path!r}"
        )
    if isinstance(name_or_path, dict):
        raw, where, name, source = name_or_path, "recipe", "recipe", None
    else:
        path = find_recipe(name_or_path)
        raw, where, name, source = read_yaml(path), str(path), path.stem, str(path)
        if isinstance(raw.get("data"), dict):
            raw["data"] = _resolve_data_paths(dict(raw["data"]), path.parent)
        if isinstance(raw.get("task"), dict):
            raw["task"] = _resolve_task_paths(dict(raw["task"]), path.parent)
    merged = apply_overrides(raw, overrides)
    validate(_with_required_from(raw, merged), where, name)  # errors in the file itself name the file
    recipe = validate(merged, "command line" if overrides else where, name)
    recipe.source = source
    return recipe
