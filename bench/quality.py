"""Quality benchmark: the shipped recipes, encoder `embedded`, on the full data in ../shared/data.

    python bench/quality.py                 # every task
    python bench/quality.py sst2 mrpc       # some tasks
    python bench/quality.py sst2 train.learning_rate=5e-5   # extra overrides for every task

SST-2: full train (67,349), one epoch, no checkpoint selection; reported on the GLUE dev set.
MRPC: full train with 408 pairs held out (seeded) for checkpoint selection; reported on the
MRPC test file (1,725 pairs), which is never used for selection or tuning.
CoNLL-2003: train for training, dev for checkpoint selection; test entity F1 (strict, micro), with
the count of invalid predicted sequences and the HF-style argmax figures beside the constrained ones.
SQuAD: trained on SQuAD-Shifts New Wikipedia with a tenth of its articles held out for checkpoint
choice; reported on XQuAD-en (SQuAD v1.1 dev questions), with the F1 of questions whose answer lies
beyond the first window beside the F1 of the rest.
GoEmotions (multi-label and multi-head): full train; dev for thresholds and checkpoint selection;
reported on test, with the macro-F1 at a fixed 0.5 threshold beside the tuned (`auto`) one.
Prints each figure with the run's wall time and training examples/s; skips cleanly when
../shared/data is absent.
"""

import json
import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SHARED = Path(os.environ.get("BERT_TASKS_SHARED", HERE.parent.parent / "shared" / "data"))
OUT = HERE / "out"

TASKS = {
    "sst2": (
        [
            f"data.train={SHARED}/sst2/train.tsv",
            f"data.validation={SHARED}/sst2/dev.tsv",
            "train.num_train_epochs=1",
        ],
        "validation",
        ["accuracy", "f1", "macro_f1"],
    ),
    "mrpc": (
        [
            f"data.train={SHARED}/mrpc/msr_paraphrase_train.txt",
            f"data.test={SHARED}/mrpc/msr_paraphrase_test.txt",
        ],
        "test",
        ["f1", "accuracy", "macro_f1", "mcc"],
    ),
    "conll2003": (
        [
            f"data.train={SHARED}/conll2003/train.txt",
            f"data.validation={SHARED}/conll2003/dev.txt",
            f"data.test={SHARED}/conll2003/test.txt",
        ],
        "test",
        ["f1", "precision", "recall", "invalid_sequences", "argmax_f1", "argmax_invalid_sequences"],
    ),
    "squad": (
        [
            f"data.train={SHARED}/squad/new_wiki_v1.0.json",
            f"data.test={SHARED}/squad/xquad.en.json",
        ],
        "test",
        ["f1", "exact_match", "beyond_first_window_f1", "beyond_first_window_total", "in_first_window_f1",
         "in_first_window_total"],
    ),
    "goemotions": (
        [
            f"data.train={SHARED}/goemotions/train.tsv",
            f"data.validation={SHARED}/goemotions/dev.tsv",
            f"data.test={SHARED}/goemotions/test.tsv",
        ],
        "test",
        ["macro_f1", "macro_f1_at_0.5", "micro_f1", "micro_f1_at_0.5", "subset_accuracy", "hamming_loss"],
    ),
    "goemotions_multihead": (
        [
            f"data.train={SHARED}/goemotions/train.tsv",
            f"data.validation={SHARED}/goemotions/dev.tsv",
            f"data.test={SHARED}/goemotions/test.tsv",
        ],
        "test",
        ["ekman/accuracy", "ekman/macro_f1", "sentiment/accuracy", "sentiment/macro_f1"],
    ),
}


def figure(metrics: dict, key: str) -> float | None:
    """``metrics[key]``, or ``metrics['a']['b']`` for ``'a/b'`` (a head's metrics)."""
    value = metrics
    for part in key.split("/"):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def main(argv: list[str]) -> int:
    names = [a for a in argv if a in TASKS] or list(TASKS)
    extra = [a for a in argv if a not in TASKS]
    if not SHARED.is_dir():
        print(f"skipped: {SHARED} not found (set BERT_TASKS_SHARED)")
        return 0
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from bert_tasks import load_recipe, train

    rows = []
    for name in names:
        overrides, split, keys = TASKS[name]
        recipe = load_recipe(
            name, ["encoder=embedded", f"train.output_dir={OUT}/{name}", "overwrite=true", *overrides, *extra]
        )
        start = time.time()
        run_dir, metrics = train(recipe)
        wall = time.time() - start
        stats = json.loads((Path(run_dir) / "train_results.json").read_text())
        figures = "  ".join(
            f"{k}={figure(metrics[split], k):.4f}" if isinstance(figure(metrics[split], k), float)
            else f"{k}={figure(metrics[split], k)}"
            for k in keys if figure(metrics[split], k) is not None
        )
        row = (
            f"{name}: {split} {figures}  | wall {wall / 60:.1f} min, training {stats['train_runtime'] / 60:.1f} min, "
            f"{stats['train_samples_per_second']:.1f} train examples/s"
        )
        print(row, flush=True)
        rows.append(row)
    print("\n".join(["", "== quality benchmark =="] + rows))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
