"""The run directory: atomic writes and the marker that tells a finished run.

Every file the toolkit writes into a run directory goes through a temporary
file in the same folder and ``os.replace``, so a killed run never leaves a
half-written ``metrics.json``. ``DONE`` is written last: a folder without it is
an unfinished (or broken) run.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

DONE = "DONE"


def file_mode() -> int:
    """The mode ``open()`` gives a new file: 0666 less the process's umask."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """A temporary path beside ``path``; renamed onto ``path`` when the block succeeds, removed if not."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        yield Path(tmp)
        # mkstemp (and safetensors' own writer) make 0600 files; a run's files get open()'s mode, as others do
        os.chmod(tmp, file_mode())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` to ``path`` atomically (temp file + rename)."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def write_json(path: str | os.PathLike, data: Any) -> Path:
    return write_text(path, json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def write_jsonl(path: str | os.PathLike, rows: Iterable[dict]) -> Path:
    return write_text(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))


def is_finished(run_dir: str | os.PathLike) -> bool:
    return (Path(run_dir) / DONE).is_file()


def mark_finished(run_dir: str | os.PathLike) -> None:
    write_text(Path(run_dir) / DONE, "finished\n")


def clear_finished(run_dir: str | os.PathLike) -> None:
    marker = Path(run_dir) / DONE
    if marker.exists():
        marker.unlink()


def cannot_write(folder: str | os.PathLike, error: OSError) -> str:
    """Why ``folder`` could not be made or written, for a message: a file where a folder
    belongs is named, else the system's reason."""
    for p in [Path(folder), *Path(folder).parents]:
        if p.exists():
            if not p.is_dir():
                return f"{p} is a file, not a folder"
            break
    return error.strerror or str(error)


LOCK = ".bert_tasks.lock"
_HELD: set[str] = set()  # folders whose lock this process holds


def held_here(run_dir: str | os.PathLike) -> bool:
    """True while this process holds ``run_dir``'s lock (a nested :func:`run_lock` would be refused)."""
    return os.path.realpath(run_dir) in _HELD


class FolderInUse(Exception):
    """Another process holds the run folder's lock (``pid``: its process id, if it wrote one)."""

    def __init__(self, pid: str):
        super().__init__(pid)
        self.pid = pid


@contextmanager
def run_lock(run_dir: str | os.PathLike) -> Iterator[None]:
    """Hold an exclusive lock on ``run_dir`` while a run writes it.

    A second run into the same folder would mix its files and checkpoints with the first's;
    it gets :class:`FolderInUse` at once instead. The lock is an ``flock`` on a file in the
    folder, so the system drops it when its process ends, however it ends; the file is removed
    on release, and so is the folder if this lock created it and nothing else was written.
    Where ``flock`` is missing (Windows) or the file system refuses it, nothing is locked.
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover  (Windows)
        yield
        return
    folder = Path(run_dir)
    created = not folder.exists()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LOCK
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, file_mode())
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid = os.read(fd, 32).decode("ascii", "replace").strip()
            os.close(fd)
            raise FolderInUse(pid) from None
        except OSError:  # no locks on this file system: run unlocked
            os.close(fd)
            yield
            return
        try:  # the previous holder may have removed the file between our open and flock
            if os.path.samestat(os.fstat(fd), os.stat(path)):
                break
        except FileNotFoundError:
            pass
        os.close(fd)
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    key = os.path.realpath(folder)
    _HELD.add(key)
    try:
        yield
    finally:
        _HELD.discard(key)
        path.unlink(missing_ok=True)
        os.close(fd)
        if created and not any(folder.iterdir()):
            folder.rmdir()
