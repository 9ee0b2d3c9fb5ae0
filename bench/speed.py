"""Speed benchmark: Hugging Face example-style training vs this toolkit, side by side, on SST-2.

    python bench/speed.py                    # 5,000 training examples of ../shared/data/sst2, encoder `embedded`
    python bench/speed.py --examples 8000    # more examples
    python bench/speed.py --skip-hf-padded   # leave out the slow run (1)
    python bench/speed.py --seeds 3          # every run with seeds 42, 43, 44: dev accuracy and speed averaged
    python bench/speed.py --inference-only --run-dir bench/out/speed/bert_tasks   # inference part only

Training, on the same first N sentences of SST-2 train, the same encoder, one pass:
  (1) hf-padded   HF example style (run_glue): padding="max_length", max_length=128, default Trainer settings
  (2) hf-dynamic  the same with dynamic padding (DataCollatorWithPadding) and length-grouped batches
  (3) bert_tasks  the shipped `sst2` recipe with its defaults (only data paths and the epoch count set)
Each run is its own process (so its peak RSS is its own). Printed per run: examples/s, real (non-pad)
tokens/s, effective MFU = 6 x non-embedding parameters x real tokens / training time / matmul peak
(fp32, measured at the start of this invocation), peak RSS, dev accuracy after the pass; then the
ratios of (3) to (1) and (2). Inference on the 872 dev + 1,821 test sentences: the toolkit's
Predictor vs `transformers.pipeline("text-classification")` with its defaults, on the model (3) trained,
labels compared one by one; and the opt-in int8 predictor (`--int8`) vs the fp32 one. Each predictor
is timed as the fastest of --passes (default 3) full passes after a warm-up, the same for all three.
Training time is the Trainer's `train_runtime`, less the time of the dev evaluation the recipe's
defaults run inside training (its checkpoint save stays in; runs (1) and (2) save nothing). Dev
accuracy of (1) and (2) is scored in dev order (see child_hf: under group_by_length, transformers 5's
`trainer.predict` returns reordered predictions; that figure is printed too).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SHARED = Path(os.environ.get("BERT_TASKS_SHARED", HERE.parent.parent / "shared" / "data"))
RUNS = ("hf-padded", "hf-dynamic", "bert_tasks")


def matmul_peak(seconds: float = 3.0, n: int = 2048) -> float:
    """Best fp32 GFLOP/s of an n x n matmul with this process's torch threads."""
    import torch

    a, b = torch.randn(n, n), torch.randn(n, n)
    for _ in range(3):
        a @ b
    best, end = 0.0, time.perf_counter() + seconds
    while time.perf_counter() < end:
        t = time.perf_counter()
        a @ b
        best = max(best, 2 * n**3 / (time.perf_counter() - t) / 1e9)
    return best


def peak_rss_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux


def read_tsv(path: Path, text_col: str) -> tuple[list[str], list[int]]:
    lines = path.read_text(encoding="utf-8").splitlines()
    header = lines[0].split("\t")
    ti, li = header.index(text_col), header.index("label") if "label" in header else None
    rows = [line.split("\t") for line in lines[1:] if line]
    return [r[ti] for r in rows], [int(r[li]) for r in rows] if li is not None else []


def non_embedding_parameters(model) -> int:
    emb = sum(p.numel() for n, p in model.named_parameters() if ".embeddings." in f".{n}")
    return sum(p.numel() for p in model.parameters()) - emb


# ---------------------------------------------------------------- children (one per process)


def child_hf(name: str, work: Path, examples: int, seed: int) -> dict:
    import numpy as np
    from datasets import Dataset
    from transformers import (
        AutoModelForSequenceClassification,
        AutoTokenizer,
        DataCollatorWithPadding,
        Trainer,
        TrainingArguments,
        set_seed,
    )

    from bert_tasks.encoder import resolve_encoder

    path = resolve_encoder("embedded")
    texts, labels = read_tsv(SHARED / "sst2" / "train.tsv", "sentence")
    dev_texts, dev_labels = read_tsv(SHARED / "sst2" / "dev.tsv", "sentence")
    texts, labels = texts[:examples], labels[:examples]
    set_seed(seed)
    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModelForSequenceClassification.from_pretrained(path, num_labels=2)
    padded = name == "hf-padded"

    def encode(batch):
        if padded:
            return tok(batch["sentence"], padding="max_length", max_length=128, truncation=True)
        return tok(batch["sentence"], max_length=128, truncation=True)

    train = Dataset.from_dict({"sentence": texts, "label": labels}).map(encode, batched=True, remove_columns=["sentence"])
    dev = Dataset.from_dict({"sentence": dev_texts, "label": dev_labels}).map(encode, batched=True, remove_columns=["sentence"])
    extra = {} if padded else {"train_sampling_strategy": "group_by_length"}
    args = TrainingArguments(
        output_dir=str(work / name), report_to="none", save_strategy="no", num_train_epochs=1, seed=seed, **extra
    )
    trainer = Trainer(
        model=model,
        args=args,
        train_dataset=train,
        data_collator=None if padded else DataCollatorWithPadding(tok),
        processing_class=tok,
    )
    out = trainer.train()
    # transformers 5 reuses the length-grouped sampler for evaluation under group_by_length, so
    # trainer.predict(dev) comes back reordered (run (2) then scores ~0.50 against the gold order);
    # score both HF runs with an evaluation-only Trainer, which keeps the order.
    shuffled = trainer.predict(dev).predictions.argmax(-1)
    scorer = Trainer(
        model=trainer.model,
        args=TrainingArguments(output_dir=str(work / name), report_to="none"),
        data_collator=trainer.data_collator,
        processing_class=tok,
    )
    preds = scorer.predict(dev).predictions.argmax(-1)
    return {
        "train_seconds": out.metrics["train_runtime"],
        "examples": len(train),
        "real_tokens": int(sum(sum(m) for m in train["attention_mask"])),
        "batch_size": args.per_device_train_batch_size,
        "learning_rate": args.learning_rate,
        "non_embedding_parameters": non_embedding_parameters(model),
        "dev_accuracy": float(np.mean(preds == np.array(dev_labels))),
        "dev_accuracy_trainer_predict": float(np.mean(shuffled == np.array(dev_labels))),
    }


def child_toolkit(work: Path, examples: int, seed: int) -> dict:
    from bert_tasks import build_trainer
    from bert_tasks.training import train as run_recipe

    subset = work / "train_subset.tsv"
    lines = (SHARED / "sst2" / "train.tsv").read_text(encoding="utf-8").splitlines()
    subset.write_text("\n".join(lines[: examples + 1]) + "\n", encoding="utf-8")
    overrides = [
        "encoder=embedded",
        f"data.train={subset}",
        f"data.validation={SHARED}/sst2/dev.tsv",
        "train.num_train_epochs=1",
        f"train.output_dir={work / 'bert_tasks'}",
        "overwrite=true",
        f"train.seed={seed}",
    ]
    run_dir, metrics = run_recipe("sst2", overrides)
    stats = json.loads((Path(run_dir) / "train_results.json").read_text())
    trainer = build_trainer("sst2", overrides)  # for the encoded train split and the recipe's batch
    train_ds = trainer.train_dataset
    state = json.loads((Path(run_dir) / "trainer_state.json").read_text())
    eval_seconds = sum(h.get("eval_runtime", 0.0) for h in state["log_history"])
    return {
        "train_seconds": stats["train_runtime"] - eval_seconds,  # the recipe's dev evaluation is not training
        "eval_seconds_excluded": eval_seconds,
        "examples": len(train_ds),
        "real_tokens": int(sum(len(ids) for ids in train_ds["input_ids"])),
        "batch_size": trainer.args.per_device_train_batch_size,
        "learning_rate": trainer.args.learning_rate,
        "non_embedding_parameters": non_embedding_parameters(trainer.model),
        "dev_accuracy": metrics["validation"]["accuracy"],
        "run_dir": str(run_dir),
    }


def child_inference(name: str, run_dir: str, passes: int) -> dict:
    """Time ``passes`` full passes over SST-2 dev + test after a short warm-up; keep the fastest.

    The first pass over a new set of input shapes also pays one-off costs (oneDNN kernel
    selection per shape), so both sides are timed the same way: best of ``passes``.
    """
    texts = read_tsv(SHARED / "sst2" / "dev.tsv", "sentence")[0] + read_tsv(SHARED / "sst2" / "test.tsv", "sentence")[0]
    if name == "pipeline":
        from transformers import pipeline

        clf = pipeline("text-classification", model=run_dir)

        def predict(batch):
            return [p["label"] for p in clf(batch)]
    else:
        from bert_tasks import Predictor

        predictor = Predictor.from_run(run_dir, int8=name == "predictor-int8")

        def predict(batch):
            return [p["label"] for p in predictor.predict(batch)]

    predict(texts[:8])  # warm-up
    times, labels = [], None
    for _ in range(passes):
        start = time.perf_counter()
        got = predict(texts)
        times.append(time.perf_counter() - start)
        if labels is not None and got != labels:
            raise SystemExit(f"{name}: labels changed between passes")
        labels = got
    return {"seconds": min(times), "all_seconds": times, "labels": labels, "sentences": len(texts)}


# ---------------------------------------------------------------- parent


def spawn(args: list[str]) -> dict:
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", HF_DATASETS_OFFLINE="1")
    proc = subprocess.run([sys.executable, __file__, *args], env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout[-4000:] + proc.stderr[-6000:])
        raise SystemExit(f"child {args[:2]} failed with exit code {proc.returncode}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=5000)
    parser.add_argument("--seeds", type=int, default=1,
                        help="train each run with seeds 42, 43, ...; speed and dev accuracy are averaged over them")
    parser.add_argument("--seed", type=int, default=42, help=argparse.SUPPRESS)
    parser.add_argument("--workdir", default=str(HERE / "out" / "speed"))
    parser.add_argument("--skip-hf-padded", action="store_true")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--run-dir", help="with --inference-only: the sst2 run directory to predict with")
    parser.add_argument("--inference-only", action="store_true", help="skip training; time inference on --run-dir")
    parser.add_argument("--passes", type=int, default=3, help="inference: timed passes per predictor (fastest kept)")
    args = parser.parse_args(argv)
    work = Path(args.workdir)

    if args.child:  # one measurement, printed as the last line of JSON
        if args.child in ("hf-padded", "hf-dynamic"):
            result = child_hf(args.child, work, args.examples, args.seed)
        elif args.child == "bert_tasks":
            result = child_toolkit(work, args.examples, args.seed)
        else:
            result = child_inference(args.child, args.run_dir, args.passes)
        result["peak_rss_gib"] = peak_rss_gib()
        print(json.dumps(result))
        return 0

    if not (SHARED / "sst2" / "train.tsv").is_file():
        print(f"skipped: {SHARED}/sst2 not found (set BERT_TASKS_SHARED)")
        return 0
    work.mkdir(parents=True, exist_ok=True)
    import torch

    peak = matmul_peak()
    what = f"inference with {args.run_dir}" if args.inference_only else f"{args.examples} training examples"
    print(f"fp32 matmul peak: {peak:.1f} GFLOP/s ({torch.get_num_threads()} threads); {what}")
    if args.inference_only:
        if not args.run_dir:
            parser.error("--inference-only needs --run-dir (an sst2 run directory)")
        inference(args.run_dir, args.passes)
        return 0
    results = {}
    seeds = [42 + i for i in range(args.seeds)]
    for name in RUNS:
        if name == "hf-padded" and args.skip_hf_padded:
            continue
        per_seed = []
        for seed in reversed(seeds):  # 42 last: its run directory is the one left for inference
            argv_child = ["--child", name, "--examples", str(args.examples), "--workdir", str(work), "--seed", str(seed)]
            per_seed.append(spawn(argv_child))
        per_seed.reverse()
        r = dict(per_seed[0])  # run_dir, batch size, ... of seed 42 (the recipe's own)
        for key in ("train_seconds", "dev_accuracy"):
            r[key] = sum(x[key] for x in per_seed) / len(per_seed)
        r["peak_rss_gib"] = max(x["peak_rss_gib"] for x in per_seed)
        r["dev_accuracies"] = [x["dev_accuracy"] for x in per_seed]
        r["examples_per_s"] = r["examples"] / r["train_seconds"]
        r["tokens_per_s"] = r["real_tokens"] / r["train_seconds"]
        r["mfu"] = 6 * r["non_embedding_parameters"] * r["tokens_per_s"] / (peak * 1e9)
        results[name] = r
        accuracy = f"dev accuracy {r['dev_accuracy']:.4f}" + (
            f" (mean of seeds {', '.join(f'{a:.4f}' for a in r['dev_accuracies'])})" if len(seeds) > 1 else ""
        )
        print(
            f"{name:>11}: {r['examples_per_s']:7.1f} examples/s  {r['tokens_per_s']:8.0f} real tokens/s  "
            f"MFU {r['mfu']:.3f}  peak RSS {r['peak_rss_gib']:.2f} GiB  {accuracy}  "
            f"(batch {r['batch_size']}, lr {r['learning_rate']:g}, {r['train_seconds']:.0f} s)"
            + (f"; trainer.predict order: {r['dev_accuracy_trainer_predict']:.4f}" if "dev_accuracy_trainer_predict" in r else ""),
            flush=True,
        )
    ours = results["bert_tasks"]
    for name in ("hf-padded", "hf-dynamic"):
        if name in results:
            print(
                f"bert_tasks / {name}: {ours['examples_per_s'] / results[name]['examples_per_s']:.2f}x examples/s, "
                f"dev accuracy {ours['dev_accuracy'] - results[name]['dev_accuracy']:+.4f}"
            )

    inference(ours["run_dir"], args.passes)
    return 0


def inference(run_dir: str, passes: int) -> None:
    """Time pipeline, Predictor and int8 Predictor on SST-2 dev + test with the model in ``run_dir``."""
    runs = ("pipeline", "predictor", "predictor-int8")
    inf = {n: spawn(["--child", n, "--run-dir", run_dir, "--passes", str(passes)]) for n in runs}
    gold = read_tsv(SHARED / "sst2" / "dev.tsv", "sentence")[1]
    names = ("negative", "positive")  # the sst2 recipe's label names for 0 and 1
    for n, r in inf.items():
        dev_acc = sum(p == names[g] for p, g in zip(r["labels"], gold)) / len(gold)
        print(
            f"inference {n:>14}: {r['sentences'] / r['seconds']:7.1f} sentences/s (best of "
            f"{', '.join(f'{t:.1f}' for t in r['all_seconds'])} s), "
            f"dev accuracy {dev_acc:.4f}, peak RSS {r['peak_rss_gib']:.2f} GiB"
        )
    same = sum(a == b for a, b in zip(inf["pipeline"]["labels"], inf["predictor"]["labels"]))
    print(
        f"predictor / pipeline: {inf['pipeline']['seconds'] / inf['predictor']['seconds']:.2f}x; "
        f"identical labels {same}/{inf['pipeline']['sentences']}"
    )
    same8 = sum(a == b for a, b in zip(inf["predictor"]["labels"], inf["predictor-int8"]["labels"]))
    print(
        f"int8 predictor / fp32 predictor: {inf['predictor']['seconds'] / inf['predictor-int8']['seconds']:.2f}x; "
        f"identical labels {same8}/{inf['predictor']['sentences']}"
    )


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
