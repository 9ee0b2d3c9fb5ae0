"""Quality benchmark: the shipped recipes, encoder `embedded`, on the full data in ../shared/data.

    python bench/quality.py                 # both tasks
    python bench/quality.py sst2            # one task
    python bench/quality.py sst2 train.learning_rate=5e-5   # extra overrides for every task

SST-2: full train (67,349), one epoch, no checkpoint selection; reported on the GLUE dev set.
MRPC: full train with 408 pairs held out (seeded) for checkpoint selection; reported on the
MRPC test file (1,725 pairs), which is never used for selection or tuning.
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
}


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
        figures = "  ".join(f"{k}={metrics[split][k]:.4f}" for k in keys if k in metrics[split])
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
