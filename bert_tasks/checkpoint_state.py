"""Trainer checkpoint state (optimizer, scheduler, RNG, grad scaler) as safetensors + JSON, never pickle.

``Trainer`` writes ``optimizer.pt``, ``scheduler.pt``, ``rng_state.pth`` and ``training_args.bin``
with ``torch.save`` (pickle). A run directory of this toolkit holds none: a nested state
(dicts with int or str keys, lists, tuples, numbers, strings, tensors, numpy arrays) is stored
as one ``.safetensors`` file whose tensors are the state's tensors and whose metadata holds the
rest of the structure as JSON, with each tensor replaced by a reference to its key.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from .rundir import atomic_path

FORMAT = "bert_tasks.state.v1"


def _pack(value: Any, tensors: dict, path: str) -> Any:
    import numpy as np
    import torch

    if isinstance(value, torch.Tensor):
        key = path or "root"
        tensors[key] = value.detach().cpu().contiguous()
        return {"__tensor__": key}
    if isinstance(value, np.ndarray):
        key = path or "root"
        tensors[key] = torch.from_numpy(np.ascontiguousarray(value).astype(value.dtype.newbyteorder("=")))
        return {"__numpy__": key, "dtype": value.dtype.str}
    if isinstance(value, dict):
        return {"__dict__": [[k, _pack(v, tensors, f"{path}.{k}")] for k, v in value.items()]}
    if isinstance(value, (list, tuple)):
        items = [_pack(v, tensors, f"{path}.{i}") for i, v in enumerate(value)]
        return {"__tuple__": items} if isinstance(value, tuple) else items
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"cannot store a {type(value).__name__} at '{path}' in a safetensors state file")


def _unpack(value: Any, tensors: dict, device: Any) -> Any:
    if isinstance(value, list):
        return [_unpack(v, tensors, device) for v in value]
    if not isinstance(value, dict):
        return value
    if "__tensor__" in value:
        t = tensors[value["__tensor__"]]
        return t.to(device) if device is not None else t
    if "__numpy__" in value:
        import numpy as np

        return tensors[value["__numpy__"]].numpy().astype(np.dtype(value["dtype"]))
    if "__tuple__" in value:
        return tuple(_unpack(v, tensors, device) for v in value["__tuple__"])
    return {k: _unpack(v, tensors, device) for k, v in value["__dict__"]}


def save_state(state: Any, path: str | os.PathLike) -> None:
    """Write ``state`` to ``path`` (safetensors), atomically."""
    from safetensors.torch import save_file

    tensors: dict = {}
    skeleton = _pack(state, tensors, "")
    # safetensors refuses tensors that share memory; states hold few, small ones, so copy.
    tensors = {k: v.clone() for k, v in tensors.items()}
    with atomic_path(Path(path)) as tmp:
        save_file(tensors, str(tmp), metadata={"format": FORMAT, "state": json.dumps(skeleton)})


def load_state(path: str | os.PathLike, device: Any = None) -> Any:
    """Read a state written by ``save_state`` (tensors moved to ``device`` when given)."""
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata() or {}
        if meta.get("format") != FORMAT:
            raise ValueError(f"{path}: not a bert_tasks state file (metadata format {meta.get('format')!r})")
        tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 (safe_open is not iterable)
    return _unpack(json.loads(meta["state"]), tensors, device)
