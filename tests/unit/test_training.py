import pytest

from bert_tasks.errors import UserError
from bert_tasks.recipe import list_recipes
from bert_tasks.training import build_trainer


@pytest.mark.parametrize("name", [name for name, _ in list_recipes()])
def test_metric_names_are_what_evaluation_reports(name, tiny_encoder, tmp_path):
    trainer = build_trainer(name, [f"encoder={tiny_encoder}", f"train.output_dir={tmp_path}", "train.report_to=none"])
    names = trainer.job.adapter.metric_names()
    assert names, "every shipped task knows its metrics before training"
    reported = trainer.evaluate()
    assert {f"eval_{n}" for n in names} <= set(reported), (names, sorted(reported))
    default = trainer.job.adapter.default_metric
    assert default in ["loss", *names]


def test_a_misspelt_best_metric_fails_before_training(tiny_encoder, tmp_path):
    with pytest.raises(UserError, match=r"train.metric_for_best_model 'acuracy' is not a metric of task classification "
                                        r"\(did you mean 'accuracy'\?\); its metrics: loss, accuracy, macro_f1"):
        build_trainer("sst2", [f"encoder={tiny_encoder}", f"train.output_dir={tmp_path}",
                               "train.metric_for_best_model=acuracy"])
    trainer = build_trainer("sst2", [f"encoder={tiny_encoder}", f"train.output_dir={tmp_path}",
                                     "train.metric_for_best_model=eval_f1_positive"])  # Trainer's eval_ prefix is fine
    assert trainer.args.metric_for_best_model == "eval_f1_positive"
