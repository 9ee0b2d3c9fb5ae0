"""Command line: ``python -m bert_tasks.run <recipe name|path> [key=value ...] [flags]``.

Prediction: ``python -m bert_tasks.run predict <run_dir> --input FILE|- [--output FILE|-] [--int8]``.
Evaluation: ``python -m bert_tasks.run evaluate <run_dir> --data FILE [--output DIR]``.

Flags: ``--list`` (shipped recipes), ``--print-config`` (resolved recipe, no
training), ``--dry-run`` (load data and model, show the first encoded example),
``--debug`` (tracebacks). Bad input exits with status 2 and one short message.

Examples:
    python -m bert_tasks.run --list
    python -m bert_tasks.run sst2 encoder=embedded train.num_train_epochs=1
    python -m bert_tasks.run mrpc --print-config
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import sys

from .errors import UserError


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m bert_tasks.run",
        description="Fine-tune a BERT encoder with a recipe (YAML).",
        epilog="Overrides: dotted.key=value (a YAML scalar), ~dotted.key to delete. "
        "Example: python -m bert_tasks.run sst2 encoder=embedded train.max_steps=50. "
        "Prediction with a finished run: python -m bert_tasks.run predict RUN_DIR --input FILE|- "
        "(see predict --help); scores on another labelled file: python -m bert_tasks.run evaluate RUN_DIR "
        "--data FILE (see evaluate --help).",
    )
    p.add_argument("recipe", nargs="?", help="shipped recipe name (see --list) or path to a YAML file")
    p.add_argument("overrides", nargs="*", help="key=value overrides")
    mode = p.add_mutually_exclusive_group()  # before: --print-config --dry-run silently did the first only
    mode.add_argument("--list", action="store_true", help="list the shipped recipes")
    mode.add_argument("--print-config", action="store_true", help="print the resolved recipe and exit")
    mode.add_argument("--dry-run", action="store_true", help="load data and model, print a summary, do not train")
    p.add_argument("--debug", action="store_true", help="show tracebacks")
    return p


def _print_metrics(run_dir: str, metrics: dict, what: str = "run directory") -> None:
    for split, values in metrics.items():
        shown = {k: round(v, 4) for k, v in values.items() if isinstance(v, float) and not k.startswith("f1_")}
        print(f"{split}: " + "  ".join(f"{k}={v}" for k, v in shown.items()))
    print(f"{what}: {run_dir}")


def _print_dry_run(info: dict) -> None:
    example = info.pop("first_example")
    for key, value in info.items():
        print(f"{key}: {json.dumps(value, ensure_ascii=False)}")
    print(f"first encoded example ({example.pop('split')}):")
    print("  tokens:      " + " ".join(example.pop("tokens")))
    segments = example.pop("segment_ids")
    if segments is not None:
        print("  segment ids: " + " ".join(str(s) for s in segments))
    for key, value in example.items():
        print(f"  {key}: {value}")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expects a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _predict_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m bert_tasks.run predict",
        description="Predict with a finished run directory.",
        epilog="Input: .jsonl/.json records (text/text_pair, tokens, or question/context), .csv/.tsv with a "
        "header, .parquet, or text with one input per line (tab-separated fields; a first line naming those fields or "
        "the run's data.columns is a header). Columns named as in the run's data.columns (SST-2's 'sentence') "
        "are read as their roles; SQuAD-format JSON gives one row per question, and a CoNLL/BMES file one "
        "row per sentence (tagging runs). Output: JSON lines.",
    )
    p.add_argument("run_dir", help="a run directory written by training")
    p.add_argument("overrides", nargs="*", metavar="data.KEY=VALUE", help="how the input file is read, where it "
                   "differs from the training data: data.columns.text=review, data.header=false, data.max_length=256 "
                   "(read longer inputs), ...")
    p.add_argument("--input", required=True, help="input file, or - for standard input (JSON if it starts "
                   "with { or [, else text with one input per line)")
    p.add_argument("--output", help="output file or folder, or - for standard output (default: "
                   "<input>.predictions.jsonl next to the input, standard output for --input -; never the input "
                   "itself)")
    p.add_argument("--batch-size", type=_positive_int, default=64, help="inputs per forward pass (default 64)")
    p.add_argument("--int8", action="store_true", help="int8 dynamic quantisation on CPU (faster, close to fp32)")
    p.add_argument("--debug", action="store_true", help="show tracebacks")
    return p


def _evaluate_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m bert_tasks.run evaluate",
        description="Score a finished run on a labelled file, as training scores its test split.",
        epilog="The file is read with the run's data settings (format, data.columns, header, token/tag columns) "
        "and scored by its task (metrics.json as the run's, predictions, plots).",
    )
    p.add_argument("run_dir", help="a run directory written by training")
    p.add_argument("overrides", nargs="*", metavar="data.KEY=VALUE", help="how the file is read, where it "
                   "differs from the training data: data.columns.text=review, data.format=csv, data.header=false, "
                   "data.max_length=256, ...")
    p.add_argument("--data", required=True, nargs="+", help="labelled file(s) in the run's data format, or a hub "
                   "dataset name")
    p.add_argument("--output", help="folder for metrics.json, predictions and plots (default: "
                   "RUN_DIR/evaluations/<file name>; an earlier evaluation there is replaced)")
    p.add_argument("--batch-size", type=_positive_int, help="examples per forward pass (default: the run's "
                   "train.per_device_eval_batch_size)")
    p.add_argument("--debug", action="store_true", help="show tracebacks")
    return p


def _guarded(debug: bool, work) -> int:
    """Run ``work()``; bad input -> status 2 and one line, other failures -> 1 (tracebacks with --debug)."""
    try:
        return work()
    except UserError as e:
        if debug:
            raise
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as e:
        print(f"interrupted{': ' + str(e) if str(e) else ''}", file=sys.stderr)
        return 130
    except (SystemExit, GeneratorExit):
        raise
    except BaseException as e:  # Exception, and Rust panics from tokenizers (pyo3's PanicException)
        if debug:
            raise
        print(f"error: {type(e).__name__}: {e} (run with --debug for the traceback)", file=sys.stderr)
        return 1


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if argv[:1] == ["predict"]:
        pargs = _predict_parser().parse_intermixed_args(argv[1:])

        def predict() -> int:
            from .predict import predict_file

            written = predict_file(pargs.run_dir, pargs.input, pargs.output, pargs.batch_size, pargs.int8,
                                   pargs.overrides)
            if written != "-":  # on standard output, only the predictions
                print(f"predictions: {written}")
            return 0

        return _guarded(pargs.debug, predict)
    if argv[:1] == ["evaluate"]:
        eargs = _evaluate_parser().parse_intermixed_args(argv[1:])

        def evaluate() -> int:
            from .evaluation import evaluate_run

            # `--data FILE data.columns.text=x`: --data takes several files, so it also took the override
            moved = [d for d in eargs.data if re.match(r"~?[A-Za-z_][\w.]*=", d) and not os.path.exists(d)]
            files = [d for d in eargs.data if d not in moved]
            if not files:
                raise UserError("evaluate: --data names no file")
            data = files[0] if len(files) == 1 else files
            folder, metrics = evaluate_run(eargs.run_dir, data, eargs.output, eargs.batch_size,
                                           [*eargs.overrides, *moved])
            _print_metrics(folder, metrics, "evaluation")
            return 0

        return _guarded(eargs.debug, evaluate)
    args = _parser().parse_intermixed_args(argv)  # flags may stand anywhere among the overrides

    def work() -> int:
        from .recipe import list_recipes, load_recipe

        if args.list:
            for name, summary in list_recipes():
                print(f"{name:22s} {summary}")
            return 0
        if not args.recipe:
            raise UserError("name a recipe (see --list), e.g. python -m bert_tasks.run sst2")
        recipe = load_recipe(args.recipe, args.overrides)
        if args.print_config:
            print(recipe.to_yaml(), end="")
            return 0
        from . import training

        if args.dry_run:
            _print_dry_run(training.dry_run(recipe))
            return 0
        run_dir, metrics = training.train(recipe)
        if training.writes_the_run():  # once under torchrun / accelerate launch, not by every process
            _print_metrics(run_dir, metrics)
        return 0

    return _guarded(args.debug, work)


if __name__ == "__main__":
    sys.exit(main())
