"""Constrained Viterbi decoding of tag scores: every output is a valid entity sequence.

The transition rules are those of :func:`bert_tasks.tagging_schemes.allowed_transition`
(IOBES: no ``I-``/``E-`` without an open ``B-``/``I-`` of the same type, no entity
left open at the end; IOB2: ``I-X`` only after ``B-X``/``I-X``). Scores are
per-token log-probabilities; the path maximises their sum under the rules.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import numpy as np

from .tagging_schemes import allowed_end, allowed_transition


@lru_cache(maxsize=16)
def _masks(labels: tuple[str, ...], scheme: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(transition mask (prev, next), start mask, end mask) as additive 0 / -inf arrays."""
    n = len(labels)
    trans = np.full((n, n), -np.inf)
    for i, a in enumerate(labels):
        for j, b in enumerate(labels):
            if allowed_transition(a, b, scheme):
                trans[i, j] = 0.0
    start = np.array([0.0 if allowed_transition("O", b, scheme) else -np.inf for b in labels])
    end = np.array([0.0 if allowed_end(b, scheme) else -np.inf for b in labels])
    return trans, start, end


def viterbi(log_probs: np.ndarray, labels: Sequence[str], scheme: str = "iobes") -> list[int]:
    """Best valid label-id path for ``log_probs`` of shape (tokens, labels)."""
    length = log_probs.shape[0]
    if length == 0:
        return []
    trans, start, end = _masks(tuple(labels), scheme)
    score = log_probs[0] + start  # (labels,)
    back = np.zeros((length, len(labels)), dtype=np.int64)
    for t in range(1, length):
        cand = score[:, None] + trans  # (prev, next)
        back[t] = cand.argmax(0)
        score = cand.max(0) + log_probs[t]
    score = score + end
    path = [int(score.argmax())]
    for t in range(length - 1, 0, -1):
        path.append(int(back[t, path[-1]]))
    return path[::-1]


def argmax(log_probs: np.ndarray) -> list[int]:
    """Plain per-token argmax (HF style; may yield invalid sequences)."""
    return [int(i) for i in log_probs.argmax(-1)] if len(log_probs) else []
