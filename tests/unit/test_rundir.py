import os
import stat

import pytest

from bert_tasks.rundir import (
    LOCK,
    FolderInUse,
    atomic_path,
    clear_finished,
    held_here,
    is_finished,
    mark_finished,
    run_lock,
    write_json,
    write_text,
)


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_written_files_follow_the_umask(tmp_path, umask, mode):
    """Atomic writes go through mkstemp (always 0600); the file then gets the mode open() would give."""
    old = os.umask(umask)
    try:
        path = write_json(tmp_path / "m.json", {"a": 1})
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == mode


def test_checkpoint_states_follow_the_umask_too(tmp_path):
    """safetensors' writer makes 0600 files of its own (safetensors issue #782)."""
    import torch

    from bert_tasks.checkpoint_state import save_state

    old = os.umask(0o022)
    try:
        save_state({"step": torch.zeros(2)}, tmp_path / "s.safetensors")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "s.safetensors").stat().st_mode) == 0o644


def test_a_failed_write_leaves_the_old_file_and_no_temp(tmp_path):
    path = write_text(tmp_path / "f.txt", "old\n")
    with pytest.raises(RuntimeError), atomic_path(path) as tmp:
        tmp.write_text("half")
        raise RuntimeError("disk full")
    assert path.read_text() == "old\n" and sorted(p.name for p in tmp_path.iterdir()) == ["f.txt"]


def test_done_marker(tmp_path):
    assert not is_finished(tmp_path)
    mark_finished(tmp_path)
    assert is_finished(tmp_path)
    clear_finished(tmp_path)
    assert not is_finished(tmp_path)


def test_run_lock_refuses_a_second_holder_and_cleans_up(tmp_path):
    new = tmp_path / "new"
    assert not held_here(new)
    with run_lock(new):
        assert (new / LOCK).read_text() == f"{os.getpid()}\n"
        assert held_here(new) and held_here(tmp_path / "." / "new")
        with pytest.raises(FolderInUse) as err, run_lock(new):
            pass
        assert err.value.pid == str(os.getpid())
        assert (new / LOCK).exists()  # the refused attempt leaves the holder's lock alone
    assert not held_here(new)
    assert not new.exists()  # created by the lock, and nothing else was written

    kept = tmp_path / "kept"
    kept.mkdir()
    (kept / LOCK).write_text("12345\n")  # left by a killed run: the file alone does not lock
    with run_lock(kept):
        write_text(kept / "recipe.yaml", "x: 1\n")
    assert sorted(p.name for p in kept.iterdir()) == ["recipe.yaml"]


def test_run_lock_releases_when_the_block_fails(tmp_path):
    with pytest.raises(RuntimeError), run_lock(tmp_path / "r"):
        raise RuntimeError("boom")
    with run_lock(tmp_path / "r"):
        pass
