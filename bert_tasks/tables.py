"""Data held in memory as a split, given from Python where a recipe names a file.

``recipe.data.train = df`` (and ``validation`` / ``test``) takes a pandas ``DataFrame``, a
``datasets.Dataset``, a list of row dicts (``[{"text": ..., "label": ...}, ...]``) or a dict of
columns (``{"text": [...], "label": [...]}``). Such a split is read as a parquet file of the same
table would be; a run writes it to ``<run>/data/<split>.parquet`` and its ``recipe.yaml`` names that
file, so the run directory records what it trained on and the recipe runs again from the command line.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from .errors import UserError


def _instance(value: Any, module: str, *names: str) -> bool:
    """``value`` is one of the classes ``names`` of ``module`` (never imported here: a value of an
    unimported library's class cannot exist)."""
    lib = sys.modules.get(module)
    return lib is not None and any(isinstance(value, getattr(lib, n, ())) for n in names)


def is_table(value: Any) -> bool:
    """A table held in memory (a list of paths, ``["a.tsv", "b.tsv"]``, is not one)."""
    if _instance(value, "pandas", "DataFrame") or _instance(value, "datasets", "Dataset"):
        return True
    if isinstance(value, (list, tuple)):
        return bool(value) and all(isinstance(row, dict) for row in value)
    if isinstance(value, dict):
        return bool(value) and all(_is_column(column) for column in value.values())
    return False


def _is_column(value: Any) -> bool:
    """A column of a dict of columns: a list, tuple, numpy array or pandas Series."""
    return hasattr(value, "__len__") and hasattr(value, "__getitem__") and not isinstance(value, (str, bytes, dict))


def check_split(value: Any, where: str) -> None:
    """Refuse in-memory values that hold no single split, with what to give instead."""
    if _instance(value, "datasets", "DatasetDict", "IterableDatasetDict"):
        raise UserError(f"{where}: a {type(value).__name__} holds several splits ({', '.join(value)}); "
                        f"give one of them, e.g. {where} = dataset['{next(iter(value), 'train')}']")
    if _instance(value, "datasets", "IterableDataset"):
        raise UserError(f"{where}: an IterableDataset (streamed) is not accepted; give a datasets.Dataset "
                        "(load_dataset(..., streaming=False)) or a path")
    if _instance(value, "pandas", "Series"):
        raise UserError(f"{where}: a pandas Series is one column; give a DataFrame of the text and label columns")


def describe(value: Any) -> str:
    """What a message calls the table: ``a pandas DataFrame of 50 rows``."""
    if isinstance(value, dict):
        lengths = {len(column) for column in value.values()}
        rows = f" of {lengths.pop()} rows" if len(lengths) == 1 else ""
        return f"a dict of columns ({', '.join(map(str, value))}){rows}"
    if isinstance(value, (list, tuple)):
        return f"a list of {len(value)} row dicts"
    kind = "pandas DataFrame" if _instance(value, "pandas", "DataFrame") else "datasets.Dataset"
    return f"a {kind} of {len(value)} rows"


def in_memory(value: Any, detail: str = "") -> str:
    """How a recipe or an evaluation records the table: ``<in memory: a pandas DataFrame of 50 rows>``."""
    return f"<in memory: {describe(value)}{', ' + detail if detail else ''}>"


def to_dataset(value: Any, where: str):
    """The table as a ``datasets.Dataset`` (a Dataset as it is)."""
    from datasets import Dataset

    if _instance(value, "datasets", "Dataset"):
        return value
    what = describe(value)
    if isinstance(value, dict):
        lengths = {str(name): len(column) for name, column in value.items()}
        if len(set(lengths.values())) > 1:
            raise UserError(f"{where} ({what}): every column needs one value per row, but the columns have "
                            f"{', '.join(f'{n}: {k}' for n, k in lengths.items())} values")
        columns = {str(name): list(column) for name, column in value.items()}
    elif isinstance(value, (list, tuple)):
        rows = [{str(k): v for k, v in row.items()} for row in value]
        names = list(dict.fromkeys(k for row in rows for k in row))  # every row's keys, first seen first
        columns = {n: [row.get(n) for row in rows] for n in names}
    else:
        columns = None
    try:
        if columns is not None:
            return Dataset.from_dict(columns)
        return Dataset.from_pandas(value.rename(columns=str), preserve_index=False)
    except (TypeError, ValueError, ArithmeticError) as e:  # pyarrow: a column of mixed types, ...
        if columns is None:
            columns = {str(name): value[name].tolist() for name in value.columns}
        raise UserError(f"{where} ({what}): cannot be read as a table{_mixed(columns)}: {type(e).__name__}: {e}") from None


def _mixed(columns: dict) -> str:
    """', column 'label' mixes int (row 1) and str (row 2)' for the first column whose values are of
    several kinds (None aside), rows counted from 1."""
    for name, values in columns.items():
        first: dict = {}
        for i, v in enumerate(values, 1):
            if v is not None:
                first.setdefault(type(v).__name__, i)
        if len(first) > 1:
            kinds = [f"{kind} (row {row})" for kind, row in first.items()]
            return f": column '{name}' mixes {', '.join(kinds[:-1])} and {kinds[-1]}"
    return ""


def save_tables(data: Any, out: Path) -> None:
    """Write each in-memory split of ``data`` (a DataConfig) to ``out/data/<split>.parquet`` and name
    that file in its place, so that the run's ``recipe.yaml`` says what it was trained on."""
    from .data import SPLITS

    for split in SPLITS:
        value = getattr(data, split)
        if not is_table(value):
            continue
        path = (out / "data" / f"{split}.parquet").resolve()
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
        try:
            to_dataset(value, f"data.{split}").to_parquet(str(tmp))
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
        setattr(data, split, str(path))
