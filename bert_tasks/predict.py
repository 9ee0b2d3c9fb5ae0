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
from pathlib import Path
from typing import Any

from .errors import UserError
from .recipe import load_recipe, read_yaml
from .rundir import is_finished
from .tasks import get_task

log = logging.getLogger("bert_tasks")


class Predictor:
    """A trained model, its tokenizer and its task adapter, ready for raw inputs."""

    def __init__(self, adapter: Any, model: Any, tokenizer: Any, max_length: int = 512):
        self.adapter = adapter
        self.model = model
        self.tokenizer = tokenizer
        self.max_length = max_length

    @classmethod
    def from_run(cls, run_dir: str | os.PathLike, device: str | None = None) -> Predictor:
        """Load ``run_dir`` (written by ``train``): model, tokenizer, recipe."""
        from transformers import AutoTokenizer

        run = Path(run_dir)
        if not (run / "recipe.yaml").is_file():
            raise UserError(f"{run}: not a run directory (no recipe.yaml)")
        if not is_finished(run):
            log.warning("%s has no DONE marker: the run did not finish", run)
        recipe = load_recipe(read_yaml(run / "recipe.yaml"))
        adapter_cls = get_task(recipe.task.name)
        model = adapter_cls.load_model(str(run))
        if device:
            model.to(device)
        tokenizer = AutoTokenizer.from_pretrained(str(run))
        adapter = adapter_cls.from_run(recipe.task, model, str(run))
        return cls(adapter, model, tokenizer, recipe.data.max_length)

    def predict(self, inputs: list, batch_size: int = 64) -> list[dict]:
        """Predictions for raw inputs, in input order (what an input is depends on the task)."""
        if isinstance(inputs, (str, tuple)):
            raise UserError("predict takes a list of inputs, e.g. predict(['some text'])")
        return self.adapter.predict(self.model, self.tokenizer, list(inputs), batch_size, self.max_length)


def read_inputs(path: str | os.PathLike, fields: tuple[str, ...]) -> list[dict]:
    """Rows of an input file: ``.jsonl``/``.json`` records, ``.csv``/``.tsv`` with a header, or
    plain text with one input per line (tab-separated values fill ``fields`` in order)."""
    import csv
    import json

    path = Path(path)
    if not path.is_file():
        raise UserError(f"--input: file not found: {path}")
    text = path.read_text(encoding="utf-8-sig")
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".json"):
        stripped = text.lstrip()
        if stripped.startswith("["):
            return json.loads(stripped)
        rows = []
        for number, line in enumerate(text.splitlines(), start=1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as e:
                    raise UserError(f"{path}:{number}: not a JSON record ({e.msg})") from None
        return rows
    if suffix in (".csv", ".tsv"):
        return list(csv.DictReader(text.splitlines(), delimiter="\t" if suffix == ".tsv" else ","))
    return [dict(zip(fields, line.split("\t"))) for line in text.splitlines() if line.strip()]


def predict_file(run_dir: str, input_path: str, output_path: str | None = None, batch_size: int = 64) -> str:
    """Predict every row of ``input_path``; write JSON lines (the input row plus ``prediction``)."""
    import json

    from .rundir import write_text

    predictor = Predictor.from_run(run_dir)
    rows = read_inputs(input_path, predictor.adapter.input_fields)
    inputs = [predictor.adapter.make_input(r) for r in rows]
    preds = predictor.predict(inputs, batch_size=batch_size) if inputs else []
    out = output_path or str(Path(input_path).with_suffix("")) + ".predictions.jsonl"
    write_text(out, "".join(json.dumps({**r, "prediction": p}, ensure_ascii=False) + "\n" for r, p in zip(rows, preds)))
    return out
