"""Strict checking of plain mappings against dataclasses (recipe sections, task options).

Unknown keys are errors that name the closest valid key; values are checked
against the field's type annotation and, where it is lossless, coerced
(``"5e-5"`` -> ``5e-05`` for a float field, since YAML 1.1 reads ``5e-5`` as a
string).
"""

from __future__ import annotations

import dataclasses
import difflib
import enum
import re
import types
import typing
from typing import Any, Literal, Union

from .errors import UserError

_MISSING = object()


def closest(key: str, valid: typing.Iterable[str]) -> str:
    """A ' (did you mean ...?)' hint, or '' when nothing is close."""
    match = difflib.get_close_matches(key, list(valid), n=1, cutoff=0.6)
    return f" (did you mean '{match[0]}'?)" if match else ""


def unknown_key_error(where: str, path: str, key: str, valid: typing.Iterable[str], of: str = "") -> UserError:
    """``of`` says what the valid keys are, for a list too long to print (e.g. "TrainingArguments' fields")."""
    valid = sorted(valid)
    hint = closest(key, valid)
    if hint:
        listing = ""
    elif len(valid) <= 30:
        listing = f"; valid keys: {', '.join(valid)}"
    else:  # e.g. TrainingArguments' ~150 fields: those sharing a word with the key, not all of them
        words = [w for w in re.split(r"[^a-z0-9]+", key.lower()) if len(w) > 2]
        related = [v for v in valid if any(w in v for w in words)]
        listing = f"; {len(valid)} keys are valid{f' ({of})' if of else ''}"
        listing += f", among them {', '.join(related[:12])}" if related else ""
    return UserError(f"{where}: unknown key '{path}'{hint}{listing}")


def type_name(tp: Any) -> str:
    """A short human name for a type annotation: 'float', 'int or None', ..."""
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):
        return " or ".join(type_name(a) for a in typing.get_args(tp))
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(tp))
    if tp is type(None):
        return "None"
    if origin is not None:
        name, args = getattr(origin, "__name__", str(origin)), typing.get_args(tp)
        if origin in (list, set, frozenset) and args:  # before: 'list' for list[str], though ['O', 3] is a list
            return f"{name} of {type_name(args[0])}"
        if origin is dict and len(args) == 2:
            return f"dict of {type_name(args[0])} to {type_name(args[1])}"
        return name
    return getattr(tp, "__name__", str(tp))


def coerce(value: Any, tp: Any) -> Any:
    """Return ``value`` converted to fit ``tp``, or ``_MISSING`` if it cannot.

    Unknown or exotic annotations accept anything (TrainingArguments checks its
    own values in ``__post_init__``).
    """
    if tp is Any or tp is object:
        return value
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):
        args = typing.get_args(tp)
        # Try exact matches before lossy ones (a string stays a string in `str | float`).
        for arg in sorted(args, key=lambda a: a is not str and a is not type(value)):
            out = coerce(value, arg)
            if out is not _MISSING:
                return out
        return _MISSING
    if origin is Literal:
        return value if value in typing.get_args(tp) else _MISSING
    if tp is type(None):
        return None if value is None else _MISSING
    if tp is bool:
        return value if isinstance(value, bool) else _MISSING
    if tp is int:
        if isinstance(value, bool):
            return _MISSING
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        return _MISSING
    if tp is float:
        if isinstance(value, bool):
            return _MISSING
        if isinstance(value, (int, float)):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                return _MISSING
        return _MISSING
    if tp is str:
        return value if isinstance(value, str) else _MISSING
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        values = [m.value for m in tp]
        return value if value in values or isinstance(value, tp) else _MISSING
    if origin in (list, tuple, typing.Sequence):
        if not isinstance(value, (list, tuple)):
            return _MISSING
        (item_tp, *_) = typing.get_args(tp) or (Any,)
        items = [coerce(v, item_tp) for v in value]
        return _MISSING if any(i is _MISSING for i in items) else list(items)
    if origin is dict or tp is dict:
        return value if isinstance(value, dict) else _MISSING
    if tp is list:
        return value if isinstance(value, list) else _MISSING
    return value


def check_value(where: str, path: str, value: Any, tp: Any) -> Any:
    out = coerce(value, tp)
    if out is _MISSING:
        raise UserError(
            f"{where}: '{path}' expects {type_name(tp)}, got {value!r} ({type(value).__name__})"
        )
    return out


def build_dataclass(cls: type, raw: dict | None, where: str, prefix: str) -> Any:
    """Instantiate dataclass ``cls`` from ``raw``, rejecting unknown keys and wrong types.

    Args:
        cls: a dataclass type whose field annotations describe the accepted values.
        raw: the mapping read from YAML (None means all defaults).
        where: the file or 'command line', for error messages.
        prefix: the dotted path of ``raw`` inside the recipe ('data', 'task').
    """
    raw = {} if raw is None else raw
    if not isinstance(raw, dict):
        raise UserError(f"{where}: '{prefix}' must be a mapping, got {raw!r}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    values = {}
    for key, value in raw.items():
        if key not in fields:
            raise unknown_key_error(where, f"{prefix}.{key}", str(key), fields)
        values[key] = check_value(where, f"{prefix}.{key}", value, hints[key])
    try:
        return cls(**values)
    except UserError as e:  # a dataclass's own check of its values (__post_init__): say where
        raise UserError(f"{where}: {e}") from None


def help_table(cls: type) -> list[tuple[str, str, str]]:
    """(name, type, help) for each field: what `--help`-like listings print."""
    hints = typing.get_type_hints(cls)
    return [
        (f.name, type_name(hints[f.name]), f.metadata.get("help", ""))
        for f in dataclasses.fields(cls)
        if f.init
    ]
