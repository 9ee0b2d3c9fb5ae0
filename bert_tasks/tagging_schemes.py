"""Entity spans <-> tag sequences, for every common tag scheme, in one place.

Schemes: ``iob1`` (original CoNLL-2003: ``I-`` by default, ``B-`` only between
two adjacent entities of one type), ``iob2`` (BIO), ``iobes`` (BIOES), ``bmes``
(``M`` = ``I``), ``bilou`` (``L`` = ``E``, ``U`` = ``S``).

Reading tags into spans uses one repair rule for sequences that are invalid
under their scheme: **a continuation tag (I/M/E/L) that does not continue an
open entity of its type starts a new entity, and an entity left open (no E/L
in IOBES/BMES/BILOU) ends at its last tagged token.** Invalid positions are
counted so that readers can report them.

A span is ``(type, start, end)`` with ``end`` exclusive.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence

SCHEMES = ("iob1", "iob2", "iobes", "bmes", "bilou")
Span = tuple[str, int, int]

# Canonical prefixes: B (begin), I (inside), E (end), S (single), O.
_CANON = {"B": "B", "I": "I", "M": "I", "E": "E", "L": "E", "S": "S", "U": "S", "O": "O"}


def split_tag(tag: str) -> tuple[str, str]:
    """``'B-PER'`` -> ``('B', 'PER')``; ``'O'`` -> ``('O', '')``; BMES/BILOU prefixes canonicalised."""
    if tag in ("O", ""):
        return "O", ""
    prefix, sep, kind = tag.partition("-")
    if not sep or prefix not in _CANON:
        raise ValueError(f"tag '{tag}' is not O or <prefix>-<type> with a prefix in B/I/M/E/L/S/U")
    return _CANON[prefix], kind


def detect_scheme(sequences: Iterable[Sequence[str]]) -> str:
    """Guess the scheme from the prefixes used (and, for IOB, whether I- starts entities)."""
    prefixes: Counter = Counter()
    starts_with_i = 0
    for tags in sequences:
        prev = "O"
        for tag in tags:
            p = tag.split("-", 1)[0] if tag != "O" else "O"
            prefixes[p] += 1
            if p == "I" and (prev == "O" or split_tag(prev)[1] != split_tag(tag)[1]):
                starts_with_i += 1
            prev = tag
    if prefixes["M"]:
        return "bmes"
    if prefixes["L"] or prefixes["U"]:
        return "bilou"
    if prefixes["E"] or prefixes["S"]:
        return "iobes" if not prefixes["M"] else "bmes"
    if starts_with_i > prefixes["B"]:  # IOB1 starts most entities with I-
        return "iob1"
    return "iob2"


def to_spans(tags: Sequence[str], scheme: str) -> tuple[list[Span], list[int]]:
    """Entity spans of a tag sequence, and the positions that were invalid under ``scheme``.

    Invalid sequences are repaired by the module's rule (see the module docstring).
    """
    spans: list[Span] = []
    invalid: list[int] = []
    open_kind, open_start = None, 0
    has_end = scheme in ("iobes", "bmes", "bilou")

    def close(end: int, broken: bool = False) -> None:
        nonlocal open_kind
        if open_kind is not None:
            spans.append((open_kind, open_start, end))
            if broken and has_end:
                invalid.append(end - 1)
        open_kind = None

    for i, tag in enumerate(tags):
        p, kind = split_tag(tag)
        if p in ("O", "S", "B") or (p in ("I", "E") and open_kind != kind):
            close(i, broken=True)
        if p == "O":
            continue
        if p == "S":
            spans.append((kind, i, i + 1))
            continue
        if p == "B":
            open_kind, open_start = kind, i
        elif open_kind is None:  # I/E that continues nothing: starts an entity
            if scheme != "iob1" or p == "E":
                invalid.append(i)
            open_kind, open_start = kind, i
        if p == "E":
            close(i + 1)
    close(len(tags), broken=True)
    return spans, invalid


def from_spans(spans: Iterable[Span], length: int, scheme: str = "iobes") -> list[str]:
    """Tags of ``length`` tokens for non-overlapping ``spans``, in ``iobes`` or ``iob2``."""
    tags = ["O"] * length
    for kind, start, end in spans:
        if scheme == "iobes" and end - start == 1:
            tags[start] = f"S-{kind}"
            continue
        tags[start] = f"B-{kind}"
        for i in range(start + 1, end):
            tags[i] = f"I-{kind}"
        if scheme == "iobes":
            tags[end - 1] = f"E-{kind}"
    return tags


def convert(tags: Sequence[str], source: str, target: str = "iobes") -> tuple[list[str], list[int]]:
    """Convert a sequence between schemes; returns (tags, invalid positions in the source)."""
    spans, invalid = to_spans(tags, source)
    return from_spans(spans, len(tags), target), invalid


def label_set(types: Iterable[str], scheme: str = "iobes") -> list[str]:
    """``O`` then every prefix of every type: ``['O', 'B-LOC', 'I-LOC', 'E-LOC', 'S-LOC', ...]``."""
    prefixes = ("B", "I", "E", "S") if scheme == "iobes" else ("B", "I")
    return ["O"] + [f"{p}-{t}" for t in sorted(set(types)) for p in prefixes]


def allowed_transition(prev: str, tag: str, scheme: str = "iobes") -> bool:
    """Whether ``tag`` may follow ``prev`` in a valid sequence (``prev='O'`` at the start)."""
    pp, pk = split_tag(prev)
    p, k = split_tag(tag)
    inside = pp in ("B", "I")  # an entity of type pk is open
    if scheme == "iobes":
        if p in ("I", "E"):
            return inside and pk == k
        return not inside  # O, B, S need no open entity
    # iob2: I-X continues B-X/I-X only
    return p != "I" or (pp in ("B", "I") and pk == k)


def allowed_end(tag: str, scheme: str = "iobes") -> bool:
    """Whether a sequence may end on ``tag``."""
    return scheme != "iobes" or split_tag(tag)[0] in ("O", "E", "S")
