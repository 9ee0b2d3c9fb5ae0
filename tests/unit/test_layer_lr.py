"""layer_lr: depth of each parameter, per-group learning rates, the recipe key, the Trainer's optimizer."""

import pytest

from bert_tasks.errors import UserError
from bert_tasks.layer_lr import depth, parameter_groups
from bert_tasks.recipe import load_recipe


def test_depth_of_bert_parameter_names():
    assert depth("bert.embeddings.word_embeddings.weight", 6) == 0
    assert depth("bert.encoder.layer.0.attention.self.query.weight", 6) == 1
    assert depth("bert.encoder.layer.5.output.LayerNorm.bias", 6) == 6
    assert depth("bert.pooler.dense.weight", 6) == 7
    assert depth("classifier.weight", 6) == 7
    assert depth("heads.sentiment.bias", 6) == 7


def test_depth_of_other_encoders_parameter_names():
    # before: GPT-2's wte / wpe and Llama's embed_tokens learned at the head's rate, not the lowest
    assert depth("transformer.wte.weight", 2) == depth("transformer.wpe.weight", 2) == 0
    assert depth("model.embed_tokens.weight", 2) == 0
    assert depth("distilbert.embeddings.word_embeddings.weight", 2) == depth("electra.embeddings_project.weight", 2) == 0
    assert depth("transformer.h.1.mlp.c_fc.weight", 2) == 2 and depth("model.layers.0.mlp.up_proj.weight", 2) == 1
    assert depth("transformer.ln_f.weight", 2) == depth("score.weight", 2) == 3


def test_groups_scale_learning_rate_by_depth(tiny_encoder):
    from transformers import AutoModelForSequenceClassification

    model = AutoModelForSequenceClassification.from_pretrained(tiny_encoder, num_labels=2)
    layers = model.config.num_hidden_layers
    names = [n for n, _ in model.named_parameters() if not n.endswith("bias") and "LayerNorm" not in n]
    groups = parameter_groups(model, 0.5, base_lr=1e-3, weight_decay=0.01, decay_names=names)
    lr_of = {id(p): g["lr"] for g in groups for p in g["params"]}
    wd_of = {id(p): g["weight_decay"] for g in groups for p in g["params"]}
    params = dict(model.named_parameters())
    assert lr_of[id(params["classifier.weight"])] == pytest.approx(1e-3)
    assert lr_of[id(params["bert.pooler.dense.weight"])] == pytest.approx(1e-3)
    top = f"bert.encoder.layer.{layers - 1}.output.dense.weight"
    assert lr_of[id(params[top])] == pytest.approx(1e-3 * 0.5)
    assert lr_of[id(params["bert.encoder.layer.0.output.dense.weight"])] == pytest.approx(1e-3 * 0.5**layers)
    assert lr_of[id(params["bert.embeddings.word_embeddings.weight"])] == pytest.approx(1e-3 * 0.5 ** (layers + 1))
    assert wd_of[id(params["classifier.weight"])] == 0.01 and wd_of[id(params["classifier.bias"])] == 0.0
    assert sum(len(g["params"]) for g in groups) == len(params)  # every parameter exactly once


BASIC = """
task: {name: classification}
encoder: embedded
data: {train: train.tsv}
train: {output_dir: out}
"""


def test_recipe_key_checked(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text(BASIC, encoding="utf-8")
    assert load_recipe(path).layer_lr_decay is None
    assert load_recipe(path, ["layer_lr_decay=0.8"]).layer_lr_decay == 0.8
    assert load_recipe(path, ["layer_lr_decay=0.8"]).to_dict()["layer_lr_decay"] == 0.8
    with pytest.raises(UserError, match="layer_lr_decay must be in"):
        load_recipe(path, ["layer_lr_decay=1.5"])
    with pytest.raises(UserError, match="'layer_lr_decay' expects float"):
        load_recipe(path, ["layer_lr_decay=fast"])
    with pytest.raises(UserError, match="did you mean 'layer_lr_decay'"):
        load_recipe(path, ["layer_lr_decy=0.8"])


def test_trainer_optimizer_uses_the_groups(tiny_encoder, tmp_path):
    from bert_tasks.training import build_trainer

    overrides = [f"encoder={tiny_encoder}", f"train.output_dir={tmp_path}/run", "train.learning_rate=0.001"]
    trainer = build_trainer("sst2", [*overrides, "layer_lr_decay=0.5"])
    lrs = sorted({g["lr"] for g in trainer.create_optimizer().param_groups})
    layers = trainer.model.config.num_hidden_layers
    assert lrs == pytest.approx(sorted(0.001 * 0.5**k for k in range(layers + 2)))
    plain = build_trainer("sst2", overrides)
    assert {g["lr"] for g in plain.create_optimizer().param_groups} == {0.001}
