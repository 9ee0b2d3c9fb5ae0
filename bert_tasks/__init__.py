"""bert_tasks: the BERT paper's fine-tuning recipes on Hugging Face Transformers.

Public API (stable names)::

    from bert_tasks import load_recipe, build_trainer, train, Predictor
    recipe = load_recipe("sst2", ["encoder=embedded", "train.max_steps=50"])
    trainer = build_trainer(recipe)          # a real transformers.Trainer
    trainer.train(); finish_run(trainer)     # your own loop, then the run directory as train() writes it
    run_dir, metrics = train(recipe)         # what the CLI does
    Predictor.from_run(run_dir).predict(["a fine film"])
    evaluate_run(run_dir, "other_test.tsv")  # a finished run scored on another labelled file
"""

from .errors import UserError
from .tasks import TaskAdapter, get_task, register_task

__version__ = "0.1.0"

__all__ = [
    "Predictor",
    "Recipe",
    "TaskAdapter",
    "UserError",
    "build_tiny_bert",
    "build_trainer",
    "dry_run",
    "evaluate_run",
    "evaluate_splits",
    "finish_run",
    "get_task",
    "load_recipe",
    "register_task",
    "train",
]


def __getattr__(name):
    # Lazy: `import bert_tasks` stays fast (no torch / transformers until used).
    if name in ("load_recipe", "Recipe"):
        from . import recipe

        return getattr(recipe, name)
    if name in ("build_trainer", "train", "dry_run", "evaluate_splits", "finish_run"):
        from . import training

        return getattr(training, name)
    if name == "evaluate_run":
        from .evaluation import evaluate_run

        return evaluate_run
    if name == "Predictor":
        from .predict import Predictor

        return Predictor
    if name == "build_tiny_bert":
        from .encoder import build_tiny_bert

        return build_tiny_bert
    raise AttributeError(f"module 'bert_tasks' has no attribute {name!r}")
