"""Load a finished run directory and predict on raw inputs.

Example:
    >>> from bert_tasks import Predictor
    >>> p = Predictor.from_run("runs/sst2")  # doctest: +SKIP
    >>> p.predict(["a gorgeous, witty film", "dull and lifeless"])  # doctest: +SKIP
    [{'label': 'positive', 'score': 0.97, ...}, {'label': 'negative', ...}]
"""

from __future__ import annotations

import logging
import os
import reprlib
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .encoder import position_limit
from .errors import UserError, shown
from .recipe import MIN_LENGTH, apply_overrides, load_recipe, parse_override, read_yaml, validate
from .rundir import cannot_write, is_finished
from .tasks import get_task

log = logging.getLogger("bert_tasks")


def user_path(path: str | os.PathLike) -> str:
    """``path`` with a leading ``~`` expanded, as a shell would (Python callers pass ``'~/runs/x'`` as it is)."""
    return os.path.expanduser(os.fspath(path))


def run_recipe(run_dir: str | os.PathLike) -> Any:
    """The resolved recipe saved in a run directory."""
    run_dir = user_path(run_dir)
    path = Path(run_dir, "recipe.yaml")
    if not Path(run_dir).is_dir():
        raise UserError(f"{run_dir}: no such run directory")
    if not path.is_file():
        raise UserError(f"{run_dir}: not a run directory (no recipe.yaml)")
    return load_recipe(read_yaml(path))


READ_KEYS = ("format", "columns", "header", "column_names", "token_column", "tag_column", "hub_config", "max_length")


def with_read_overrides(recipe: Any, overrides: Any, command: str) -> Any:
    """``recipe`` with ``data.*`` overrides of how a file is read (``data.columns.text=review``) and how
    many tokens of an input are read (``data.max_length``, up to what the run's model takes).

    Only the keys in :data:`READ_KEYS` (and below them) may change: the model and its labels stay
    the run's. ``command`` (``evaluate``, ``predict``) starts the error for any other key.
    """
    overrides = list(overrides or ())
    if not overrides:
        return recipe
    for text in overrides:
        keys = parse_override(text)[0] if isinstance(text, str) else None
        if not keys or keys[0] != "data" or len(keys) < 2 or keys[1] not in READ_KEYS:
            raise UserError(
                f"{command}: {text!r} cannot be set; only how the file is read and how long an input may be: "
                + ", ".join(f"data.{k}" for k in READ_KEYS) + " (e.g. data.columns.text=review)"
            )
    return validate(apply_overrides(recipe.to_dict(), overrides), "command line", recipe.name)


def fitting_max_length(predictor: Any, max_length: int) -> int:
    """``max_length`` (a ``data.max_length`` given to predict or evaluate), if the run's model takes it."""
    limit = position_limit(predictor.model.config)
    if limit and max_length > limit[0]:
        raise UserError(f"data.max_length={max_length} is longer than the run's model accepts ({limit[1]}); "
                        f"set data.max_length={limit[0]} or less")
    return max_length


def as_roles(row: dict, columns: dict) -> dict:
    """A row with the run's ``data.columns`` (role -> column) also under their role names, so rows in
    the training data's own format (SST-2's 'sentence', MRPC's '#1 String') predict as they are."""
    return {**row, **{role: row[col] for role, col in columns.items() if col in row}}


class Predictor:
    """A trained model, its tokenizer and its task adapter, ready for raw inputs."""

    def __init__(self, adapter: Any, model: Any, tokenizer: Any, max_length: int = 512, columns: dict | None = None):
        self.adapter = adapter
        self.model = model
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.columns = {role: str(col) for role, col in (columns or {}).items()}  # the run's data.columns

    @classmethod
    def from_run(cls, run_dir: str | os.PathLike, device: str | None = None, int8: bool = False) -> Predictor:
        """Load ``run_dir`` (written by ``train``): model, tokenizer, recipe.

        ``int8=True`` (CPU only, opt-in): every ``nn.Linear`` is converted to int8 dynamic
        quantisation (weights int8, activations quantised per batch), which is faster on CPU and
        close but not identical to fp32; check it with ``int8_parity`` before relying on it.
        """
        from transformers import AutoTokenizer

        run = Path(user_path(run_dir))
        recipe = run_recipe(run)
        if not (run / "config.json").is_file():
            saved = len(list(run.glob("checkpoint-*")))
            hint = (f"resume it with its recipe and train.resume_from_checkpoint=auto ({saved} checkpoint(s) there)"
                    if saved else "run it again (it saved no checkpoint)")
            raise UserError(f"{run}: no model saved there (no config.json): the run did not finish; {hint}")
        if not is_finished(run):
            log.warning("%s has no DONE marker: the run did not finish (train() and finish_run(trainer) write it)", run)
        adapter_cls = get_task(recipe.task.name)
        model = adapter_cls.load_model(str(run))
        if int8:
            if device not in (None, "cpu"):
                raise UserError(f"int8 prediction runs on the CPU only, not on device {device!r}")
            model = quantize_int8(model)
        elif device:
            try:
                model.to(device)
            except (RuntimeError, AssertionError, ValueError) as e:  # torch's own: "Torch not compiled with CUDA"
                raise UserError(f"Predictor.from_run: device {device!r} is not usable here: {e}") from None
        tokenizer = AutoTokenizer.from_pretrained(str(run))
        adapter = adapter_cls.from_run(recipe.task, model, str(run))
        return cls(adapter, model, tokenizer, recipe.data.max_length, recipe.data.columns)

    def predict(self, inputs: list, batch_size: int = 64) -> list[dict]:
        """Predictions for raw inputs, in input order (what an input is depends on the task; a dict
        with the fields of an input file's row, ``{"text": ..., "text_pair": ...}`` or the columns the
        run was trained on, works for any; a pandas DataFrame gives one input per row)."""
        if hasattr(inputs, "to_dict") and hasattr(inputs, "columns"):  # a DataFrame (iterating one gives its column names)
            inputs = inputs.to_dict("records")
        if isinstance(inputs, (str, tuple, dict)):
            raise UserError("predict takes a list of inputs, e.g. predict(['some text'])")
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise UserError(f"predict: batch_size must be a whole number of at least 1, got {batch_size!r}")
        inputs = list(inputs)
        for i, x in enumerate(inputs):
            if isinstance(x, dict):  # as transformers' pipelines take them: {"text", "text_pair"}, {"question", "context"}
                try:
                    inputs[i] = x = self.adapter.make_input(as_roles(x, self.columns))
                except UserError as e:
                    raise UserError(f"predict: input {i}: {e}", index=i) from None
            if not self.adapter.accepts(x):
                raise UserError(f"predict: input {i} is {reprlib.repr(x)}; each input must be {self.adapter.input_help}")
        limit = position_limit(self.model.config)
        if isinstance(self.max_length, bool) or not isinstance(self.max_length, int) or self.max_length < MIN_LENGTH or (
                limit and self.max_length > limit[0]):
            top = f" ({limit[1]})" if limit else ""
            raise UserError(f"predict: max_length={self.max_length!r} does not fit the model: give a whole number from "
                            f"{MIN_LENGTH} to {limit[0] if limit else 'its longest input'}{top}")
        if not inputs:
            return []
        return self.adapter.predict(self.model, self.tokenizer, inputs, batch_size, self.max_length)


def quantize_int8(model: Any) -> Any:
    """``model`` with its linear layers as int8 dynamic-quantised layers (CPU inference)."""
    import warnings

    import torch
    from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

    engine, before = int8_engine(), torch.backends.quantized.engine
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch marks the quantised tensor API as deprecated
        try:  # the engine packs the weights; each layer then runs its own packing's kernel, whatever the setting
            torch.backends.quantized.engine = engine
            # Per-output-channel weight scales: closer to fp32 than one scale per matrix, and no slower here.
            return quantize_dynamic(model.eval(), {torch.nn.Linear: per_channel_dynamic_qconfig}, dtype=torch.qint8)
        finally:
            torch.backends.quantized.engine = before


def int8_engine() -> str:
    """The quantised engine that packs the int8 layers: oneDNN on a CPU with AMX tiles (its AMX int8 matmuls,
    1.27x fbgemm's layers on SST-2 there), else torch's default (fbgemm's AVX2 / AVX-512 kernels on x86).
    Both quantise activations to 7 bits (``reduce_range``), so no CPU's 16-bit sums overflow."""
    import torch

    amx = getattr(torch.cpu, "_is_amx_tile_supported", None)  # private in torch 2.x: without it, the default
    if "onednn" in torch.backends.quantized.supported_engines and callable(amx) and amx():
        return "onednn"
    return torch.backends.quantized.engine


def int8_parity(run_dir: str | os.PathLike, inputs: list, batch_size: int = 64) -> dict:
    """Compare the int8 predictor with the fp32 one on ``inputs``: label agreement and speed."""
    import time

    out = {}
    for name, int8 in (("fp32", False), ("int8", True)):
        predictor = Predictor.from_run(run_dir, int8=int8)
        predictor.predict(inputs[:batch_size], batch_size)  # warm-up
        start = time.perf_counter()
        out[name] = predictor.predict(inputs, batch_size)
        out[f"{name}_seconds"] = time.perf_counter() - start
    labels = [(a.get("label"), b.get("label")) for a, b in zip(out["fp32"], out["int8"])]
    out["agreement"] = sum(a == b for a, b in labels) / max(1, len(labels))
    out["speedup"] = out["fp32_seconds"] / max(out["int8_seconds"], 1e-9)
    return out


def read_inputs(path: str | os.PathLike, fields: tuple[str, ...], header_names: Iterable[str] = (),
                column_names: list[str] | None = None, list_field: str | None = None) -> list[dict]:
    """Rows of an input file: ``.jsonl``/``.json`` records, ``.csv``/``.tsv`` with a header, or
    plain text with one input per line (tab-separated values fill ``fields`` in order).

    Plain text whose first line names one of ``fields`` or ``header_names`` (the run's
    ``data.columns``) is tab-separated with a header, as the data reader takes such a file
    (MRPC's ``.txt``). With ``column_names`` (a run trained on files without a header,
    ``data.header: false``), a csv/tsv file whose first line names none of these columns has
    no header either: its columns are ``column_names``. ``list_field``: see :func:`placed_inputs`."""
    return [row for _, row in placed_inputs(path, fields, header_names, column_names, list_field)]


def placed_inputs(path: str | os.PathLike, fields: tuple[str, ...], header_names: Iterable[str] = (),
                  column_names: list[str] | None = None, list_field: str | None = None) -> list[tuple[str, dict]]:
    """:func:`read_inputs`, each row with its place in the file for messages: ``"<path>:<line>"``
    (its first line), ``"<path>, record <n>"`` (a JSON list) or ``"<path>, question id <id>"`` (SQuAD).
    ``list_field``: the field a JSON list of strings stands for (``tokens`` for a tagging run)."""
    import csv
    import io
    import json

    from .data import (
        check_fields,
        check_utf8,
        data_suffix,
        is_saved_dataset,
        is_squad,
        pandas_records,
        placed_json_records,
        read_files,
        read_saved,
        read_squad,
        records_under_data,
    )

    path = Path(path)
    if is_saved_dataset(str(path)):  # written by save_to_disk (of a DatasetDict, its test split)
        return [(f"{path}, row {i + 1}", row) for i, row in enumerate(read_saved(str(path), "test", "--input"))]
    if path.is_dir():
        raise UserError(f"--input: {path} is a folder; name a file in it")
    if not path.is_file():
        raise UserError(f"--input: file not found: {path}")

    suffix = data_suffix(path)  # of what a compressed file holds: .tsv for input.tsv.gz
    if suffix == ".parquet":  # binary: read as the data reader reads it
        return [(f"{path}, row {i + 1}", row) for i, row in enumerate(read_files([str(path)], "auto", "--input"))]
    text = check_utf8(str(path)).removeprefix("\ufeff")
    first = {f.strip() for f in text.split("\n", 1)[0].rstrip("\r").split("\t" if suffix != ".csv" else ",")}
    named = bool(first & {*fields, *header_names, *(column_names or ())})
    if suffix not in (".jsonl", ".json", ".csv") and named:
        suffix = ".tsv"
    headless = column_names if column_names and not named else None
    rows: list[tuple[str, dict]] = []
    if suffix == ".json" and is_squad(str(path)):  # the QA training format: one row per question
        rows = [(f"{path}, question id {row['id']}", row) for row in read_squad([str(path)], "--input").to_list()]
    elif suffix == ".json" and (records := records_under_data(text)):  # {"version": ..., "data": [records]}
        rows = [(f"{path}, data[{i}]", row) for i, row in enumerate(records)]
    elif suffix == ".json" and (records := pandas_records(text)) is not None:  # df.to_json()
        rows = [(f"{path}, row {i + 1}", row) for i, row in enumerate(records)]
    elif suffix in (".jsonl", ".json"):
        rows = placed_json_records(str(path), text, "input", " such as {" + json.dumps(fields[0]) + ": ...}", fields,
                                   list_field)
    elif suffix in (".csv", ".tsv"):
        # As the data reader reads them: tsv without quote handling, a row's fields counted against the header.
        check_fields(str(path), text, suffix[1:], "--input", header=headless is None, column_names=headless)
        tsv = suffix == ".tsv"
        reader = csv.DictReader(io.StringIO(text), fieldnames=headless, delimiter="\t" if tsv else ",",
                                quoting=csv.QUOTE_NONE if tsv else csv.QUOTE_MINIMAL)
        for row in reader:  # line_num is the record's last line; a quoted csv field may span lines
            rows.append((f"{path}:{reader.line_num - sum(str(v).count(chr(10)) for v in row.values())}", row))
    else:  # lines end at \n only (str.splitlines would also split a text at U+2028, U+0085, ...)
        for number, line in enumerate(text.split("\n"), start=1):
            values = line.rstrip("\r").split("\t")
            if len(values) > len(fields):  # before: the fields past the last were dropped
                raise UserError(
                    f"{path}:{number}: {len(values)} tab-separated fields; a line of plain text holds at most "
                    f"{len(fields)} ({', '.join(fields)})"
                )
            if line.strip():  # a blank line is skipped; the places count every line
                rows.append((f"{path}:{number}", dict(zip(fields, values))))
    if not rows:
        raise UserError(f"--input {path}: no inputs in the file")
    return rows


def _conll_input(path: str | os.PathLike) -> bool:
    """A token-per-line file with tags (CoNLL, BMES), not JSON/csv/tsv or plain sentences."""
    from .data import check_utf8, data_suffix, looks_like_conll

    path = Path(path)
    if data_suffix(path) in (".json", ".jsonl", ".csv", ".tsv") or not path.is_file():
        return False
    return looks_like_conll(check_utf8(str(path)).removeprefix("\ufeff"))


def _token_lines(path: str | os.PathLike, token_column: int) -> list[tuple[str, dict]]:
    """Sentences of a token-per-line file without tags (``.conll``, ``.bio``, ...: the extension says
    so), read as the data reader reads token files: one row of ``tokens`` per sentence."""
    from .data import check_utf8, conll_sentences

    check_utf8(str(path))
    rows = [(f"{path}:{start}", {"tokens": tokens}) for tokens, _, _, start in conll_sentences(str(path), token_column, None)]
    if not rows:
        raise UserError(f"--input {path}: no inputs in the file")
    return rows


def prediction_path(input_path: str | os.PathLike, output_path: str | os.PathLike | None = None) -> Path:
    """Where ``predict_file`` writes: ``output_path``, inside it if it is a folder (or ends with ``/``), or
    ``<input without suffix>.predictions.jsonl`` (``in.tsv.gz``: ``in.predictions.jsonl``); never the input file itself."""
    from .data import data_stem

    name = data_stem(input_path) + ".predictions.jsonl"
    out = Path(input_path).with_name(name) if output_path is None else Path(output_path)
    if out.is_dir() or (output_path is not None and str(output_path).endswith(("/", os.sep))):  # "out/": a folder
        out = out / name
    if out.resolve() == Path(input_path).resolve():
        raise UserError(f"--output {out} is the input file; choose another path (the input would be overwritten)")
    return out


def predict_file(
    run_dir: str, input_path: str, output_path: str | None = None, batch_size: int = 64, int8: bool = False,
    overrides: Any = (),
) -> str:
    """Predict every row of ``input_path``; write JSON lines (the input row plus ``prediction``).

    ``overrides``: ``data.*`` settings of how the file is read where it differs from the training
    data (``["data.columns.text=review"]``; see :func:`with_read_overrides`).

    ``input_path`` ``"-"`` reads standard input (JSON if it starts with ``{`` or ``[``, else plain
    text lines), and then writes to standard output unless ``output_path`` says otherwise.
    ``output_path`` ``"-"`` writes them to standard output (messages go to standard error)."""
    import json

    from .rundir import write_text

    if input_path == "-":
        return _predict_stdin(run_dir, output_path, batch_size, int8, overrides)
    from .data import is_url

    if is_url(str(input_path)):  # before: "--input: file not found: https:/..."
        raise UserError(f"--input {input_path}: predict reads a local file; download it first (e.g. curl -O "
                        f"{input_path}); evaluate --data and a recipe's data.* read URLs")
    input_path = user_path(input_path)
    if output_path not in (None, "-"):
        output_path = user_path(output_path)

    out = None if output_path == "-" else prediction_path(input_path, output_path)  # None: standard output
    # The input file is read before the model loads, so a bad file fails at once.
    recipe = with_read_overrides(run_recipe(run_dir), overrides, "predict")
    columns = {role: str(col) for role, col in (recipe.data.columns or {}).items()}
    task = get_task(recipe.task.name)
    from .data import CONLL_SUFFIXES, data_suffix

    tokens = "tokens" if "tokens" in task.column_roles else None  # a tagging run: inputs may be token lists
    if tokens and _conll_input(input_path):  # the tagging training format
        from .data import read_conll

        sentences = read_conll([str(input_path)], "--input", recipe.data.token_column, recipe.data.tag_column)
        placed = [(f"{input_path}:{row['line']}", row) for row in sentences.remove_columns(["doc", "file"]).to_list()]
    elif tokens and data_suffix(input_path) in CONLL_SUFFIXES and Path(input_path).is_file():
        placed = _token_lines(input_path, recipe.data.token_column)  # before: each token line was a text
    else:
        headless = None if recipe.data.header else recipe.data.column_names
        placed = placed_inputs(input_path, task.input_fields, columns.values(), headless, tokens)
    renamed = (f"; or the columns the run was trained on (data.columns: {columns})" if columns else "") + (
        "; or name yours: data.columns.<role>=<column> after --input")
    try:  # a place that cannot be written fails now too, not after the predictions are made
        if out is not None:
            out.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryFile(dir=out.parent):
                pass
    except OSError as e:
        raise UserError(f"--output {out}: cannot write there ({cannot_write(out.parent, e)})") from None
    predictor = Predictor.from_run(run_dir, int8=int8)
    predictor.max_length = fitting_max_length(predictor, recipe.data.max_length)  # the run's, or data.max_length=N
    inputs = []
    for place, row in placed:
        try:
            inputs.append(predictor.adapter.make_input(as_roles(row, columns)))
        except UserError as e:
            raise UserError(f"{place}: {e}{renamed}") from None
        if not predictor.adapter.accepts(inputs[-1]):
            raise UserError(f"{place}: {shown(row, 120)} does not give {predictor.adapter.input_help}")
    try:
        preds = predictor.predict(inputs, batch_size=batch_size)
    except UserError as e:  # an error about one input names its place in the file
        raise UserError(f"{input_path if e.index is None else placed[e.index][0]}: {e}") from None
    rows = [row for _, row in placed]
    lines = "".join(json.dumps({**r, "prediction": p}, ensure_ascii=False) + "\n" for r, p in zip(rows, preds))
    if out is None:  # before: "-" was taken as a file name
        import sys

        sys.stdout.buffer.write(lines.encode("utf-8"))
        sys.stdout.flush()
        return "-"
    write_text(out, lines)
    return str(out)


def _predict_stdin(run_dir: str, output_path: str | None, batch_size: int, int8: bool, overrides: Any) -> str:
    """``predict_file`` on standard input: read once into a private file, called <stdin> in messages."""
    import sys

    data = sys.stdin.buffer.read()
    head = data.removeprefix(b"\xef\xbb\xbf").lstrip()[:1]
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder, "stdin.json" if head in (b"{", b"[") else "stdin.txt")  # its name picks the reader
        path.write_bytes(data)
        try:
            return predict_file(run_dir, str(path), "-" if output_path is None else output_path, batch_size, int8,
                                overrides)
        except UserError as e:
            raise UserError(str(e).replace(str(path), "<stdin>")) from None
