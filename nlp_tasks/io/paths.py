"""Where the benchmark data lives, and atomic writes of files (folders: :mod:`nlp_tasks.saving.outdir`).

The benchmark data (CoNLL-2003, SST, tiny-shakespeare, JSB Chorales) is never shipped with the
project. Code that wants it asks :func:`data_dir`, which reads the environment variable
``NLP_TASKS_DATA`` and otherwise falls back to ``../shared/data`` next to the project checkout
(or the current directory), when that folder exists.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from nlp_tasks.errors import UserError

DATA_ENV = "NLP_TASKS_DATA"
CACHE_ENV = "NLP_TASKS_CACHE"
_PROJECT_ROOT = Path(__file__).resolve().parents[2]  # nlp_tasks/io/paths.py -> the source tree


def default_data_candidates() -> list[Path]:
    """The folders tried, in order, when ``NLP_TASKS_DATA`` is not set."""
    return [_PROJECT_ROOT.parent / "shared" / "data", Path.cwd().parent / "shared" / "data"]


def data_dir(required: bool = True) -> Path | None:
    """The benchmark data folder.

    ``NLP_TASKS_DATA`` wins when set (and must then exist). Otherwise the first existing folder
    of :func:`default_data_candidates`. With ``required=True`` a missing folder raises
    :class:`UserError`; with ``required=False`` it returns ``None``.
    """
    env = os.environ.get(DATA_ENV)
    if env:
        path = Path(env).expanduser()
        if path.is_dir():
            return path
        if required:
            raise UserError(f"{DATA_ENV}={env} is not a directory")
        return None
    for candidate in default_data_candidates():
        if candidate.is_dir():
            return candidate
    if required:
        raise UserError(
            f"benchmark data not found: set {DATA_ENV} to the folder that holds conll2003/, sst/, "
            "tinyshakespeare/ and jsb_chorales/, or pass a file or a Hugging Face dataset name"
        )
    return None


def cache_dir() -> Path:
    """What nlp-tasks keeps between runs and may rebuild at any time: ``$NLP_TASKS_CACHE``, else
    ``$XDG_CACHE_HOME/nlp-tasks``, else ``~/.cache/nlp-tasks`` (not created here)."""
    root = os.environ.get(CACHE_ENV) or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "nlp-tasks")
    return Path(root)


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "w", encoding: str | None = "utf-8"):
    """Open a temporary file beside ``path``; rename it over ``path`` only on success.

    A crash or an exception while writing leaves the old file (if any) untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, mode, encoding=None if "b" in mode else encoding) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, default_mode())  # mkstemp makes 0600; a saved file gets the usual permissions
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def default_mode(directory: bool = False) -> int:
    """The permissions a new file (0666) or folder (0777) gets under the process umask."""
    mask = os.umask(0)
    os.umask(mask)
    return (0o777 if directory else 0o666) & ~mask
