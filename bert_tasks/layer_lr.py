"""Layer-wise learning-rate decay: lower layers of the encoder learn more slowly than upper ones.

With decay ``d`` and an encoder of ``L`` layers, the task head (and pooler) get the recipe's
``learning_rate``, layer ``L`` (the top one) ``lr * d``, layer ``k`` ``lr * d ** (L + 1 - k)``,
and the embeddings ``lr * d ** (L + 1)`` (the scheme used for ELECTRA and in Sun et al., "How to
Fine-Tune BERT for Text Classification?", 2019). Set it with the recipe's top-level key
``layer_lr_decay`` (e.g. ``0.8``); absent or ``1.0`` leaves transformers' optimizer as it is.
The scheduler scales every group's rate the same way, so the ratios hold during warm-up and decay.

Example:
    >>> groups = parameter_groups(model, 0.8, base_lr=1e-4, weight_decay=0.01, decay_names=names)  # doctest: +SKIP
"""

from __future__ import annotations

import re
from typing import Any

_LAYER = re.compile(r"(?:^|\.)(?:layer|layers|block|blocks|h)\.(\d+)\.")
# token and position embeddings: BERT's "embeddings", Llama's "embed_tokens", GPT-2's "wte" / "wpe"
_EMBEDDINGS = re.compile(r"embed|(?:^|\.)(?:wte|wpe)\.")


def depth(name: str, num_layers: int) -> int:
    """0 for embeddings, k + 1 for a parameter of encoder layer k, num_layers + 1 for the rest (head)."""
    match = _LAYER.search(name)
    if match:
        return min(int(match.group(1)) + 1, num_layers)
    if _EMBEDDINGS.search(name):
        return 0
    return num_layers + 1


def parameter_groups(
    model: Any, decay: float, base_lr: float, weight_decay: float, decay_names: set[str] | list[str]
) -> list[dict]:
    """Optimizer parameter groups: one per (depth, weight decay or not), each with its own ``lr``."""
    num_layers = int(getattr(model.config, "num_hidden_layers", 0) or 0)
    if not num_layers:
        raise ValueError("layer_lr_decay needs an encoder whose config has num_hidden_layers")
    decay_names = set(decay_names)
    groups: dict[tuple[int, bool], dict] = {}
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        level = depth(name, num_layers)
        decayed = name in decay_names
        group = groups.setdefault(
            (level, decayed),
            {
                "params": [],
                "lr": base_lr * decay ** (num_layers + 1 - level),
                "weight_decay": weight_decay if decayed else 0.0,
            },
        )
        group["params"].append(param)
    return [groups[k] for k in sorted(groups)]
