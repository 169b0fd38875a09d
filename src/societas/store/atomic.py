"""Outputs appear whole or not at all: exports and reports are written under another name
and renamed into place when complete.

A process killed while writing (or a write that fails on a full disk) leaves the previous
output, if any, untouched and no partial file under the output's name. On Linux a file is
written as an unnamed ``O_TMPFILE`` (nothing at all is left behind by a kill) and linked in
when complete; elsewhere a hidden ``.NAME.*.partial`` file stands in for it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

__all__ = ["atomic_directory", "atomic_file"]


def _unnamed(directory: Path) -> int | None:
    flag = getattr(os, "O_TMPFILE", None)
    if flag is None:
        return None
    try:
        return os.open(directory, flag | os.O_WRONLY, 0o644)
    except OSError:  # a filesystem without O_TMPFILE
        return None


def _link_unnamed(fd: int, path: Path) -> None:
    """Give the ``O_TMPFILE`` file ``fd`` the name ``path`` (``linkat`` following the
    ``/proc/self/fd`` link; a directory fd makes ``os.link`` use ``linkat``)."""
    directory = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.link(f"/proc/self/fd/{fd}", path.name, dst_dir_fd=directory, follow_symlinks=True)
    finally:
        os.close(directory)


@contextmanager
def atomic_file(target: str | Path, *, binary: bool = False) -> Iterator[IO[Any]]:
    """A file object whose content becomes ``target`` when the block ends without error."""
    target = Path(target)
    directory = target.parent
    named: Path | None = None
    fd = _unnamed(directory)
    if fd is None:
        fd, name = tempfile.mkstemp(dir=directory, prefix=f".{target.name}.", suffix=".partial")
        named = Path(name)
        os.fchmod(fd, 0o644)
    try:
        with os.fdopen(fd, "wb" if binary else "w", encoding=None if binary else "utf-8") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
            if named is None:
                named = directory / f".{target.name}.{os.getpid()}.partial"
                named.unlink(missing_ok=True)
                _link_unnamed(fh.fileno(), named)
        os.replace(named, target)
        named = None
    finally:
        if named is not None:
            named.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextmanager
def atomic_directory(target: str | Path) -> Iterator[Path]:
    """A fresh staging directory whose content replaces ``target`` when the block ends
    without error. Staging directories of killed writers are removed on the next call."""
    target = Path(target)
    parent = target.parent
    parent.mkdir(parents=True, exist_ok=True)
    prefix = f".{target.name}.partial-"
    for stale in parent.glob(f"{prefix}*"):
        pid = stale.name[len(prefix) :].partition("-")[0]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(stale, ignore_errors=True)
    staging = Path(tempfile.mkdtemp(dir=parent, prefix=f"{prefix}{os.getpid()}-"))
    try:
        yield staging
        old = parent / f".{target.name}.old-{os.getpid()}"
        if target.exists():
            os.replace(target, old)
        os.replace(staging, target)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        with contextlib.suppress(FileNotFoundError):
            shutil.rmtree(staging)
