"""End to end on a tiny random RoBERTa: a byte-level BPE tokenizer without token type ids, a head of
dense -> tanh -> out_proj, and positions numbered after the padding index (what BERT-only code misses)."""

import json

import pytest

from conftest import run_cli, sample_texts


@pytest.fixture(scope="module")
def tiny_roberta(tmp_path_factory):
    import torch
    from tokenizers import ByteLevelBPETokenizer
    from transformers import RobertaConfig, RobertaModel, RobertaTokenizerFast

    out = tmp_path_factory.mktemp("tiny_roberta")
    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(sample_texts(), vocab_size=800, special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"])
    bpe.save_model(str(out))
    # as roberta-base ships it: add_prefix_space false
    tokenizer = RobertaTokenizerFast(vocab=str(out / "vocab.json"), merges=str(out / "merges.txt"), add_prefix_space=False)
    tokenizer.model_max_length = 128
    tokenizer.save_pretrained(out)
    torch.manual_seed(0)
    config = RobertaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                           num_attention_heads=2, max_position_embeddings=130, type_vocab_size=1, pad_token_id=1)
    RobertaModel(config, add_pooling_layer=False).save_pretrained(out)
    return out


@pytest.mark.parametrize("recipe, extra", [("mrpc", []), ("conll2003", []), ("squad", ["task.doc_stride=32"]),
                                            ("goemotions", [])])
def test_recipe_trains_and_predicts_on_roberta(recipe, extra, tiny_roberta, tmp_path):
    out = tmp_path / "run"
    proc = run_cli(recipe, f"encoder={tiny_roberta}", f"train.output_dir={out}", "train.max_steps=2",
                   "data.max_length=128", *extra)  # the most 130 position embeddings take, numbered from 2
    assert proc.returncode == 0, proc.stderr[-3000:]
    metrics = json.loads((out / "metrics.json").read_text())
    assert "validation" in metrics and (out / "DONE").is_file()
    if recipe == "conll2003":  # words split beforehand are encoded as in running text, in training and after
        assert json.loads((out / "tokenizer_config.json").read_text())["add_prefix_space"] is True
        (tmp_path / "in.jsonl").write_text(json.dumps({"tokens": ["EU", "rejects", "German", "call"]}) + "\n")
        proc = run_cli("predict", str(out), "--input", str(tmp_path / "in.jsonl"), "--output", "-")
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert len(json.loads(proc.stdout)["prediction"]["tags"]) == 4
    if recipe == "goemotions":  # the prior bias went on the layer that gives the logits
        from safetensors.torch import load_file

        bias = load_file(out / "model.safetensors")["classifier.out_proj.bias"]
        assert bias.min() < -1.0  # log-odds of rare labels, not the zero start


def test_a_decoder_without_a_padding_token_trains_and_predicts(tiny_roberta, tmp_path):
    # GPT-2-like: no padding token (before: "Asking to pad but the tokenizer does not have a padding
    # token" once training had started); batches pad with end-of-text, and the head knows that id
    import torch
    from transformers import GPT2Config, GPT2Model, GPT2TokenizerFast

    from bert_tasks import Predictor

    encoder = tmp_path / "gpt"
    tokenizer = GPT2TokenizerFast(vocab=str(tiny_roberta / "vocab.json"), merges=str(tiny_roberta / "merges.txt"),
                                  unk_token="<unk>", bos_token="<s>", eos_token="</s>")
    assert tokenizer.pad_token is None
    tokenizer.save_pretrained(encoder)
    torch.manual_seed(0)
    GPT2Model(GPT2Config(vocab_size=len(tokenizer), n_embd=32, n_layer=2, n_head=2, n_positions=128,
                         eos_token_id=tokenizer.eos_token_id)).save_pretrained(encoder)
    out = tmp_path / "run"
    proc = run_cli("sst2", f"encoder={encoder}", f"train.output_dir={out}", "train.max_steps=2")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads((out / "config.json").read_text())["pad_token_id"] == tokenizer.eos_token_id
    predictor = Predictor.from_run(out)
    texts = ["a good film", "the plot is dull and the acting is worse than the plot"]
    one_by_one = [predictor.predict([t])[0]["score"] for t in texts]
    together = [p["score"] for p in predictor.predict(texts)]  # padded in one batch: the same scores
    assert together == pytest.approx(one_by_one, abs=1e-5)
