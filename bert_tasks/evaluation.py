"""Score a finished run on a labelled file, as training scores its test split.

The file is read with the run's own data settings (``data.format``, ``data.columns``, header, token
and tag columns), encoded at the run's ``data.max_length``, and post-processed and scored by the run's
task adapter (IOBES decoding, QA spans over windows, the thresholds tuned in training), through the
same ``Trainer.predict`` + ``report`` path as a run's test split. The output folder gets
``metrics.json`` (``{"test": {...}}``), the predictions file and the plots, and ``evaluation.json``
(the run and the data scored), all or nothing.

Example:
    >>> from bert_tasks import evaluate_run
    >>> folder, metrics = evaluate_run("runs/sst2", "../shared/data/sst2/dev.tsv")  # doctest: +SKIP
    >>> metrics["test"]["accuracy"]  # doctest: +SKIP

Command line: ``python -m bert_tasks.run evaluate RUN_DIR --data FILE [--output DIR] [data.columns.text=review ...]``.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
from pathlib import Path
from typing import Any

from .data import data_stem
from .errors import UserError
from .rundir import write_json
from .tables import in_memory, is_table, to_dataset

SPLIT = "test"  # the evaluated file plays the test split: files are named predictions_test.*, ...
MARKER = "evaluation.json"  # the run and the data scored; a folder holding it may be replaced by a new evaluation


def default_output(run_dir: str | os.PathLike, data: Any) -> Path:
    """``<run_dir>/evaluations/<the file's name without its extension>`` (for a pattern such as
    ``dev/*.tsv``, its folder's name). The same data scored again replaces its own evaluation;
    other data of the same name (``a/test.tsv``, then ``b/test.tsv``) gets ``test-2``, ``test-3``, ...
    (before: it replaced the first file's evaluation)."""
    def plain(text: str) -> str:  # without glob characters
        return "".join(c for c in text if c not in "*?[]")

    first = Path(str(data[0] if isinstance(data, (list, tuple)) and data else data)) if not is_table(data) else None
    name = "table" if first is None else plain(data_stem(first)) or plain(first.parent.name) or "data"
    key = _data_key(data)  # once: a table's fingerprint hashes its content
    for n in range(1, 10_000):
        out = Path(run_dir) / "evaluations" / (name if n == 1 else f"{name}-{n}")
        marker = out / MARKER
        if not out.exists() or not marker.is_file():  # free, or not an evaluation (evaluate_run refuses it)
            return out
        try:
            scored = json.loads(marker.read_text(encoding="utf-8")).get("data")
        except (OSError, ValueError, AttributeError):
            return out  # an unreadable marker: replaced as before
        if _data_key(scored) == key:
            return out
    raise UserError(f"{Path(run_dir) / 'evaluations'}: no free folder for {name}; give --output")


def _data_key(data: Any) -> str:
    """``data`` as evaluation.json records it, a single existing path resolved (``dev.tsv`` and
    ``./dev.tsv`` are one file); a table held in memory by its content's fingerprint."""
    if is_table(data):
        return in_memory(data, f"fingerprint {to_dataset(data, 'data')._fingerprint}")
    text = str(data)
    return os.path.realpath(text) if os.path.exists(text) else text


def evaluate_run(
    run_dir: str | os.PathLike,
    data: Any,
    output_dir: str | os.PathLike | None = None,
    batch_size: int | None = None,
    overrides: Any = (),
) -> tuple[str, dict]:
    """Score the model of ``run_dir`` on the labelled ``data`` (a path, a list of paths, a hub name, or a
    table held in memory: a pandas DataFrame, a datasets.Dataset, a list of row dicts, a dict of columns).

    Args:
        run_dir: a run directory written by ``train`` (or ``finish_run``).
        data: read as the run's ``data.test`` would be.
        output_dir: where the metrics, predictions and plots go (default: :func:`default_output`);
            an earlier evaluation there (a folder with ``evaluation.json``) is replaced, any other
            non-empty folder is refused.
        batch_size: examples per forward pass (default: the run's ``train.per_device_eval_batch_size``).
        overrides: ``data.*`` settings of how the file is read, as ``key=value`` strings, for a file
            whose columns or format differ from the training data's (``["data.columns.text=review"]``).

    Returns:
        (output folder, ``{"test": metrics}``) with the metric names of the run's own ``metrics.json``.
    """
    from .predict import Predictor, fitting_max_length, run_recipe, user_path, with_read_overrides

    run_dir = user_path(run_dir)
    scored = _data_key(data) if is_table(data) else str(data)  # what evaluation.json and messages name
    output_dir = user_path(output_dir) if output_dir is not None else None
    recipe = with_read_overrides(run_recipe(run_dir), overrides, "evaluate")  # bad overrides fail before loading
    predictor = Predictor.from_run(run_dir)  # checks the folder; model, tokenizer, adapter with the run's labels
    fitting_max_length(predictor, recipe.data.max_length)
    out = Path(output_dir) if output_dir is not None else default_output(run_dir, data)
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not (out / MARKER).is_file())):
        raise UserError(f"--output {out}: exists and is not an earlier evaluation (no {MARKER}); choose another")
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    try:
        tmp.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UserError(f"--output {out}: cannot write there ({e.strerror or e})") from None
    try:
        metrics = _evaluate(predictor, recipe, data, tmp, batch_size)
        if SPLIT not in metrics:
            raise UserError(
                f"{scored}: no gold labels in it to score against (the run reads its columns as "
                f"{dict(recipe.data.columns) or 'the defaults'}); `python -m bert_tasks.run predict` gives predictions"
            )
        write_json(tmp / "metrics.json", metrics)
        write_json(tmp / MARKER, {"run_dir": str(Path(run_dir).resolve()), "data": scored})
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return str(out), metrics


def _evaluate(predictor: Any, recipe: Any, data: Any, folder: Path, batch_size: int | None) -> dict:
    from .data import load_splits
    from .training import encoded_job, evaluate_splits, task_trainer, training_arguments

    spec = str(data) if isinstance(data, os.PathLike) else data
    only = dataclasses.replace(recipe.data, train=None, validation=None, validation_from_train=None, test=spec)
    train = {k: v for k, v in recipe.train.items() if k != "resume_from_checkpoint"}
    # Evaluation only: no checkpoints, loggers or uploads; the run's batch size unless given.
    train.update(output_dir=str(folder), eval_strategy="no", save_strategy="no", load_best_model_at_end=False,
                 report_to="none", push_to_hub=False)
    if batch_size:
        train["per_device_eval_batch_size"] = batch_size
    recipe = dataclasses.replace(recipe, data=only, train=train)
    raw, sources = load_splits(only, where={"test": "evaluate --data"})  # not the run's data.test
    rows = predictor.adapter.prepare(raw, sources, only.columns)  # the adapter holds the run's labels
    job = encoded_job(recipe, predictor.adapter, predictor.tokenizer, rows, sources)
    trainer = task_trainer(predictor.model, training_arguments(recipe), job)
    metrics = evaluate_splits(trainer, [SPLIT])
    for values in metrics.values():
        values.pop("model_preparation_time", None)  # Trainer's, for a model it did not train
    return metrics
