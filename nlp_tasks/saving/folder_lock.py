"""The lock of an output folder: one run per folder (see :mod:`nlp_tasks.saving.outdir`).

:func:`acquire` takes an exclusive lock (``flock``) on ``.OUT.lock`` beside the folder, held
until :func:`release` or the end of the process; a second process refuses in one line naming
the holder's pid, and the kernel drops the lock of a killed one. Who holds it, for how long:
:func:`nlp_tasks.saving.outdir.held` holds it for one block (a standalone fit, a save, an export) and
releases only what it took; :func:`kept` makes one scope across several steps keep what a claim
inside it took (``Pipeline.train``: fit, test and save), so a folder is locked no longer than the
job that writes it, and not before its first step writes.
"""

from __future__ import annotations

import contextlib
import errno
import os
import time
from pathlib import Path

from nlp_tasks.errors import UserError

_held: dict[str, int] = {}  # resolved folder -> file descriptor of its held lock file
_kept: dict[str, int] = {}  # resolved folder -> how many kept() scopes enclose it now


def reason(err: OSError) -> str:
    return err.strerror or errno.errorcode.get(err.errno or 0, str(err))


def lock_path(folder: Path) -> Path:
    return folder.with_name(f".{folder.name}.lock")


def acquire(folder: str | os.PathLike, wait: float = 0.0) -> bool:
    """Take the exclusive lock of ``folder`` for this process; False when it already holds it.

    Another live process holding it: ``UserError`` naming its pid (after waiting up to ``wait``
    seconds). Where ``fcntl`` does not exist (Windows) nothing is locked.
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not on Linux or macOS
        return False
    folder = Path(folder)
    key = str(folder)
    if key in _held:
        return False
    path = lock_path(folder)
    deadline = time.monotonic() + wait
    while True:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as err:
            raise UserError(f"cannot write beside {folder} (for its lock file {path.name}): {reason(err)}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = _read_pid(fd)
            os.close(fd)
            if time.monotonic() < deadline:
                time.sleep(0.1)
                continue
            raise UserError(f"{folder} is in use by another nlp-tasks run (pid {holder or 'unknown'}, lock file "
                            f"{path}); wait for it to finish or give another output folder") from None
        # The file may have been removed by its last holder between our open and our lock.
        try:
            same = os.fstat(fd).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    _held[key] = fd
    return True


def _read_pid(fd: int) -> str | None:
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        return None
    return text if text.isdigit() else None


def release(folder: str | os.PathLike) -> None:
    """Drop this process's lock of ``folder`` (the lock file is removed while still held)."""
    fd = _held.pop(str(Path(folder)), None)
    if fd is None:
        return
    with contextlib.suppress(OSError):
        os.unlink(lock_path(Path(folder)))
    os.close(fd)


def holds(folder: str | os.PathLike) -> bool:
    return str(Path(folder)) in _held


@contextlib.contextmanager
def kept(folder: str | os.PathLike):
    """Within the block, a lock of ``folder`` that :func:`nlp_tasks.saving.outdir.held` takes is kept when
    that inner block ends, and released when this one ends (unless it was held before it began).
    ``folder``: resolved as a claim resolves it (:func:`nlp_tasks.saving.outdir.resolve`)."""
    key = str(Path(folder))
    before = key in _held
    _kept[key] = _kept.get(key, 0) + 1
    try:
        yield
    finally:
        _kept[key] -= 1
        if not _kept[key]:
            del _kept[key]
            if not before:
                release(key)


def kept_by_scope(folder: str | os.PathLike) -> bool:
    return str(Path(folder)) in _kept
