"""Where data comes from: a file, a folder or a Hugging Face data set, and ``name:split``.

- :func:`resolve_source`      what a data option names: ``("file" | "folder" | "hub", name, split)``.
- :func:`split_source`        ``"conll2003:train[:5000]"`` -> ``("conll2003", "train[:5000]")``.
- :data:`SPLIT_NAMES`         the one table of split names: a reader asks for ``train``, ``dev`` or
  ``test``; :func:`hub_split` names it for Hugging Face (``dev`` -> ``validation``),
  :func:`pick_split` finds it among a file's own splits (``dev`` -> ``valid`` in JSB's JSON).
- :func:`builtin_part`        ``builtin:NAME[:SPLIT]``, a data set a task ships inside its package:
  its name and the part (train, dev, test) to read; :func:`builtin_part_of` which part an
  example is in, :func:`builtin_default_dev` the dev part that goes with a train part.
- regular files only (:mod:`nlp_tasks.io.files`): a FIFO, device or socket is refused before it
  is opened, so a read never blocks.
- :func:`load_hub_dataset`    ``datasets.load_dataset`` for a hub name or a local folder, one-line
  errors; a folder is read offline, and an unreachable hub is said at once.

An existing path is never a hub name, and only a source that looks like one
(:func:`looks_like_hub_name`) may reach the network.
"""

from __future__ import annotations

import contextlib
import os
import re
import threading
from pathlib import Path

from nlp_tasks.errors import UserError
from nlp_tasks.io.files import check_file, open_file, read_bytes  # noqa: F401 - readers take them from here too

# What a local folder handed to ``datasets`` must hold (at least one file of these kinds).
DATASET_FOLDER_SUFFIXES = (".csv", ".tsv", ".json", ".jsonl", ".ndjson", ".parquet", ".arrow", ".txt")
HUB_TIMEOUT = 2.0  # seconds to wait for a connection to the hub before calling it unreachable
_HUB_NAME = re.compile(r"[A-Za-z0-9][\w.-]*(/[\w.-]+)?(:[\w.\[\]%:+-]+)?")
_FILE_SUFFIXES = {".txt", ".csv", ".tsv", ".json", ".jsonl", ".ndjson", ".conll", ".iob", ".bio", ".mid", ".midi",
                  ".dict"}


def looks_like_hub_name(source: str) -> bool:
    """True for ``name``, ``owner/name`` or ``owner/name:split``; False for anything that looks
    like a path (leading ``/``, ``./``, ``~``, deeper folders, a data-file suffix) and for a path
    that exists (a local file or folder is never a hub name)."""
    name = source.split(":", 1)[0]
    if os.path.lexists(source) or os.path.lexists(name):
        return False
    return bool(_HUB_NAME.fullmatch(source)) and Path(name).suffix.lower() not in _FILE_SUFFIXES


def split_source(source: str) -> tuple[str, str | None]:
    """``"name:split"`` -> ``("name", "split")`` for hub names and local paths alike.

    The split is everything after the first colon that follows the name, so the ``datasets``
    split syntax passes whole: ``"conll2003:train[:5000]"``, ``"SetFit/sst5:validation[10%:]"``,
    ``"/data/my-ner:train+validation"``. A local path ends at the last colon where what precedes
    it exists (a split holds no ``/``); a source without a split, or an existing path that
    contains a colon, comes back whole.
    """
    if os.path.lexists(source):
        return source, None
    cuts = [m.start() for m in re.finditer(":", source)]
    for cut in reversed(cuts):  # a local path, possibly holding colons itself
        head, tail = source[:cut], source[cut + 1:]
        if head and tail and "/" not in tail and os.path.lexists(head):
            return head, tail
    head, _, tail = source.partition(":")
    if head and tail and looks_like_hub_name(source):
        return head, tail
    return source, None


def resolve_source(source: str) -> tuple[str, str, str | None]:
    """What a data option names: ``(kind, name, split)``, kind ``"file"``, ``"folder"`` or ``"hub"``.

    An existing path is a file or a folder, never a hub name; a FIFO, device or socket is
    refused; anything else must look like a hub name (``name``, ``owner/name``), else it is a
    file not found. ``split`` is the part after ``:`` (:func:`split_source`), or None.
    """
    name, split = split_source(str(source))
    if os.path.lexists(name):
        if os.path.isdir(name):
            return "folder", name, split
        check_file(name)
        return "file", name, split
    if looks_like_hub_name(str(source)):
        return "hub", name, split
    raise UserError(f"{source}: file not found")


# The three roles a reader asks for, and the names data sets give them (Hugging Face's first).
SPLIT_NAMES = {"train": ("train",), "dev": ("validation", "valid", "dev"), "test": ("test",)}


def split_role(split: str) -> str | None:
    """``"train"``, ``"dev"`` or ``"test"`` for any name of :data:`SPLIT_NAMES` (``"valid"`` ->
    ``"dev"``); None for other names (``"train[:5000]"``, a split of the user's own)."""
    return next((role for role, names in SPLIT_NAMES.items() if split == role or split in names), None)


def hub_split(split: str) -> str:
    """The Hugging Face name of ``split``: its role's first name (``"dev"`` -> ``"validation"``);
    any other name as given."""
    role = split_role(split)
    return SPLIT_NAMES[role][0] if role else split


def pick_split(split: str, available) -> str:
    """The name among ``available`` (a file's splits) that plays ``split``'s role (``"dev"`` ->
    ``"valid"`` when the file has ``valid``); ``split`` as given when none does."""
    available = list(available)
    if split in available:
        return split
    role = split_role(split)
    return next((name for name in (role, *SPLIT_NAMES.get(role, ())) if name in available), split)


def builtin_part(source, known, split: str) -> tuple[str, str] | None:
    """``(name, role)`` when ``source`` names one of the built-in data sets ``known`` (a task's
    ``builtin:NAME``, shipped inside its package): ``builtin:NAME`` reads ``split``'s part,
    ``builtin:NAME:SPLIT`` the part SPLIT names (:func:`split_role`: ``train``, ``dev`` /
    ``validation`` / ``valid``, ``test``). None for any other source; an unknown built-in name or
    split is a one-line error."""
    text = str(source) if isinstance(source, (str, os.PathLike)) else ""
    if not text.startswith("builtin:"):
        return None
    base, _, part = text.partition(":")[2].partition(":")
    name = f"builtin:{base}"
    if name not in known:
        raise UserError(f"unknown built-in data set {text!r} (known: {', '.join(known)})")
    role = split_role(part or split)
    if role is None:
        raise UserError(f"{name}: unknown split {part or split!r} (its parts are train, dev and test)")
    return name, role


# How the data sets a task ships divide into parts: by a number of each example's (a document's
# position, a hash of the text) modulo 10.
BUILTIN_PARTS = {"train": range(0, 8), "dev": range(8, 9), "test": range(9, 10)}


def builtin_part_of(number: int) -> str:
    """``"train"``, ``"dev"`` or ``"test"``: the part of a built-in data set's example whose
    number is ``number`` (:data:`BUILTIN_PARTS`: 0-7 modulo 10 train, 8 dev, 9 test)."""
    return next(name for name, rests in BUILTIN_PARTS.items() if number % 10 in rests)


def builtin_default_dev(train, known) -> str | None:
    """The dev data that goes with ``train`` when none is given: ``builtin:NAME:dev`` when
    ``train`` is the train part of one of the built-in data sets ``known``; else None."""
    found = builtin_part(train, known, "train")
    return f"{found[0]}:dev" if found is not None and found[1] == "train" else None


def no_split_for_file(name: str, split: str | None) -> None:
    """A file holds one split: ``file:split`` is an error (only folders and hub data sets have splits)."""
    if split is not None:
        raise UserError(f"{name}:{split}: a file has no splits; ':{split}' applies to a folder or a hub data set")


def hub_unreachable(timeout: float = HUB_TIMEOUT) -> str | None:
    """Why the Hugging Face hub cannot be used now (offline mode set, no connection within
    ``timeout`` seconds to ``huggingface_hub.constants.ENDPOINT``), or None when it answers."""
    import socket
    from urllib.parse import urlparse

    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE or any(os.environ.get(v, "").upper() in ("1", "ON", "YES", "TRUE")
                                       for v in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE")):
        return "offline mode is set (HF_HUB_OFFLINE / HF_DATASETS_OFFLINE)"
    url = urlparse(constants.ENDPOINT)
    port = url.port or (443 if url.scheme == "https" else 80)
    outcome: list = []

    def connect():  # in a thread: name resolution has no timeout of its own
        try:
            socket.create_connection((url.hostname, port), timeout=timeout).close()
            outcome.append(None)
        except OSError as err:
            outcome.append(err.strerror or type(err).__name__)

    thread = threading.Thread(target=connect, daemon=True)
    thread.start()
    thread.join(timeout + 0.5)
    if not outcome:
        return f"no answer from {constants.ENDPOINT} within {timeout:g} s"
    if outcome[0] is not None:
        return f"{constants.ENDPOINT} cannot be reached ({outcome[0]})"
    return None


@contextlib.contextmanager
def _hub_offline():
    """``datasets`` and ``huggingface_hub`` in offline mode: local files and the cache only."""
    import datasets
    from huggingface_hub import constants

    saved = datasets.config.HF_HUB_OFFLINE, constants.HF_HUB_OFFLINE
    datasets.config.HF_HUB_OFFLINE = constants.HF_HUB_OFFLINE = True
    try:
        yield
    finally:
        datasets.config.HF_HUB_OFFLINE, constants.HF_HUB_OFFLINE = saved


def check_dataset_folder(folder: str | Path) -> list[Path]:
    """The data files of a local folder for ``datasets``; refused when it holds none, holds a
    FIFO or device under a data name, or a JSON file nested too deep for the loader."""
    folder = Path(folder)
    files = []
    for path in sorted(folder.rglob("*")):
        if any(part.startswith(".") for part in path.relative_to(folder).parts):
            continue
        if path.suffix.lower() in DATASET_FOLDER_SUFFIXES and not path.is_dir():
            files.append(check_file(path))
    if not files:
        raise UserError(f"{folder}: the folder holds no data files that can be read "
                        f"({', '.join(DATASET_FOLDER_SUFFIXES)})")
    for path in files:
        if path.suffix.lower() in (".json", ".jsonl", ".ndjson"):
            from nlp_tasks.io.json_data import check_json_depth

            check_json_depth(read_bytes(path), str(path))
    return files


def load_hub_dataset(name: str, split: str | None = None, **kwargs):
    """``datasets.load_dataset(name, split=...)`` with failures turned into one-line errors.

    ``name`` is a hub name (``"conll2003"``, ``"SetFit/sst5"``) or a local folder that
    ``datasets`` can read (:func:`check_dataset_folder`; read offline, never from the network).
    When the hub cannot be reached (:func:`hub_unreachable`), only the local cache is tried, at
    once, instead of retrying for half a minute.
    """
    try:
        import datasets
    except ImportError:  # pragma: no cover - a dependency of the package
        raise UserError("reading Hugging Face data sets needs the 'datasets' package") from None
    datasets.disable_progress_bars()
    datasets.logging.set_verbosity_error()
    where = f"{name!r}{f' split {split!r}' if split else ''}"
    local = os.path.lexists(name)
    offline = None
    if local:
        if not os.path.isdir(name):
            check_file(name)
            raise UserError(f"{name}: expected a data set folder")
        check_dataset_folder(name)
    else:
        offline = hub_unreachable()
    try:
        if local or offline:
            with _hub_offline():
                return datasets.load_dataset(name, split=split, **kwargs)
        return datasets.load_dataset(name, split=split, **kwargs)
    except Exception as err:  # network, missing split, unknown name: one line, no traceback
        if offline:
            from nlp_tasks.io.paths import DATA_ENV

            raise UserError(f"could not load data set {where}: the Hugging Face hub is not available ({offline}) "
                            f"and the data set is not in the local cache; give a local file or folder instead "
                            f"(the benchmark copies: {DATA_ENV}=/path/to/data), or download it once with network "
                            "access") from None
        reason = " ".join(str(err).split())[:200] or type(err).__name__
        raise UserError(f"could not load data set {where}: {reason}") from None
