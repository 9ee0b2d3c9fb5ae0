"""Read the recipe's data splits into ``datasets.Dataset`` objects.

Files are read with ``datasets.load_dataset`` ("csv" / "json" builders), so
they are cached as Arrow between runs; hub dataset names go to the hub (and
fail with a clear message offline). TSV files are read without quote
handling and with an optional UTF-8 BOM, because real corpora (MRPC) have
stray ``"`` characters, a BOM and CRLF line ends.

========================  ============================================
``.csv``                  comma-separated, header row, quotes honoured
``.tsv`` (``.txt`` with   tab-separated, header row, no quote handling
tabs)
``.json`` / ``.jsonl``    JSON lines, or a JSON list of records
``.parquet``              as ``Dataset.to_parquet`` and the hub write it
``.conll``, ``.bio``, ... one token per line with its tag
any of these + ``.gz`` /  decompressed as read (``train.jsonl.gz``),
``.bz2`` / ``.xz``        as datasets' readers decompress them
a ``save_to_disk`` folder ``load_from_disk`` (of a DatasetDict, the split
                          of the recipe's name)
an http(s) URL            fetched into datasets' download cache
anything else that does   a hub dataset name (``data.hub_config`` picks
not exist as a path       its config; ``name:split`` picks a split)
========================  ============================================
"""

from __future__ import annotations

import bz2
import csv
import glob
import gzip
import io
import json
import logging
import lzma
import os
import re
import shutil
from pathlib import Path
from typing import Any

from .errors import UserError, shown
from .tables import describe, is_table, to_dataset

log = logging.getLogger("bert_tasks")

SPLITS = ("train", "validation", "test")
EXTENSIONS = {
    ".csv": "csv", ".tsv": "tsv", ".json": "json", ".jsonl": "json", ".txt": None, ".parquet": "parquet",
    ".conll": "conll", ".bmes": "conll", ".bio": "conll", ".iob": "conll", ".iobes": "conll",
}
CONLL_SUFFIXES = frozenset(s for s, kind in EXTENSIONS.items() if kind == "conll")  # token-per-line files
# Compressed files are read as what they hold (train.tsv.gz as train.tsv); datasets decompresses them too.
COMPRESSIONS = {".gz": gzip, ".bz2": bz2, ".xz": lzma}
MAGIC = {b"\x1f\x8b": ("gzip", ".gz"), b"BZh": ("bzip2", ".bz2"), b"\xfd7zXZ\x00": ("xz", ".xz")}  # first bytes


def _uncompressed(path: str | os.PathLike) -> Path:
    path = Path(path)
    return path.with_suffix("") if path.suffix.lower() in COMPRESSIONS else path


def data_suffix(path: str | os.PathLike) -> str:
    """The lower-case extension that names a file's format: ``.tsv`` for ``train.tsv`` and ``train.tsv.gz``."""
    return _uncompressed(path).suffix.lower()


def data_stem(path: str | os.PathLike) -> str:
    """A file's name without those extensions: ``train`` for ``train.tsv`` and ``train.tsv.gz``."""
    return _uncompressed(path).stem


def _open(path: str | os.PathLike, mode: str, **kwargs: Any) -> Any:
    """``open``, or gzip/bz2/lzma's ``open`` for a name ending .gz, .bz2 or .xz."""
    module = COMPRESSIONS.get(Path(path).suffix.lower())
    return (open if module is None else module.open)(path, mode, **kwargs)


def open_text(path: str | os.PathLike, errors: str = "strict") -> Any:
    """``path`` opened as UTF-8 text (a BOM dropped), decompressed when its name ends .gz, .bz2 or .xz."""
    return _open(path, "rt", encoding="utf-8-sig", errors=errors)


def _as_list(spec: Any) -> list[str]:
    return [str(s) for s in spec] if isinstance(spec, (list, tuple)) else [str(spec)]


def _is_pattern(path: str) -> bool:
    return any(c in path for c in "*?[")


def _looks_like_path(spec: str) -> bool:
    """A path, not a hub id ('org/name' has one slash and no file extension)."""
    return (
        spec.startswith(("/", ".", "~")) or spec.count("/") > 1 or data_suffix(spec) in EXTENSIONS
        or _is_pattern(spec)
    )


def check_utf8(path: str) -> str:
    """The text of ``path`` (decompressed, see :func:`open_text`); a :class:`UserError` naming the
    byte offset if it is not UTF-8, or what is wrong with a compressed file."""
    try:
        with _open(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError, lzma.LZMAError) as e:  # gzip.BadGzipFile is an OSError
        raise UserError(f"{path}: could not decompress it as {Path(path).suffix.lower()} ({e})") from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        packed = next((kind for magic, kind in MAGIC.items() if raw.startswith(magic)), None)
        if packed:  # before: "not UTF-8 text (byte offset 1)"
            raise UserError(f"{path}: the file is {packed[0]}-compressed; name it {Path(path).name}{packed[1]} "
                            f"(it is then decompressed as it is read), or decompress it") from None
        if raw.startswith(b"PK\x03\x04"):
            raise UserError(f"{path}: the file is a zip archive (an Excel .xlsx workbook is one), not text: "
                            f"save the sheet as .csv, or unzip it and name the files in it") from None
        if raw.startswith(b"PAR1"):
            raise UserError(f"{path}: the file is parquet; name it {Path(path).stem}.parquet") from None
        raise UserError(f"{path}: not UTF-8 text (byte offset {e.start}); convert it, e.g. iconv -t utf-8") from None


def json_records(path: str, text: str, noun: str = "row", example: str = "") -> list[dict]:
    """The objects of a JSON list or of JSON lines.

    Invalid JSON, or a record that is not an object, is a :class:`UserError` naming the line
    (JSON lines) or the record number (a JSON list): "each <noun> must be a JSON object<example>".
    """
    return [row for _, row in placed_json_records(path, text, noun, example)]


def placed_json_records(path: str, text: str, noun: str = "row", example: str = "",
                        fields: tuple[str, ...] = (), list_field: str | None = None) -> list[tuple[str, dict]]:
    """:func:`json_records`, each with its place: ``"<path>:<line>"`` or ``"<path>, record <n>"``.

    With ``fields`` (predict's inputs), a record may also be a string, read as ``{fields[0]: ...}``,
    or a list of as many strings as ``fields``, read as those fields (a pair), as pipelines take them;
    with ``list_field`` (``tokens`` for a tagging run), a list of strings is ``{list_field: [...]}``.
    """
    stripped = text.lstrip()
    records = None
    if stripped.startswith("["):
        skipped = text[: len(text) - len(stripped)].count("\n")
        try:
            records, where = list(enumerate(json.loads(stripped), start=1)), f"{path}, record "
        except json.JSONDecodeError as e:
            if e.msg != "Extra data" or e.lineno == 1:  # "Extra data" on a later line: JSON lines whose first is a list
                raise UserError(
                    f"{path}: not a JSON list of records ({e.msg}: line {e.lineno + skipped} column {e.colno})"
                ) from None
    if records is None:
        records, where = [], f"{path}:"
        # Lines end at \n only: a JSON string may hold U+2028 or U+0085 unescaped (json.dumps(ensure_ascii=False)).
        for number, line in enumerate(text.split("\n"), start=1):
            if line.strip():
                try:
                    records.append((number, json.loads(line)))
                except json.JSONDecodeError as e:
                    raise UserError(f"{path}:{number}: not a JSON record ({e.msg})") from None
    if fields:
        records = [(number, _as_fields(row, fields, list_field)) for number, row in records]
    for number, row in records:
        if not isinstance(row, dict):
            if list_field:
                also = f", a string or a list of {list_field} (strings)"
            else:
                also = f", a string or a list of {len(fields)} strings" if len(fields) > 1 else ", or a string"
            raise UserError(f"{where}{number}: each {noun} must be a JSON object{example}"
                            f"{also if fields else ''}, got {shown(row)}")
    return [(f"{where}{number}", row) for number, row in records]


def _as_fields(row: Any, fields: tuple[str, ...], list_field: str | None = None) -> Any:
    """A JSON string or list of strings as the record of ``fields`` (or ``list_field``) it stands for;
    anything else as it is."""
    if isinstance(row, str):
        return {fields[0]: row}
    strings = isinstance(row, list) and bool(row) and all(isinstance(v, str) for v in row)
    if strings and len(fields) > 1 and len(row) == len(fields):
        return dict(zip(fields, row))
    if strings and list_field:
        return {list_field: row}
    return row


def records_under_data(text: str) -> list[dict] | None:
    """The records of a JSON document that keeps them under ``"data"`` (``{"version": ..., "data":
    [{...}, ...]}``, as the example scripts read with ``load_dataset("json", field="data")``); None for
    any other JSON (lines, a list, columns, SQuAD's articles)."""
    body = text.removeprefix("\ufeff").lstrip()
    if not body.startswith("{") or '"data"' not in body:
        return None
    try:
        doc = json.loads(body)
    except json.JSONDecodeError:  # JSON lines
        return None
    records = doc.get("data") if isinstance(doc, dict) else None
    if not isinstance(records, list) or not records or not all(isinstance(r, dict) for r in records):
        return None
    return None if "paragraphs" in records[0] else records  # SQuAD: read_squad's


def pandas_records(text: str) -> list[dict] | None:
    """The rows of a JSON document in one of pandas' table layouts: ``df.to_json()``'s default
    (``{"text": {"0": ..., "1": ...}, "label": {...}}``, columns of index -> value),
    ``orient="index"`` (``{"0": {"text": ..., "label": ...}, ...}``: told from the default by an
    integer index and column names that are not all integers) or ``orient="split"``
    (``{"columns": [...], "index": [...], "data": [[...], ...]}``); None for any other JSON
    (records, lines, SQuAD's articles). Before, these were read as a single row."""
    body = text.removeprefix("\ufeff").strip()
    if not body.startswith("{") or not body.endswith("}"):
        return None
    try:
        doc = json.loads(body)
    except json.JSONDecodeError:  # JSON lines
        return None
    if not isinstance(doc, dict) or not doc:
        return None
    columns, data = doc.get("columns"), doc.get("data")
    if set(doc) <= {"columns", "index", "data"} and isinstance(columns, list) and isinstance(data, list):
        if all(isinstance(row, list) and len(row) == len(columns) for row in data):
            return [dict(zip(map(str, columns), row)) for row in data]
        return None
    values = list(doc.values())
    if not all(isinstance(v, dict) for v in values):
        return None
    index = list(values[0])
    if any(list(v) != index for v in values) or any(isinstance(x, dict) for v in values for x in v.values()):
        return None
    if all(_is_int(k) for k in doc) and not all(_is_int(k) for k in index):  # orient="index": rows under the index
        return [dict(v) for v in values]
    return [{column: doc[column][i] for column in doc} for i in index]


def _is_int(key: str) -> bool:
    return key.removeprefix("-").isdigit()


def _first_record(path: str, text: str) -> tuple[Any, str] | None:
    """The first record of a JSON list or of JSON lines, and its place; None if there is none."""
    text = text.removeprefix("\ufeff")
    body = text.lstrip()
    try:
        first, end = json.JSONDecoder().raw_decode(body)
    except json.JSONDecodeError:
        return None  # datasets' error is explained afterwards
    if isinstance(first, list) and not body[end:].strip():  # a JSON list of records
        return (first[0], f"{path}, record 1") if first else None
    return first, f"{path}:{text[: len(text) - len(body)].count(chr(10)) + 1}"  # JSON lines: the first line's


def _first_record_is_an_object(found: tuple[Any, str] | None, where: str) -> None:
    """A JSON list or JSON lines whose first record (``found``: :func:`_first_record`) is a list
    (pandas' ``orient="values"``, ``[["a film", 1], ...]``) is an error: datasets would read it as one
    column named ``text`` holding lists, and the run would fail later on a missing column."""
    if found is not None and isinstance(found[0], list):  # (a plain string is a row of one column, 'text')
        raise UserError(
            f"{where}: {found[1]}: a JSON list, not an object naming its columns; write each row "
            'as {"text": ..., "label": ...} (pandas: df.to_json(orient="records", lines=True))'
        )


def _check_same_keys(firsts: list[tuple[Any, str] | None], where: str) -> None:
    """JSON files of one split name the same fields in their first records (before: datasets' "Couldn't cast")."""
    records = [(sorted(found[0]), found[1]) for found in firsts if found is not None and isinstance(found[0], dict)]
    for keys, place in records[1:]:
        if keys != records[0][0]:
            raise UserError(f"{where}: the files of one split need the same fields: {records[0][1]} has "
                            f"{records[0][0]}, {place} has {keys}; rename or drop fields of one of them")


def _explain_json(paths: list[str], where: str) -> None:
    """After datasets failed to read JSON files: name the file and line at fault, if there is one."""
    for path in paths:
        text = check_utf8(path).removeprefix("\ufeff")
        if text.lstrip().startswith("{"):
            try:
                json.loads(text)
                continue  # one JSON object (columns, or SQuAD-like): its shape, not its syntax, is at fault
            except json.JSONDecodeError:
                pass
        try:
            json_records(path, text)
        except UserError as e:
            raise UserError(f"{where}: {e}") from None


def file_format(path: str, fmt: str) -> str:
    """'csv', 'tsv', 'json', 'conll' or 'parquet' for ``path``, from ``data.format`` or the extension
    (sniffing .txt and other suffixes)."""
    if fmt not in ("auto", "hub"):
        return "json" if fmt == "jsonl" else fmt
    kind = EXTENSIONS.get(data_suffix(path))
    if kind:
        return kind
    try:
        with open_text(path, errors="replace") as f:
            first = f.readline()
    except (OSError, EOFError, lzma.LZMAError):
        check_utf8(path)  # raises the error that says what is wrong with the compressed file
        raise
    if first.lstrip().startswith(("{", "[")):
        return "json"
    if first.startswith("-DOCSTART-"):
        return "conll"
    return "tsv" if "\t" in first else "csv"


def expand_paths(paths: list[str], where: str) -> list[str]:
    """``~`` expanded, and each glob pattern (``train-*.csv``) replaced by the files it matches, sorted.

    A folder is an error that names the files in it (datasets' readers take files, not folders).
    """
    out = []
    for p in map(os.path.expanduser, paths):
        if is_url(p) or is_saved_dataset(p):  # fetched by read_files (a '?' in a URL is a query, not a pattern)
            out.append(p)
        elif _is_pattern(p):
            found = sorted(f for f in glob.glob(p) if os.path.isfile(f))
            if not found:
                raise UserError(f"{where}: no file matches {p}")
            out += found
        elif os.path.isdir(p):
            inside = sorted(f.name for f in Path(p).iterdir() if f.is_file())
            suffix = next((data_suffix(f) for f in inside if data_suffix(f) in EXTENSIONS), "")
            holds = f"it holds {', '.join(inside[:5])}{', ...' if len(inside) > 5 else ''}" if inside else "it is empty"
            raise UserError(
                f"{where}: {p} is a folder ({holds}); name its files, or a pattern such as {os.path.join(p, '*' + suffix)}"
            )
        else:
            out.append(p)
    return out


def _records(text: str, kind: str):
    """(line number, fields) of each non-blank record of a csv (quotes honoured) or tsv (none) text."""
    if kind == "tsv":
        for number, line in enumerate(text.split("\n"), 1):
            line = line.rstrip("\r")
            if line:
                yield number, line.split("\t")
        return
    reader = csv.reader(io.StringIO(text), delimiter=",", skipinitialspace=True)  # as read_files reads it
    start = 1
    for fields in reader:
        if fields:
            yield start, fields
        start = reader.line_num + 1


def check_fields(path: str, text: str, kind: str, where: str, header: bool = True,
                 column_names: list | None = None) -> None:
    """Every record of a csv/tsv file has as many fields as its header (or ``column_names``).

    The csv reader fills a short row with empty values, and a first row with one field
    too many turns the first column into an index, shifting every column by one.
    """
    width = what = None
    if column_names is not None and not header:
        width, what = len(column_names), f"data.column_names names {len(column_names)}"
    for number, fields in _records(text.removeprefix("\ufeff"), kind):
        if width is None:
            width = len(fields)
            what = f"the {'header' if header else 'first row'} has {width}"
            twice = next((f for i, f in enumerate(fields) if f in fields[:i]), None) if header else None
            if twice is not None:  # pandas would rename the second one 'name.1', and the first would be read
                raise UserError(f"{where}: {path}:{number}: the header names the column {twice!r} twice; "
                                f"each column needs its own name")
            other = next((d for d in ("\t", ";", "|") if width == 1 and d in fields[0]), None)
            if kind == "csv" and other:  # read as one column, e.g. a tab-separated file named .csv
                fix = "name it .tsv or set data.format=tsv" if other == "\t" else "save it comma-separated"
                raise UserError(
                    f"{where}: {path}:{number}: one field {fields[0]!r}; the file looks separated by {other!r}, "
                    f"not by commas: {fix}"
                )
        elif len(fields) != width:
            if len(fields) < width:
                hint = "a field is missing"
            else:
                hint = "a tab inside a text?" if kind == "tsv" else "a comma inside a text? quote that field"
            if data_suffix(path) == ".txt":  # read as csv/tsv by sniffing: it may be plain text
                hint += "; a file of one text per line is data.format=text"
            raise UserError(f"{where}: {path}:{number}: {len(fields)} field(s), but {what} ({hint})")


def _relative_path_hint(path: str) -> str:
    """For a relative path not found: where it was looked for, and the shipped sample of that name if any
    (a shipped recipe copied to another folder keeps its relative ``data/...`` paths)."""
    if os.path.isabs(path):
        return ""
    from .recipe import RECIPES_DIR

    hint = (f" (a relative path in a recipe file is read beside that file, one on the command line from the "
            f"current folder, {os.getcwd()})")
    shipped = RECIPES_DIR / path
    if shipped.is_file():
        hint += f"; the shipped sample of that name is {shipped}"
    return hint


def is_saved_dataset(path: str) -> bool:
    """A folder written by ``Dataset.save_to_disk`` or ``DatasetDict.save_to_disk``."""
    return os.path.isfile(os.path.join(path, "state.json")) or os.path.isfile(os.path.join(path, "dataset_dict.json"))


def read_saved(path: str, split: str, where: str):
    """The dataset ``save_to_disk`` wrote in ``path``; of a ``DatasetDict``, its split named ``split``."""
    from datasets import DatasetDict, load_from_disk

    try:
        ds = load_from_disk(path)
    except Exception as e:  # noqa: BLE001  (datasets' errors for a damaged folder)
        raise UserError(f"{where}: could not read {path} (saved by save_to_disk): {type(e).__name__}: {e}") from None
    if isinstance(ds, DatasetDict):
        if split not in ds:
            raise UserError(f"{where}: {path} holds the splits {', '.join(ds)}, not {split}; name the folder of the "
                            f"one to read, e.g. {os.path.join(path, next(iter(ds)))}")
        ds = ds[split]
    return drop_unlabelled(ds)


def is_url(path: str) -> bool:
    return path.startswith(("http://", "https://"))


def fetch(url: str, where: str) -> str:
    """A local copy of the file at ``url``, named as the URL names it (its extension tells the format).

    Fetched into datasets' download cache as ``load_dataset`` fetches a ``data_files`` URL (again
    when the server's ETag changes); offline (``HF_HUB_OFFLINE=1``) the cached copy, if there is one.
    """
    from urllib.parse import urlparse

    from datasets import DownloadConfig, config
    from datasets.utils.file_utils import cached_path, hash_url_to_filename

    cache = str(config.DOWNLOADED_DATASETS_PATH)
    if config.HF_HUB_OFFLINE:  # the latest copy: datasets names it <hash of the URL>.<hash of its ETag>
        copies = [f for f in glob.glob(os.path.join(glob.escape(cache), hash_url_to_filename(url) + "*"))
                  if os.path.isfile(f) and not f.endswith((".json", ".lock", ".incomplete"))]
        if not copies:
            raise UserError(f"{where}: {url} cannot be downloaded in offline mode (HF_HUB_OFFLINE) and was not "
                            f"downloaded before; download it while online, or point {where} at a local file")
        local = max(copies, key=os.path.getmtime)
    else:
        try:
            local = cached_path(url, download_config=DownloadConfig(cache_dir=cache))
        except Exception as e:  # noqa: BLE001  (fsspec/aiohttp errors: not found, unreachable host, ...)
            cause = e  # fsspec's FileNotFoundError says only the URL; what aiohttp said is its cause
            while str(cause) in ("", url) and (cause.__cause__ or cause.__context__) is not None:
                cause = cause.__cause__ or cause.__context__
            raise UserError(f"{where}: could not download {url} ({type(cause).__name__}: {cause})") from None
    named = Path(local + ".named", Path(urlparse(url).path).name or "data")
    if not named.is_file():
        named.parent.mkdir(exist_ok=True)
        part = named.with_name(f"{named.name}.{os.getpid()}.part")  # one per process (torchrun ranks fetch alike)
        shutil.copyfile(local, part)
        os.replace(part, named)  # whole or absent, as the cached file itself
    return str(named)


def read_files(
    paths: list[str],
    fmt: str,
    where: str,
    header: bool = True,
    column_names: list | None = None,
    token_column: int = 0,
    tag_column: int = -1,
):
    """Read files of one split into one ``datasets.Dataset``: local paths, glob patterns and
    http(s) URLs (fetched, see :func:`fetch`; messages name the URL).

    ``header=False`` reads csv/tsv files without a header row; their columns are
    ``column_names`` or ``column_1``, ``column_2``, ...
    """
    urls = {}  # local copy -> its URL
    paths = expand_paths(paths, where)
    for i, p in enumerate(paths):
        if is_url(p):
            paths[i] = fetch(p, where)
            urls[paths[i]] = p
    try:
        return _read_local_files(paths, fmt, where, header, column_names, token_column, tag_column)
    except UserError as e:
        message = str(e)
        for local, url in urls.items():
            message = message.replace(local, url)
        if message == str(e):
            raise
        raise UserError(message, e.index) from None


def _read_local_files(paths: list[str], fmt: str, where: str, header: bool, column_names: list | None,
                      token_column: int, tag_column: int):
    from datasets import load_dataset

    for p in paths:
        if is_saved_dataset(p):
            raise UserError(f"{where}: {p} is a dataset saved by save_to_disk: name it alone, not with other files")
        if not os.path.isfile(p):
            raise UserError(f"{where}: file not found: {p}{_relative_path_hint(p)}")
    kinds = {file_format(p, fmt) for p in paths}
    if len(kinds) > 1:
        raise UserError(f"{where}: files of different formats {sorted(kinds)} in one split: {paths}")
    kind = kinds.pop()
    if kind == "parquet":  # binary: as datasets writes it, features (ClassLabel names) included
        return _read_parquet(paths, where)
    texts = {p: check_utf8(p) for p in paths}
    lines = sum(1 for text in texts.values() for line in text.splitlines() if line.strip())
    if lines <= (1 if header and kind in ("csv", "tsv") else 0):  # nothing, or a header alone
        raise UserError(f"{where}: the split is empty (0 rows) in {', '.join(paths)}")
    if kind in ("csv", "tsv"):
        for p, text in texts.items():
            check_fields(p, text, kind, where, header, column_names)
        if header and len(texts) > 1:
            _check_same_header(texts, kind, where)
    if kind == "text":  # one text per line, as datasets' text builder reads it (cached); blank lines are no rows
        return load_dataset("text", data_files=paths, split="train", encoding="utf-8-sig").filter(
            lambda row: bool(row["text"].strip()), desc="skipping blank lines"
        )
    if kind == "conll":
        return read_conll(paths, where, token_column, tag_column)
    if kind == "json" and all(is_squad(p) for p in paths):
        return read_squad(paths, where)
    try:
        if kind == "json":
            field = {"field": "data"} if all(records_under_data(text) for text in texts.values()) else {}
            tables = {} if field else {p: pandas_records(text) for p, text in texts.items()}  # each file parsed once
            if all(rows is None for rows in tables.values()):
                firsts = [_first_record(p, text) for p, text in texts.items()]
                for found in firsts:
                    _first_record_is_an_object(found, where)
                if not field and len(firsts) > 1:
                    _check_same_keys(firsts, where)
                return load_dataset("json", data_files=paths, split="train", **field)
            from datasets import Dataset

            # any pandas table: every file's rows, tables and records (under "data", a list, lines) alike
            rows = [row for p, text in texts.items()
                    for row in (tables[p] if tables[p] is not None else records_under_data(text) or json_records(p, text))]
            if not rows:
                raise UserError(f"{where}: the split is empty (0 rows) in {', '.join(paths)}")
            return Dataset.from_list(rows)
        names = {}
        if not header:
            if column_names is None:
                first = texts[paths[0]].removeprefix("\ufeff").split("\n", 1)[0]
                width = len(first.rstrip("\r").split("\t" if kind == "tsv" else ","))
                column_names = [f"column_{i + 1}" for i in range(width)]
            names = {"header": None, "column_names": list(column_names)}
        columns = column_names if not header else next(_records(texts[paths[0]].removeprefix("\ufeff"), kind))[1]
        return load_dataset(
            "csv",
            data_files=paths,
            split="train",
            **names,
            delimiter="\t" if kind == "tsv" else ",",
            quoting=csv.QUOTE_NONE if kind == "tsv" else csv.QUOTE_MINIMAL,
            # `text, label` / `"a film", 1`: spaces after a comma are no part of a csv cell (a quoted one
            # begins at its quote), so the header names `label` and the cell is `1`
            skipinitialspace=kind == "csv",
            encoding="utf-8-sig",  # drops a BOM if there is one
            keep_default_na=False,  # the text "NA" or "null" is text, not a missing value
            # every cell as written: pandas would type a column of digits, so labels 01, 02 became 1, 2
            converters=dict.fromkeys(columns, str),
        )
    except UserError:
        raise
    except Exception as e:  # noqa: BLE001  (datasets wraps pandas/pyarrow errors; keep the root cause)
        if kind == "json":
            _explain_json(paths, where)
        cause = e
        while cause.__cause__ is not None:
            cause = cause.__cause__
        raise UserError(f"{where}: could not read {', '.join(paths)} as {kind}: {cause}") from None


def _check_same_header(texts: dict[str, str], kind: str, where: str) -> None:
    """csv/tsv files of one split share their header (before: 'An error occurred while generating the dataset')."""
    headers = {p: next(_records(text.removeprefix("\ufeff"), kind), (0, []))[1] for p, text in texts.items()}
    (first_path, first), *others = headers.items()
    for path, other in others:
        if other != first:  # in another order too: datasets then reads some files and fails on others
            fix = "put them in one order" if set(other) == set(first) else "rename or drop columns of one of them"
            raise UserError(f"{where}: the files of one split need the same columns: {first_path} has {first}, "
                            f"{path} has {other}; {fix}")


def _read_parquet(paths: list[str], where: str):
    """Parquet files (what the hub serves, and ``Dataset.to_parquet`` writes) as one split."""
    import pyarrow.parquet as pq
    from datasets import load_dataset

    rows = 0
    for path in paths:
        try:
            rows += pq.ParquetFile(path).metadata.num_rows
        except Exception as e:  # noqa: BLE001  (pyarrow's errors for a file that is no parquet)
            raise UserError(f"{where}: could not read {path} as parquet: {e}") from None
    if rows == 0:
        raise UserError(f"{where}: the split is empty (0 rows) in {', '.join(paths)}")
    return drop_unlabelled(load_dataset("parquet", data_files=paths, split="train"))


def read_conll(paths: list[str], where: str, token_column: int = 0, tag_column: int = -1):
    """Token-per-line files (CoNLL columns, or one character per line): one row per sentence.

    Blank lines end sentences; ``-DOCSTART-`` lines start documents. Columns are
    split on tabs when the file has any, else on whitespace; every line of a file
    must have as many columns as its first. Rows: ``tokens``, ``tags``, ``doc``
    (document index), ``file`` and ``line`` (1-based line of the first token).
    """
    from datasets import Dataset

    rows: dict[str, list] = {"tokens": [], "tags": [], "doc": [], "file": [], "line": []}
    for path in paths:
        for tokens, tags, doc, line in conll_sentences(path, token_column, tag_column):
            for key, value in zip(rows, (tokens, tags, doc, path, line)):
                rows[key].append(value)
    if not rows["tokens"]:
        raise UserError(f"{where}: no sentences in {', '.join(paths)}")
    return Dataset.from_dict(rows)


def conll_sentences(path: str, token_column: int, tag_column: int | None):
    """Yield (tokens, tags, document index, first line) for each sentence of a CoNLL file
    (``tag_column`` None: a file without tags, whose tags are empty lists)."""
    with open_text(path) as f:
        text = f.read()
    tabbed = "\t" in text
    width, doc, start = None, 0, 0
    tokens: list[str] = []
    tags: list[str] = []
    # Lines end at \n only: str.splitlines() would also break a line at characters such as U+2028 or U+0085.
    for number, raw in enumerate([*text.split("\n"), ""], start=1):  # a final blank line ends the last sentence
        line = raw.rstrip("\r")
        cols = (line.split("\t") if tabbed else line.split()) if line.strip() else []
        if not cols or cols[0] == "-DOCSTART-":
            if tokens:
                yield tokens, tags, doc, start
                tokens, tags = [], []
            doc += bool(cols)
            continue
        if len(cols) < 2 and tag_column is not None:
            split = "tabs only, as the file has tabs" if tabbed else "whitespace"
            raise UserError(f"{path}:{number}: a token line needs a token and a tag, in columns split on {split}: "
                            f"{line!r}")
        if width is None:
            width = len(cols)
            for key, column in (("token_column", token_column), ("tag_column", tag_column)):
                if column is not None and not -width <= column < width:
                    raise UserError(
                        f"{path}:{number}: data.{key} {column} is beyond the line's {width} columns "
                        f"(0 to {width - 1}, or -1 for the last): {line!r}"
                    )
        if len(cols) != width:
            raise UserError(
                f"{path}:{number}: {len(cols)} column(s), expected {width} as on the file's first line: {line!r}"
            )
        if not tokens:
            start = number
        tokens.append(cols[token_column].strip())
        if tag_column is not None:
            tags.append(cols[tag_column].strip())


CONLL_TAG = re.compile(r"(O|[BIESMLU]-\S+)")


def looks_like_conll(text: str) -> bool:
    """Token-per-line text with a tag in its last column (``EU NNP B-ORG``, ``张 B-NAME``) or a
    ``-DOCSTART-`` line, told from plain sentences by its first 50 lines that hold tokens."""
    lines = [line.rstrip("\r") for line in text.split("\n", 2000)[:2000] if line.strip()][:50]
    tokens = [line for line in lines if not line.startswith("-DOCSTART-")]
    if not tokens:
        return bool(lines)
    tabbed = "\t" in text
    return all(
        len(cols := line.split("\t") if tabbed else line.split()) >= 2 and CONLL_TAG.fullmatch(cols[-1].strip())
        for line in tokens
    )


def is_squad(path: str) -> bool:
    """A SQuAD-format JSON file: ``{"data": [{"paragraphs": [...]}, ...]}``."""
    import json

    with open_text(path) as f:
        head = f.read(4096).lstrip()
        if not head.startswith("{") or '"data"' not in head:
            return False
        f.seek(0)
        try:
            data = json.load(f)
        except json.JSONDecodeError:  # JSON lines, not one document
            return False
    items = data.get("data") if isinstance(data, dict) else None
    return bool(items) and isinstance(items[0], dict) and "paragraphs" in items[0]


def read_squad(paths: list[str], where: str):
    """SQuAD v1.1 / v2.0 JSON -> one row per question: id, title, question, context, answers.

    ``answers`` is ``{"text": [...], "answer_start": [...]}`` (empty for unanswerable
    questions, ``is_impossible: true`` in v2.0).
    """
    import json

    from datasets import Dataset, Features, Sequence, Value

    rows: dict[str, list] = {"id": [], "title": [], "question": [], "context": [], "answers": []}
    for path in paths:
        with open_text(path) as f:
            data = json.load(f)
        for a_index, article in enumerate(data["data"]):
            for p_index, para in enumerate(article.get("paragraphs", [])):
                for q_index, qa in enumerate(para.get("qas", [])):
                    qid = str(qa.get("id", f"{article.get('title', '')}-{p_index}-{q_index}"))
                    place = f"{path}: data[{a_index}].paragraphs[{p_index}].qas[{q_index}] (id {qid})"
                    answers = [] if qa.get("is_impossible") else qa.get("answers", [])
                    try:
                        question, context = qa["question"], para["context"]
                        texts = [a["text"] for a in answers]
                        starts = [int(a["answer_start"]) for a in answers]
                    except KeyError as e:
                        raise UserError(f"{place}: no {e.args[0]!r} field (SQuAD format)") from None
                    except (ValueError, TypeError) as e:
                        raise UserError(f"{place}: answers need a text and an integer answer_start ({e})") from None
                    rows["id"].append(qid)
                    rows["title"].append(article.get("title", ""))
                    rows["question"].append(question)
                    rows["context"].append(context)
                    rows["answers"].append({"text": texts, "answer_start": starts})
    if not rows["id"]:
        raise UserError(f"{where}: no questions in {', '.join(paths)}")
    features = Features({
        "id": Value("string"), "title": Value("string"), "question": Value("string"), "context": Value("string"),
        "answers": {"text": Sequence(Value("string")), "answer_start": Sequence(Value("int64"))},
    })
    return Dataset.from_dict(rows, features=features)


def read_hub(name: str, config: str | None, split: str, where: str):
    """Load one split of a hub dataset (``name`` or ``name:split``)."""
    from datasets import load_dataset

    if ":" in name:
        name, split = name.rsplit(":", 1)
    try:
        ds = load_dataset(name, config, split=split)
    except Exception as e:  # noqa: BLE001  (any failure to reach the hub)
        offline = os.environ.get("HF_HUB_OFFLINE", "") not in ("", "0") or os.environ.get(
            "HF_DATASETS_OFFLINE", ""
        ) not in ("", "0")
        why = "offline mode is on (HF_HUB_OFFLINE)" if offline else f"{type(e).__name__}: {e}"
        raise UserError(
            f"{where}: '{name}' is not a local file, and loading it as a hub dataset failed: {why}. "
            f"Point {where} at a local csv/tsv/json file."
        ) from None
    return drop_unlabelled(ds)


def drop_unlabelled(ds: Any) -> Any:
    """``ds`` without its ClassLabel columns of -1 only (GLUE's unlabelled test splits), so such a
    split is predicted only. Other ClassLabel columns keep their ids; the adapters read their names
    from the features (:func:`bert_tasks.tasks.base.class_names`)."""
    from datasets import ClassLabel

    for column, feature in ds.features.items():
        if isinstance(feature, ClassLabel) and len(ds) and all(v == -1 for v in ds[column]):
            log.info("column '%s' holds no labels (-1 in every row): the split is predicted only", column)
            ds = ds.remove_columns(column)
    return ds


def read_split(spec: Any, split: str, data: Any = None, where: str | None = None):
    """One split from a path, a list of paths, or a hub name (``data``: the recipe's DataConfig;
    ``where``: the split's name in messages, default ``data.<split>``)."""
    from .recipe import DataConfig

    data = data or DataConfig()
    where = where or f"data.{split}"
    if is_table(spec):  # given from Python: read as a parquet file of that table would be
        return drop_unlabelled(to_dataset(spec, where))
    paths = _as_list(spec)
    folder = os.path.expanduser(paths[0])
    if len(paths) == 1 and is_saved_dataset(folder):
        return read_saved(folder, split, where)
    if data.format != "hub" and (len(paths) > 1 or os.path.exists(paths[0]) or _looks_like_path(paths[0])):
        return read_files(
            paths, data.format, where, data.header, data.column_names, data.token_column, data.tag_column
        )
    return read_hub(paths[0], data.hub_config, split, where)


def _warn_shared_files(data: Any) -> None:
    """A validation or test split read from a train file measures fit, not generalisation: say so."""

    def files(split: str) -> set[str]:  # the split's local files (each split was read, so its paths resolve) and URLs
        spec = getattr(data, split)
        paths = expand_paths(_as_list(spec), f"data.{split}") if spec is not None and not is_table(spec) else []
        return {p if is_url(p) else os.path.realpath(p) for p in paths if is_url(p) or os.path.isfile(p)}

    train = files("train")
    for split in ("validation", "test"):
        shared = sorted(train & files(split))
        if shared:
            log.warning("data.%s reads %s, which data.train reads too: its metrics measure fit to the training "
                        "data, not generalisation", split, ", ".join(shared))
        if data.train is not None and getattr(data, split) is data.train and is_table(data.train):
            log.warning("data.%s is the table data.train is: its metrics measure fit to the training data, "
                        "not generalisation", split)


def load_splits(data: Any, seed: int = 42, where: dict[str, str] | None = None) -> tuple[dict, dict[str, str]]:
    """Read every split the recipe names.

    Args:
        data: the recipe's :class:`~bert_tasks.recipe.DataConfig`.
        seed: seed of the ``validation_from_train`` hold-out.
        where: split -> its name in error messages (default ``data.<split>``).

    Returns:
        (split name -> ``datasets.Dataset``, split name -> a description of its source).
    """
    hold = data.validation_from_train
    if hold and data.validation is not None:
        raise UserError(
            f"data: give either data.validation ({describe(data.validation) if is_table(data.validation) else data.validation}) or data.validation_from_train ({hold}), not both; "
            "delete one (on the command line: ~data.validation_from_train or ~data.validation)"
        )
    splits, sources = {}, {}
    for split in SPLITS:
        spec = getattr(data, split)
        if spec is None:
            continue
        name = (where or {}).get(split, f"data.{split}")
        splits[split] = read_split(spec, split, data, name)
        names = _as_list(spec)  # a glob pattern is named by the files it matched
        sources[split] = describe(spec) if is_table(spec) else ", ".join(
            expand_paths(names, name) if any(map(_is_pattern, names)) else names)
        if len(splits[split]) == 0:  # e.g. a hub split or a JSON list with no rows
            raise UserError(f"{split} split ({sources[split]}): the split is empty (0 rows)")
    _warn_shared_files(data)
    if hold:
        if "train" not in splits:
            raise UserError("data.validation_from_train needs data.train")
        n = len(splits["train"])
        size = hold if isinstance(hold, int) else round(hold * n)
        if hold < 0 or (isinstance(hold, float) and hold >= 1):
            raise UserError(
                f"data.validation_from_train={hold}: give a number of rows (an int of at least 1) "
                f"or a fraction of train (a float between 0 and 1)"
            )
        if size < 1:  # before: "must leave rows in train" for a fraction that holds out no row
            raise UserError(f"data.validation_from_train={hold}: holds out no row of train's {n}; give a larger one")
        if size >= n:
            raise UserError(f"data.validation_from_train={hold}: must leave rows in train ({n} rows)")
        train = splits["train"]
        if data.validation_group:
            # Whole groups (e.g. the questions of one article) go to one side only.
            if data.validation_group not in train.column_names:
                raise UserError(
                    f"data.validation_group: no column '{data.validation_group}' in train; columns are {train.column_names}"
                )
            import random

            groups = train[data.validation_group]
            order = sorted(set(groups), key=str)
            random.Random(seed).shuffle(order)
            chosen, count, sizes = set(), 0, {}
            for g in groups:
                sizes[g] = sizes.get(g, 0) + 1
            for g in order:
                if count >= size:
                    break
                chosen.add(g)
                count += sizes[g]
            held = [i for i, g in enumerate(groups) if g in chosen]
            kept = [i for i, g in enumerate(groups) if g not in chosen]
            if not kept:
                raise UserError(f"data.validation_from_train={hold}: nothing left in train after holding out groups")
            splits["train"], splits["validation"] = train.select(kept), train.select(held)
            what = f"{len(held)} rows ({len(chosen)} {data.validation_group} groups)"
        else:
            parts = train.train_test_split(test_size=size, seed=seed, shuffle=True)
            splits["train"], splits["validation"] = parts["train"], parts["test"]
            what = f"{size} rows"
        sources["validation"] = f"{what} held out of {sources['train']} (seed {seed})"
    if not splits:
        raise UserError("data: no split given; set data.train (and data.validation / data.test)")
    return splits, sources


def check_text_column(ds: Any, column: str, where: str, role: str) -> None:
    """Every value of ``ds[column]`` is a str; else a :class:`UserError` names the split, row and column.

    A JSON ``null``, a number or a list in a text column would otherwise fail inside the
    tokenizer (a TypeError) or, for a list, be silently read as pre-split words. Blank texts
    (a missing field, often) are counted in a warning that names the first.
    """
    values = ds[column]
    dtype = getattr(ds.features[column], "dtype", None)
    if dtype not in ("string", "large_string") or ds.data.column(column).null_count:
        for row, value in enumerate(values):
            if not isinstance(value, str):
                hint = ""
                if len(values) == 1 and isinstance(value, list) and value and all(isinstance(v, str) for v in value):
                    hint = (f"; the split is one row whose '{column}' is a list of {len(value)} texts, as a JSON "
                            "file of columns ({\"" + column + "\": [...], ...}) reads: write one object per row "
                            "(JSON lines, as Dataset.to_json writes, or a list of objects) or pandas' df.to_json()")
                raise UserError(
                    f"{where}, row {row + 1}: column '{column}' ({role}) must hold text, got {shown(value)}{hint}"
                )
    blank = [row for row, value in enumerate(values) if not value.strip()]
    if blank:
        log.warning("%s: %d row(s) with a blank text in column '%s' (%s), the first at row %d",
                    where, len(blank), column, role, blank[0] + 1)
