"""Regular files only: a FIFO, a device or a socket is refused before it is opened, so a read
never blocks, and a file swapped for one between the check and the open is refused too."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from nlp_tasks.errors import UserError


def _file_kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a file or folder"


def check_file(path: str | Path, what: str = "a file") -> Path:
    """``path`` if it is a regular file (after symlinks); a one-line error otherwise.

    Only ``os.stat``: nothing is opened, so a FIFO or a device is refused without blocking.
    """
    path = Path(path)
    try:
        mode = os.stat(path).st_mode
    except (FileNotFoundError, NotADirectoryError):
        raise UserError(f"{path}: file not found") from None
    except OSError as err:
        raise UserError(f"{path}: cannot read ({err.strerror or type(err).__name__})") from None
    if stat.S_ISDIR(mode):
        raise UserError(f"{path}: is a directory, expected {what}")
    if not stat.S_ISREG(mode):
        raise UserError(f"{path}: not a regular file ({_file_kind(mode)}); expected {what}")
    return path


def open_file(path: str | Path, what: str = "a file"):
    """A regular file opened for binary reading, without blocking: checked before the open
    (:func:`check_file`) and again once open (it may have been replaced in between)."""
    path = check_file(path, what)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as err:
        raise UserError(f"{path}: cannot read ({err.strerror or type(err).__name__})") from None
    handle = open(fd, "rb")
    mode = os.fstat(handle.fileno()).st_mode
    if not stat.S_ISREG(mode):
        handle.close()
        raise UserError(f"{path}: not a regular file ({_file_kind(mode)}); expected {what}")
    return handle


def read_bytes(path: str | Path, what: str = "a file") -> bytes:
    """The bytes of a regular file (:func:`open_file`)."""
    with open_file(path, what) as handle:
        return handle.read()

