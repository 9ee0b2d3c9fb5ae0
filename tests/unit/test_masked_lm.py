import copy
import re
from collections import Counter

import numpy as np
import pytest
import torch
from datasets import Dataset

from bert_tasks.errors import UserError
from bert_tasks.recipe import load_recipe
from bert_tasks.tasks.masked_lm import IGNORE, MaskedLM, MaskedLMOptions, MaskingCollator, choose_tokens, mask_batch


def adapter(**kw):
    return MaskedLM(MaskedLMOptions(name="masked_lm", **kw))


@pytest.fixture(scope="module")
def tokenizer(tiny_encoder):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_encoder)


def encoded(ad, tokenizer, text, text_pair=None, max_length=64):
    texts, pairs = text, text_pair
    data = {"text": texts} if pairs is None else {"text": texts, "text_pair": pairs}
    rows = ad.prepare({"train": Dataset.from_dict(data)}, {})
    return rows["train"].map(ad.encode_fn(tokenizer, max_length), batched=True, remove_columns=rows["train"].column_names)


def test_word_ids_group_the_pieces_of_a_word_and_skip_special_tokens(tokenizer):
    ds = encoded(adapter(), tokenizer, ["unflinchingly bleak film"], ["the plot"])
    tokens = tokenizer.convert_ids_to_tokens(ds[0]["input_ids"])
    words = ds[0]["word_ids"]
    assert len(words) == len(tokens)
    for token, word in zip(tokens, words):
        assert (word == -1) == (token in ("[CLS]", "[SEP]"))
    pieces = [w for t, w in zip(tokens, words) if t.startswith("##")]
    assert pieces, tokens  # the word is split into pieces with this vocabulary
    for i, t in enumerate(tokens):
        if t.startswith("##"):
            assert words[i] == words[i - 1]  # a piece belongs to the word before it
    # five words, numbered 0-4 across both texts (the second text's words follow the first's)
    assert sorted(set(words) - {-1}) == [0, 1, 2, 3, 4]


def test_choose_tokens_takes_whole_words_within_the_budget():
    words = [-1, 0, 0, 0, 1, 2, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, -1]  # 20 tokens, 16 words
    rand = torch.Generator().manual_seed(1)
    counts = Counter()
    for _ in range(300):
        chosen = choose_tokens(words, 0.15, rand)
        assert 1 <= len(chosen) <= 3  # round(0.15 * 20) = 3 tokens at most
        assert all(words[p] >= 0 for p in chosen)
        for w in {words[p] for p in chosen}:  # a chosen word is chosen whole
            assert {p for p in range(len(words)) if words[p] == w} <= set(chosen)
        counts.update(chosen)
    assert counts[1] == counts[2] == counts[3] > 0  # the 3-piece word: always all three pieces together
    assert choose_tokens([-1, -1], 0.15, rand) == []


def test_mask_batch_replaces_chosen_tokens_80_10_10(tokenizer):
    n, width = 400, 50
    ids = torch.randint(1000, 2000, (n, width))
    ids[:, 0], ids[:, -1] = tokenizer.cls_token_id, tokenizer.sep_token_id
    words = torch.arange(width).expand(n, width).clone() - 1
    words[:, -1] = -1
    opts = MaskedLMOptions(name="masked_lm")
    inputs, labels = mask_batch(ids, words, opts, tokenizer, torch.Generator().manual_seed(0))
    chosen = labels != IGNORE
    assert chosen.sum(1).tolist() == [round(0.15 * 48)] * n  # 7 of 48 tokens in every row
    assert torch.equal(labels[chosen], ids[chosen])  # labels are the original tokens
    assert torch.equal(inputs[~chosen], ids[~chosen])  # nothing else changes
    total = int(chosen.sum())
    masked = int((inputs[chosen] == tokenizer.mask_token_id).sum()) / total
    kept = int((inputs[chosen] == ids[chosen]).sum()) / total
    assert masked == pytest.approx(0.8, abs=0.03) and kept == pytest.approx(0.1, abs=0.03)


def test_single_piece_masking_when_whole_words_are_off(tokenizer):
    words = torch.tensor([[-1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, -1]])  # one 10-piece word
    ids = torch.arange(100, 112)[None]
    ww = mask_batch(ids, words, MaskedLMOptions(name="masked_lm"), tokenizer, torch.Generator().manual_seed(0))[1]
    assert int((ww != IGNORE).sum()) == 10  # the only word, whole (the budget cannot split a word)
    single = MaskedLMOptions(name="masked_lm", whole_word_mask=False)
    one = mask_batch(ids, words, single, tokenizer, torch.Generator().manual_seed(0))[1]
    assert int((one != IGNORE).sum()) == round(0.15 * 10)


def test_collator_masks_training_rows_afresh_and_pads_fixed_masks(tokenizer):
    ad = adapter()
    ds = encoded(ad, tokenizer, ["a gorgeous witty film about the plot of a film"] * 2 + ["bad"])
    collate = MaskingCollator(tokenizer, ad.options)
    rows = [dict(r) for r in ds]
    first, second = collate(rows), collate(rows)
    assert first["input_ids"].shape == first["labels"].shape == (3, len(rows[0]["input_ids"]))
    assert "word_ids" not in first  # the model never gets it
    assert not torch.equal(first["labels"], second["labels"])  # dynamic masking
    assert (first["labels"][2, len(rows[2]["input_ids"]):] == IGNORE).all()  # padding is never predicted
    fixed = [{**r, "labels": [IGNORE] + r["input_ids"][1:2] + [IGNORE] * (len(r["input_ids"]) - 2)} for r in rows]
    batch = collate(fixed)
    assert batch["labels"][0, 1] == rows[0]["input_ids"][1] and (batch["labels"][2, 3:] == IGNORE).all()
    assert batch["input_ids"][0].tolist() == rows[0]["input_ids"]  # only padded


def test_validation_masks_are_fixed(tokenizer):
    masks = []
    for _ in range(2):
        ad = adapter()
        features = {"train": encoded(ad, tokenizer, ["a film"] * 3), "validation": encoded(ad, tokenizer, ["the plot is good"] * 8)}
        ad.attach({"train": None, "validation": None}, features)
        assert "labels" not in features["train"].column_names
        masks.append(features["validation"]["labels"])
    assert masks[0] == masks[1]
    assert len({tuple(m) for m in masks[0]}) > 1  # each row drawn from its own seed, not one mask repeated


def test_metrics_score_masked_positions_only():
    from types import SimpleNamespace

    gold = [[IGNORE, 5, IGNORE, 7], [IGNORE, 9, IGNORE, IGNORE]]
    pred = [[1, 5, 2, 0], [3, 9, 4, 4]]
    got = adapter().compute_metrics(SimpleNamespace(predictions=torch.tensor(pred).numpy(), label_ids=torch.tensor(gold).numpy()))
    assert got == {"accuracy": pytest.approx(2 / 3)}


@pytest.mark.parametrize(
    "override, message",
    [
        ("task.mlm_probability=1.5", "task.mlm_probability must be between 0 and 1, got 1.5"),
        ("task.mlm_probability=0", "task.mlm_probability must be above 0"),
        ("task.random_replace_prob=0.3", "task.mask_replace_prob + task.random_replace_prob must be at most 1"),
        ("task.top_k=0", "task.top_k must be at least 1"),
    ],
)
def test_bad_options_name_the_key_and_where(override, message, tmp_path):
    with pytest.raises(UserError) as e:
        load_recipe("sst2_mlm", [override])
    assert str(e.value).startswith(f"command line: {message}")
    key, value = override.split("=")
    recipe = tmp_path / "mlm.yaml"
    recipe.write_text(f"task: {{name: masked_lm, {key.split('.')[1]}: {value}}}\nencoder: x\ndata: {{train: t.txt}}\n"
                      "train: {output_dir: o}\n", encoding="utf-8")
    with pytest.raises(UserError, match="^" + re.escape(f"{recipe}: {message}")):
        load_recipe(str(recipe))


def test_head_at_masked_positions_gives_the_full_heads_loss_and_logits(tiny_encoder, tokenizer):
    from transformers import AutoModelForMaskedLM

    from bert_tasks.tasks.masked_lm import head_at_masked_positions

    ad = adapter()
    rows = [dict(r) for r in encoded(ad, tokenizer, ["a gorgeous witty film about the plot", "bad film", "the plot is good"])]
    batch = MaskingCollator(tokenizer, ad.options)(rows)
    full = AutoModelForMaskedLM.from_pretrained(tiny_encoder).eval()
    sparse = head_at_masked_positions(copy.deepcopy(full))  # the same (partly random) head
    with torch.no_grad():
        want, got = full(**batch), sparse(**batch)
        plain = sparse(**{k: v for k, v in batch.items() if k != "labels"})  # no labels: the whole head, as loaded
    scored = batch["labels"] != IGNORE
    assert got.logits.shape == (int(scored.sum()), full.config.vocab_size)
    assert torch.allclose(got.logits, want.logits[scored], atol=1e-5)
    assert got.loss.item() == pytest.approx(want.loss.item(), rel=1e-5)
    assert torch.allclose(plain.logits, want.logits, atol=1e-5)
    top = ad.preprocess_logits()
    assert torch.equal(top(got.logits, batch["labels"]), top(want.logits, batch["labels"]))


@pytest.mark.parametrize("kind", ["bert", "roberta", "xlm-roberta", "distilbert"])
def test_every_listed_head_gives_the_same_loss_at_masked_positions(kind):
    from transformers import AutoConfig, AutoModelForMaskedLM

    from bert_tasks.tasks.masked_lm import HEAD_AT_MASKED_POSITIONS, head_at_masked_positions

    small = {"vocab_size": 99, "max_position_embeddings": 40}
    sizes = ({"dim": 16, "hidden_dim": 32, "n_layers": 1, "n_heads": 2} if kind == "distilbert" else
             {"hidden_size": 16, "intermediate_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2})
    torch.manual_seed(0)
    full = AutoModelForMaskedLM.from_config(AutoConfig.for_model(kind, **small, **sizes)).eval()
    assert type(full).__name__ in HEAD_AT_MASKED_POSITIONS
    sparse = head_at_masked_positions(copy.deepcopy(full))
    ids = torch.randint(5, 99, (3, 12))
    labels = torch.full_like(ids, IGNORE)
    labels[0, 2], labels[1, 5], labels[1, 6], labels[2, 11] = 7, 8, 9, 10
    with torch.no_grad():
        want = full(input_ids=ids, labels=labels)
        got = sparse(input_ids=ids, labels=labels)
    assert got.logits.shape == (4, 99)
    assert got.loss.item() == pytest.approx(want.loss.item(), rel=1e-5)
    assert torch.allclose(got.logits, want.logits[labels != IGNORE], atol=1e-5)


def test_a_long_text_becomes_consecutive_windows_and_no_token_is_lost(tokenizer):
    ad = adapter()
    text = "a gorgeous witty film about the plot of a film that is good and bad and the plot is dull"
    whole = tokenizer(text)["input_ids"][1:-1]
    ds = encoded(ad, tokenizer, ["the plot", text, "bad"], max_length=8)
    assert ad.cuts_at_max_length is False
    windows = ds["window"]
    assert windows[0] == 0 and windows[-1] == 0 and windows[1:-1] == list(range(len(windows) - 2))
    assert len(windows) - 2 == -(-len(whole) // 6) > 1  # 6 text tokens per window of 8
    pieces = []
    for row in list(ds)[1:-1]:
        assert len(row["input_ids"]) <= 8
        assert row["input_ids"][0] == tokenizer.cls_token_id and row["input_ids"][-1] == tokenizer.sep_token_id
        pieces += row["input_ids"][1:-1]
    assert pieces == whole
    features = {"train": ds}
    ad.attach({"train": Dataset.from_dict({"text": ["the plot", text, "bad"]})}, features)
    assert ad.row_of["train"].tolist() == [0] + [1] * (len(windows) - 2) + [2]
    assert ad.windowed["train"] == len(windows) - 3


def test_a_text_pair_is_cut_not_windowed(tokenizer):
    ad = adapter()
    ds = encoded(ad, tokenizer, ["the plot is good and the film is bad " * 3], ["a film"], max_length=8)
    assert ad.cuts_at_max_length is True and len(ds) == 1 and len(ds[0]["input_ids"]) == 8


def test_rows_without_a_token_are_dropped_with_a_warning(tokenizer, caplog):
    ad = adapter()
    texts = ["the plot", "", "a film", "   ", "bad"]
    features = {"train": encoded(ad, tokenizer, texts), "validation": encoded(ad, tokenizer, ["", "good film"])}
    rows = {"train": Dataset.from_dict({"text": texts}), "validation": Dataset.from_dict({"text": ["", "good film"]})}
    ad.sources = {"train": "train.tsv", "validation": "dev.tsv"}
    with caplog.at_level("WARNING", logger="bert_tasks"):
        ad.attach(rows, features)
    assert rows["train"]["text"] == ["the plot", "a film", "bad"] and len(features["train"]) == 3
    assert rows["validation"]["text"] == ["good film"] and len(features["validation"]) == 1
    assert any(n != IGNORE for n in features["validation"][0]["labels"])  # the kept row is masked
    assert "train split (train.tsv): 2 row(s) with no token to predict (blank text) skipped, the first at row 2" in caplog.text
    blank = {"train": encoded(ad, tokenizer, ["", " "])}
    with pytest.raises(UserError, match="train split .*no row has a token to predict"):
        ad.attach({"train": Dataset.from_dict({"text": ["", " "]})}, blank)


def test_report_joins_the_windows_of_a_long_text(tokenizer, tmp_path):
    import json
    from types import SimpleNamespace

    ad = adapter()
    texts = ["the plot is good and the film is bad and the plot is dull", "a film"]
    features = {"validation": encoded(ad, tokenizer, texts, max_length=6)}
    rows = {"validation": Dataset.from_dict({"text": texts})}
    ad.attach(rows, features)
    n = len(features["validation"])
    assert n > 3
    width = max(len(f) for f in features["validation"]["labels"])
    gold = np.full((n, width), IGNORE)
    for i, labels in enumerate(features["validation"]["labels"]):
        gold[i, : len(labels)] = labels
    output = SimpleNamespace(predictions=gold.copy(), label_ids=gold, metrics={"validation_loss": 1.0})
    metrics = ad.report("validation", rows["validation"], output, str(tmp_path))
    records = [json.loads(line) for line in (tmp_path / "predictions_validation.jsonl").read_text().splitlines()]
    assert [r["text"] for r in records] == texts
    masked = tokenizer.convert_ids_to_tokens(gold[gold != IGNORE].tolist())
    assert records[0]["masked"] + records[1]["masked"] == masked  # every window's masked tokens, in order
    assert records[0]["masked"] == records[0]["predicted"] and len(records[0]["masked"]) >= n - 1
    assert metrics["accuracy"] == 1.0 and metrics["masked_tokens"] == len(masked) and metrics["windowed_texts"] == n - 2


def test_a_checkpoint_without_an_mlm_head_is_explained_not_called_corrupted(tiny_encoder, tmp_path, caplog):
    import logging

    seen = []
    handler = logging.Handler()
    handler.emit = lambda record: seen.append(record.getMessage())
    transformers_log = logging.getLogger("transformers.modeling_utils")
    transformers_log.addHandler(handler)
    try:
        with caplog.at_level("WARNING", logger="bert_tasks"):
            model = adapter().build_model(tiny_encoder)  # the tiny BERT ships no MLM head, as embedded does not
    finally:
        transformers_log.removeHandler(handler)
    assert f"encoder {tiny_encoder} ships no masked-LM head: the head starts untrained" in caplog.text
    assert seen and not [m for m in seen if "seem corrupted" in m]  # transformers' other messages pass
    model.save_pretrained(tmp_path / "with_head")
    caplog.clear()
    with caplog.at_level("WARNING", logger="bert_tasks"):
        adapter().build_model(str(tmp_path / "with_head"))
    assert "ships no masked-LM head" not in caplog.text


def test_model_config_reaches_the_masked_lm_model(tiny_encoder):
    # as for every other task: before, "unknown key 'task.model_config'" for masked_lm alone
    recipe = load_recipe("sst2_mlm", [f"encoder={tiny_encoder}", "task.model_config={hidden_dropout_prob: 0.0}"])
    model = MaskedLM(recipe.task).build_model(tiny_encoder)
    assert model.config.hidden_dropout_prob == 0.0
    assert adapter().build_model(tiny_encoder).config.hidden_dropout_prob == 0.1


def test_words_whitespace_groups_the_characters_of_space_separated_words(tmp_path):
    # Chinese BERT tokenizers split every character: with words=whitespace, a pre-segmented word is masked whole
    from transformers import AutoTokenizer

    from bert_tasks import build_tiny_bert
    from bert_tasks.tasks.masked_lm import space_runs

    assert space_runs(" ab  c d") == [0, 0, 0, 0, 0, 1, 1, 2]
    zh = AutoTokenizer.from_pretrained(build_tiny_bert(tmp_path / "zh", ["我 喜欢 这部 电影 。 今天 天气"], lowercase=False))
    rows = {"text": ["我 喜欢 这部 电影。"], "text_pair": ["今天 天气"]}
    by_tokenizer = encoded(adapter(), zh, **rows)[0]["word_ids"]
    assert by_tokenizer == [-1, 0, 1, 2, 3, 4, 5, 6, 7, -1, 8, 9, 10, 11, -1]  # one word per character
    ad = adapter(words="whitespace")
    ds = encoded(ad, zh, **rows)
    assert ds[0]["word_ids"] == [-1, 0, 1, 1, 2, 2, 3, 3, 3, -1, 4, 4, 5, 5, -1]  # 喜欢 one word; 。 joins 电影
    ids, words = torch.tensor([ds[0]["input_ids"]] * 200), torch.tensor([ds[0]["word_ids"]] * 200)
    _, labels = mask_batch(ids, words, ad.options, zh, torch.Generator().manual_seed(0))
    for row in labels != IGNORE:
        for w in set(words[0][row].tolist()):  # a chosen word is chosen with all its characters
            assert row[words[0] == w].all()
    with pytest.raises(UserError, match="task.words"):
        load_recipe("sst2_mlm", ["task.words=spaces"])
