"""checkpoint_state: nested optimizer / scheduler / RNG states round-trip through safetensors."""

import random

import numpy as np
import pytest
import torch

from bert_tasks.checkpoint_state import load_state, save_state


def test_optimizer_scheduler_and_rng_round_trip(tmp_path):
    model = torch.nn.Linear(4, 3)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.9, 0.99))
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: 1.0 / (step + 1))
    for _ in range(3):
        model(torch.randn(2, 4)).sum().backward()
        opt.step()
        sched.step()
    state = {"opt": opt.state_dict(), "sched": sched.state_dict(), "python": random.getstate(),
             "numpy": np.random.get_state(), "cpu": torch.random.get_rng_state()}
    save_state(state, tmp_path / "s.safetensors")
    back = load_state(tmp_path / "s.safetensors")

    assert back["python"] == state["python"]
    assert back["numpy"][0] == state["numpy"][0] and back["numpy"][2:] == state["numpy"][2:]
    assert back["numpy"][1].dtype == state["numpy"][1].dtype and np.array_equal(back["numpy"][1], state["numpy"][1])
    assert torch.equal(back["cpu"], state["cpu"])
    assert back["sched"] == state["sched"]
    assert back["opt"]["param_groups"] == state["opt"]["param_groups"]  # betas stay a tuple, ints stay ints
    assert set(back["opt"]["state"]) == {0, 1}
    for k, v in state["opt"]["state"][0].items():
        assert torch.equal(back["opt"]["state"][0][k], v)

    # the loaded state drives an identical next step
    clone = torch.nn.Linear(4, 3)
    clone.load_state_dict(model.state_dict())
    opt2 = torch.optim.AdamW(clone.parameters(), lr=1e-3)
    opt2.load_state_dict(back["opt"])
    x = torch.randn(2, 4)
    for m, o in ((model, opt), (clone, opt2)):
        o.zero_grad()
        m(x).sum().backward()
        o.step()
    assert torch.equal(model.weight, clone.weight)


def test_unknown_objects_are_refused_and_nothing_is_written(tmp_path):
    with pytest.raises(TypeError, match="at '.bad'"):
        save_state({"bad": object()}, tmp_path / "s.safetensors")
    assert list(tmp_path.iterdir()) == []


def test_other_safetensors_files_are_refused(tmp_path):
    from safetensors.torch import save_file

    save_file({"w": torch.zeros(2)}, str(tmp_path / "model.safetensors"))
    with pytest.raises(ValueError, match="not a bert_tasks state file"):
        load_state(tmp_path / "model.safetensors")
