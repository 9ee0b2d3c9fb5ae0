"""cls_forward: the [CLS]-only last layer gives the model's own logits, padded or not."""

import numpy as np
import pytest
import torch

from bert_tasks.cls_forward import _onednn_linear, cls_only, supports_cls_only
from bert_tasks.tasks.base import sequence_logits


@pytest.fixture(scope="module")
def model_and_tokenizer(tiny_encoder):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    torch.manual_seed(0)
    model = AutoModelForSequenceClassification.from_pretrained(tiny_encoder, num_labels=3).eval()
    with torch.no_grad():  # a random pooler/classifier far from zero, so differences would show
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    return model, AutoTokenizer.from_pretrained(tiny_encoder)


TEXTS = ["good movie", "the plot was not good and the film was awful", "fine", "a bad film is a bad film"]
PAIRS = ["great", "poor plot", "the film was fine", "not awful"]


def test_padded_batch_matches_model_forward(model_and_tokenizer):
    model, tok = model_and_tokenizer
    assert supports_cls_only(model)
    enc = tok(TEXTS, PAIRS, padding=True, return_tensors="pt")
    assert not bool(enc["attention_mask"].all())  # the batch really is padded
    with torch.inference_mode():
        full = model(**enc).logits
        with cls_only(model):
            fast = model(**enc).logits
            assert fast.shape == full.shape
        again = model(**enc).logits  # the context restores the normal forward
    torch.testing.assert_close(fast, full, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(again, full)
    assert "forward" not in vars(model.bert)


def test_last_layer_really_is_cls_only(model_and_tokenizer):
    model, tok = model_and_tokenizer
    enc = tok(TEXTS[:2], padding=True, return_tensors="pt")
    with torch.inference_mode(), cls_only(model):
        out = model.bert(**enc)
    assert out.last_hidden_state.shape[1] == 1  # one position computed in the last layer
    full = model.bert(**enc)
    torch.testing.assert_close(out.last_hidden_state[:, 0], full.last_hidden_state[:, 0], rtol=1e-5, atol=1e-5)


def test_training_mode_runs_the_normal_forward(model_and_tokenizer):
    model, tok = model_and_tokenizer
    enc = tok(TEXTS, padding=True, return_tensors="pt")
    model.train()
    try:
        with cls_only(model):
            out = model.bert(**enc)
    finally:
        model.eval()
    assert out.last_hidden_state.shape[1] == enc["input_ids"].shape[1]


def test_other_encoders_are_left_alone():
    class NotBert(torch.nn.Module):
        pass

    model = NotBert()
    assert not supports_cls_only(model)
    with cls_only(model) as m:
        assert m is model


def _cls_only_logits(model, enc):
    with torch.inference_mode(), cls_only(model):
        return model(**enc).logits


def _model_logits(model, enc):
    with torch.inference_mode():
        return model(**enc).logits


@pytest.mark.skipif(not torch.backends.mkldnn.is_available(), reason="torch built without oneDNN")
def test_onednn_and_module_linear_paths_agree(model_and_tokenizer):
    model, tok = model_and_tokenizer
    assert _onednn_linear(model.bert) is not None  # a float32 CPU BERT takes the fused path
    enc = tok(TEXTS, PAIRS, padding=True, return_tensors="pt")
    fused = _cls_only_logits(model, enc)
    with torch.backends.mkldnn.flags(enabled=False):
        assert _onednn_linear(model.bert) is None
        plain = _cls_only_logits(model, enc)
    torch.testing.assert_close(fused, plain, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(fused, _model_logits(model, enc), rtol=1e-5, atol=1e-5)


def test_changed_weights_are_repacked(model_and_tokenizer):
    model, tok = model_and_tokenizer
    enc = tok(TEXTS, padding=True, return_tensors="pt")
    before = _cls_only_logits(model, enc)
    dense = model.bert.encoder.layer[0].output.dense
    saved = dense.weight.detach().clone()
    try:
        with torch.no_grad():
            dense.weight.mul_(3.0)  # in place, as an optimizer step or load_state_dict would
        after = _cls_only_logits(model, enc)
        torch.testing.assert_close(after, _model_logits(model, enc), rtol=1e-5, atol=1e-5)
        assert not torch.allclose(after, before, atol=1e-4)
        dense.weight = torch.nn.Parameter(saved.clone())  # a new parameter object, as assign=True loads give
        torch.testing.assert_close(_cls_only_logits(model, enc), before, rtol=1e-5, atol=1e-5)
    finally:
        dense.weight = torch.nn.Parameter(saved)


def test_non_erf_activation_and_int8_layers_run_their_own_modules(tiny_encoder):
    from transformers import AutoConfig, AutoModelForSequenceClassification, AutoTokenizer

    from bert_tasks.predict import quantize_int8

    tok = AutoTokenizer.from_pretrained(tiny_encoder)
    enc = tok(TEXTS, PAIRS, padding=True, return_tensors="pt")
    config = AutoConfig.from_pretrained(tiny_encoder, num_labels=2, hidden_act="gelu_new")  # tanh GELU
    torch.manual_seed(1)
    model = AutoModelForSequenceClassification.from_config(config).eval()
    torch.testing.assert_close(_cls_only_logits(model, enc), _model_logits(model, enc), rtol=1e-5, atol=1e-5)
    int8 = quantize_int8(model)
    assert _onednn_linear(int8.bert) is None  # quantised linears are called as they are
    # Activations are quantised per call, and the last layer's calls see the [CLS] rows only: close, not equal.
    torch.testing.assert_close(_cls_only_logits(int8, enc), _model_logits(int8, enc), rtol=1e-3, atol=1e-3)


def test_sequence_logits_in_input_order(model_and_tokenizer):
    model, tok = model_and_tokenizer
    got = sequence_logits(model, tok, TEXTS, PAIRS, batch_size=3, max_length=16)
    with torch.inference_mode():
        want = np.stack([model(**tok(a, b, return_tensors="pt")).logits[0].numpy() for a, b in zip(TEXTS, PAIRS)])
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    assert sequence_logits(model, tok, [], None, batch_size=3, max_length=16).shape == (0, 0)
