"""PNG plots for the run directory (matplotlib, headless)."""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Sequence
from pathlib import Path

log = logging.getLogger("bert_tasks")


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # no display on servers and CI
    import matplotlib.pyplot as plt

    return plt


def drawable_names(names: Sequence[str], where: str) -> tuple[list[str], dict]:
    """Label names as the plot can write them, and the ``fontfamily`` keyword that writes them.

    A name with a character that the default font (DejaVu Sans) lacks, e.g. Chinese, is written with
    an installed font that has it (Noto Sans CJK, ...) as the fallback; where none has it, the
    name's class id (``#3``) stands in its place, with one warning (before: a matplotlib warning per
    character and empty boxes in the PNG).
    """
    from matplotlib import font_manager, ft2font

    load = functools.lru_cache(maxsize=None)(ft2font.FT2Font)

    def covers(path: str, text: str) -> bool:
        try:
            font = load(path)
        except (OSError, RuntimeError, ValueError):  # a font file FreeType cannot read
            return False
        return all(font.get_char_index(ord(c)) for c in text if not c.isspace())

    default = font_manager.FontProperties()
    names = [str(n) for n in names]
    lacking = [n for n in names if not covers(font_manager.findfont(default), n)]
    if not lacking:
        return names, {}
    needed = "".join(sorted({c for n in lacking for c in n}))
    for entry in font_manager.fontManager.ttflist:
        # "Last Resort" has a placeholder box for every code point: it writes nothing readable
        if not entry.name.startswith("Last Resort") and covers(entry.fname, needed):
            return names, {"fontfamily": [*default.get_family(), entry.name]}
    shown = [f"#{i}" if n in lacking else n for i, n in enumerate(names)]
    log.warning("%s: no installed font can write the label names %s, so the plot shows their class ids "
                "(%s); install a font that has their characters (e.g. Noto Sans CJK) to see the names", where,
                ", ".join(lacking[:5]), ", ".join(x for x in shown if x.startswith("#"))[:60])
    return shown, {}


def _save(fig, path: str | os.PathLike) -> Path:
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=100, bbox_inches="tight")
    os.replace(tmp, path)
    return path


def training_curves(log_history: list[dict], path: str | os.PathLike, metric: str | None = None) -> Path:
    """Training loss (and validation loss / ``metric``) against the optimizer step."""
    plt = _pyplot()
    fig = curves_figure(log_history, metric)
    out = _save(fig, path)
    plt.close(fig)
    return out


def curves_figure(log_history: list[dict], metric: str | None = None):
    """The figure of :func:`training_curves`: losses on the left axis, ``metric`` on the right one, and
    one legend for all curves below the plot (two legends inside it covered each other and the curves)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    train = [(h["step"], h["loss"]) for h in log_history if "loss" in h and "step" in h]
    evals = [(h["step"], h["eval_loss"]) for h in log_history if "eval_loss" in h]
    if train:
        ax.plot(*zip(*train), label="train loss")
    if evals:
        ax.plot(*zip(*evals), marker="o", label="validation loss")
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    key = f"eval_{metric}" if metric else None
    scores = [(h["step"], h[key]) for h in log_history if key and key in h]
    handles = ax.get_legend_handles_labels()[0]
    if scores:
        ax2 = ax.twinx()
        ax2.plot(*zip(*scores), color="tab:green", marker="s", label=f"validation {metric}")
        ax2.set_ylabel(metric)
        handles += ax2.get_legend_handles_labels()[0]
    if handles:
        ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=len(handles), frameon=False)
    if not (train or evals):  # fewer steps than train.logging_steps and no evaluation: nothing was logged
        ax.text(0.5, 0.5, "no loss logged\n(fewer steps than train.logging_steps)", ha="center", va="center",
                transform=ax.transAxes)
    ax.set_title("training curves")
    return fig


ANNOTATED_CLASSES = 30  # counts written in the cells up to this many classes
NAMED_CLASSES = 80  # label names on the axes up to this many


def confusion_matrix(matrix: Sequence[Sequence[int]], labels: Sequence[str], path: str | os.PathLike, title: str) -> Path:
    """A confusion-matrix heat map: rows gold, columns predicted, counts in the cells.

    Many classes (intent sets of 150 or more) would make a figure 0.6 inch per class with a number in
    each of n x n cells: 151 classes took 22 s and 2.2 GiB. The figure stays within 24 inches; counts
    are written up to ``ANNOTATED_CLASSES`` classes, label names up to ``NAMED_CLASSES`` (smaller
    as they grow); beyond that the axes count class ids (the matrix itself is in metrics.json).
    """
    plt = _pyplot()
    n = len(labels)
    labels, font = drawable_names(labels, Path(path).name)
    side = min(1.0 + 0.6 * n, 24.0)
    fig, ax = plt.subplots(figsize=(side + 0.2, side))
    ax.imshow(matrix, cmap="Blues", interpolation="nearest")
    if n <= NAMED_CLASSES:
        size = 10 if n <= 30 else max(4.0, 300 / n)
        ax.set_xticks(range(n), labels, rotation=45 if n <= 30 else 90, ha="right" if n <= 30 else "center",
                      fontsize=size, **font)
        ax.set_yticks(range(n), labels, fontsize=size, **font)
    ax.set_xlabel("predicted" if n <= NAMED_CLASSES else "predicted (class id)")
    ax.set_ylabel("gold" if n <= NAMED_CLASSES else "gold (class id)")
    if n <= ANNOTATED_CLASSES:
        peak = max((max(row) for row in matrix), default=0)
        for i, row in enumerate(matrix):
            for j, v in enumerate(row):
                ax.text(j, i, str(v), ha="center", va="center", color="white" if v > peak / 2 else "black")
    ax.set_title(title)
    out = _save(fig, path)
    plt.close(fig)
    return out


def bar_chart(values: dict[str, float], path: str | os.PathLike, title: str, ylabel: str) -> Path:
    """One bar per key (e.g. F1 per label), in the given order."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(max(4.0, 0.35 * len(values) + 1.5), 4))
    ax.bar(range(len(values)), list(values.values()), color="tab:blue")
    names, font = drawable_names(list(values), Path(path).name)
    ax.set_xticks(range(len(values)), names, rotation=60, ha="right", **font)
    ax.set_ylabel(ylabel)
    ax.set_ylim(0, 1)
    ax.set_title(title)
    out = _save(fig, path)
    plt.close(fig)
    return out
