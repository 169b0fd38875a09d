"""One writer per directory: an OS file lock (``flock``) on ``<dir>/societas.lock``.

``run``, ``resume`` and sweep workers hold the lock of their run directory, and a sweep holds
the lock of its experiment directory, for as long as they write. The kernel drops the lock
when its holder exits, however it exits (SIGKILL included), so a stale lock file is harmless:
the next writer simply takes it. The holder writes its PID and what it is doing into the
file, so a refused writer can say who holds it.

Within one process the lock is re-entrant (a sweep worker takes the run directory's lock
before looking at the store, then ``prepare_run`` takes it again): ``flock`` locks belong to
an open file, and a second open of the same file in the same process would conflict.
"""

from __future__ import annotations

import fcntl
import os
import threading
from pathlib import Path

from societas.typing import StoreError

__all__ = ["LOCK_NAME", "DirectoryLock", "DirectoryLocked", "lock_directory"]

LOCK_NAME = "societas.lock"


class DirectoryLocked(StoreError):
    """Another process is writing to the directory (exit code 2)."""

    def __init__(self, directory: Path, holder: str) -> None:
        super().__init__(
            f"{directory} is in use by another societas process ({holder}); wait for it to "
            "finish or stop it, then try again (only one process may write to a run at a time)"
        )
        self.directory = directory
        self.holder = holder


class DirectoryLock:
    """A held lock; ``release()`` (or the process's exit) lets the next writer in."""

    def __init__(self, key: Path, fd: int) -> None:
        self._key = key
        self._fd = fd
        self._count = 1

    def release(self) -> None:
        with _HELD_GUARD:
            if self._count <= 0:
                return  # released already
            self._count -= 1
            if self._count > 0:
                return
            _HELD.pop(self._key, None)
            try:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
            finally:
                os.close(self._fd)

    def __enter__(self) -> DirectoryLock:
        return self

    def __exit__(self, *_: object) -> None:
        self.release()


_HELD: dict[Path, DirectoryLock] = {}
_HELD_GUARD = threading.Lock()


def _holder(fd: int) -> str:
    try:
        text = os.pread(fd, 4096, 0).decode("utf-8", "replace").strip()
    except OSError:
        text = ""
    pid, _, what = text.partition(" ")
    if not pid.isdigit():
        return "PID unknown"
    return f"PID {pid}, {what}" if what else f"PID {pid}"


def lock_directory(directory: Path, what: str) -> DirectoryLock:
    """Take the write lock of ``directory`` (which must exist) for ``what`` (e.g. "resume"),
    or raise ``DirectoryLocked`` naming the holder's PID. Never waits."""
    path = directory / LOCK_NAME
    key = path.resolve()
    with _HELD_GUARD:
        held = _HELD.get(key)
        if held is not None:
            held._count += 1
            return held
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            raise StoreError(
                f"{path}: cannot create the lock file ({exc.strerror}); the directory must be "
                "writable"
            ) from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(fd)
            os.close(fd)
            raise DirectoryLocked(directory, holder) from None
        except OSError as exc:
            os.close(fd)
            raise StoreError(f"{path}: cannot lock ({exc.strerror})") from exc
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()} {what}\n".encode(), 0)
        except OSError:
            pass  # the lock holds without the note; a refused writer then says "PID unknown"
        lock = DirectoryLock(key, fd)
        _HELD[key] = lock
        return lock
