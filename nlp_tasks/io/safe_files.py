"""Reading saved files that may have been damaged or tampered with, without trusting them.

- :func:`parse_json`: JSON with a nesting limit (a deeply nested file raises ``ValueError``
  like any other bad JSON, instead of Python's ``RecursionError``);
- :func:`read_json`: a file's bytes, size-limited, then :func:`parse_json`;
- :func:`read_cache_json`: the same for a cache file, where anything wrong means "no cache"
  (None), never an error: a cache only saves time;
- :func:`inspect_keras_archive`: the checks a ``.keras`` file passes before Keras builds
  anything from it. It must be a regular file (a link is refused, wherever it points), a zip
  archive holding ``config.json`` and ``model.weights.h5``, without members that inflate far
  beyond their compressed size; ``config.json`` is read size- and depth-limited (a Lambda
  layer in it is refused at once, as Keras' ``safe_mode`` would), and the
  weight arrays' shapes are read from ``model.weights.h5`` (h5py reads shapes, not data) and
  must be backed by bytes actually stored in the file;
- :func:`layer_sizes`: every layer configuration of a Keras model config, with its size fields.

Pure Python, NumPy-free; h5py only inside :func:`inspect_keras_archive`.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

from nlp_tasks.errors import UserError
from nlp_tasks.io.json_data import MAX_JSON_DEPTH  # one limit for data and saved files (pipeline.json nests 4 deep)

MAX_CONFIG_BYTES = 16 * 2**20  # a Keras config.json (a few KB to a few hundred KB in practice)
MAX_INFLATION = 100  # a zip member may inflate at most this many times (+ 1 MiB) its stored size
SIZE_FIELDS = ("input_dim", "output_dim", "units", "vocab_size", "dim", "n_tags", "n_visible")

def parse_json(text: str, max_depth: int = MAX_JSON_DEPTH):
    """``json.loads`` that refuses nesting deeper than ``max_depth`` with a ``ValueError``."""
    from nlp_tasks.io.json_data import json_depth  # one scan for data files and saved files

    if json_depth(text)[0] > max_depth:
        raise ValueError(f"nested more than {max_depth} levels deep")
    try:
        return json.loads(text)
    except RecursionError:  # only reachable with a lower interpreter limit than max_depth
        raise ValueError("nested too deeply") from None


def read_json(path: str | Path, what: str, max_bytes: int = 256 * 2**20, max_depth: int = MAX_JSON_DEPTH):
    """The JSON value in ``path``; a one-line :class:`UserError` naming ``what`` it should be."""
    from nlp_tasks.io.files import check_file

    path = check_file(path, what)  # regular files only: a FIFO would block the read
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise UserError(f"{path}: {what} is {size} bytes, more than the {max_bytes} allowed")
        text = path.read_bytes().decode("utf-8")
        return parse_json(text, max_depth)
    except UserError:
        raise
    except UnicodeDecodeError:
        raise UserError(f"{path}: corrupt {what} (not UTF-8)") from None
    except ValueError as err:
        raise UserError(f"{path}: corrupt {what} (invalid JSON: {' '.join(str(err).split())[:120]})") from None
    except OSError as err:
        raise UserError(f"{path}: cannot read {what} ({err.strerror or err})") from None


def read_cache_json(path: str | Path, max_bytes: int, max_depth: int = MAX_JSON_DEPTH):
    """The JSON value of the cache file ``path``; None when it is absent or anything is wrong
    with it (the caller then computes again and rewrites it).

    It never blocks, never reads more than ``max_bytes`` and never raises: a FIFO, a device or
    a link to one is refused before it is read (checked before and after the non-blocking
    open), a longer file, bad UTF-8, bad JSON and nesting deeper than ``max_depth`` are all
    "no cache". Its shape is the caller's to check."""
    from nlp_tasks.io.files import open_file

    try:
        with open_file(path, "a cache file") as handle:
            data = handle.read(max_bytes + 1)
        if len(data) > max_bytes:
            return None
        return parse_json(data.decode("utf-8"), max_depth)
    except (UserError, OSError, ValueError):  # UnicodeDecodeError is a ValueError
        return None


def _refuse(path: Path, reason: str) -> UserError:
    return UserError(f"{path}: refusing to load model: {reason}")


def inspect_keras_archive(path: str | Path) -> tuple[dict, int]:
    """``(config, stored)``: the model config of a ``.keras`` file and how many weight values
    its ``model.weights.h5`` stores for the model's layers; a :class:`UserError` saying what is
    wrong with the file otherwise (see the module docstring for the rules)."""
    path = Path(path)
    if path.is_symlink():
        raise _refuse(path, "it is a link (a model folder's files must be regular files, not links)")
    if not path.exists():
        raise UserError(f"{path}: model weights not found")
    if not path.is_file():
        raise _refuse(path, "it is not a file")
    if path.stat().st_size == 0:
        raise _refuse(path, "the file is empty")
    if not zipfile.is_zipfile(path):
        raise _refuse(path, "it is not a Keras model archive (not a zip file: truncated or corrupt?)")
    try:
        with zipfile.ZipFile(path) as archive:
            members = {info.filename: info for info in archive.infolist()}
            for name in ("config.json", "model.weights.h5"):
                if name not in members:
                    raise _refuse(path, f"it is not a Keras model archive ({name} is missing)")
            for info in members.values():
                if info.file_size > MAX_INFLATION * info.compress_size + 2**20:
                    raise _refuse(path, f"{info.filename} would inflate from {info.compress_size} to "
                                          f"{info.file_size} bytes (a damaged or malicious archive)")
            if members["config.json"].file_size > MAX_CONFIG_BYTES:
                raise _refuse(path, f"config.json is larger than {MAX_CONFIG_BYTES} bytes")
            try:
                config = parse_json(archive.read("config.json").decode("utf-8"))
            except (UnicodeDecodeError, ValueError) as err:
                raise _refuse(path, f"corrupt config.json ({' '.join(str(err).split())[:120]})") from None
            stored = _stored_values(path, archive)
    except (zipfile.BadZipFile, OSError, EOFError, RuntimeError, NotImplementedError) as err:
        raise _refuse(path, f"corrupt Keras model archive ({' '.join(str(err).split())[:160]})") from None
    if not isinstance(config, dict) or not isinstance(config.get("config"), dict):
        raise _refuse(path, "config.json does not describe a Keras model")
    if any(item["class_name"] == "Lambda" for item in _nested(config)):
        raise _refuse(path, "it contains a Lambda layer or other code, which nlp-tasks never executes")
    return config, stored


def _stored_values(path: Path, archive: zipfile.ZipFile) -> int:
    """Number of weight values stored under ``layers/`` of the archive's ``model.weights.h5``;
    refuses a dataset whose shape claims more bytes than the file stores for it, and one whose
    values lie in another file (HDF5 external storage: a model reads nothing outside itself)."""
    import h5py

    total = 0
    problems = []

    def visit(name, item):
        nonlocal total
        if isinstance(item, h5py.Dataset) and item.external:  # HDF5 external storage: values in another file
            problems.append(f"{name} keeps its values in a file outside the model ({item.external[0][0]})")
        elif isinstance(item, h5py.Dataset):
            nbytes = item.size * item.dtype.itemsize
            if item.id.get_storage_size() < nbytes and item.compression is None:
                problems.append(f"{name} claims shape {item.shape} but stores only {item.id.get_storage_size()} bytes")
            if name.startswith("layers/"):
                total += item.size

    try:
        with archive.open("model.weights.h5") as handle, h5py.File(handle, "r") as weights:
            weights.visititems(visit)
    except (OSError, ValueError, KeyError, RuntimeError) as err:
        raise _refuse(path, f"corrupt weights in model.weights.h5 ({' '.join(str(err).split())[:160]})") from None
    if problems:
        raise _refuse(path, f"model.weights.h5 is damaged: {problems[0]}")
    return total


def _nested(item):
    """Every ``{"class_name": ..., "config": {...}}`` dictionary inside ``item``, ``item`` first."""
    if isinstance(item, dict):
        if isinstance(item.get("class_name"), str) and isinstance(item.get("config"), dict):
            yield item
        for value in item.values():
            yield from _nested(value)
    elif isinstance(item, list):
        for value in item:
            yield from _nested(value)


def layer_sizes(config: dict) -> list[tuple[str, list[tuple[str, dict]]]]:
    """``[(top-level layer name, [(class name, {size field: value}), ...])]`` of a model config.

    The inner list holds the layer itself and every layer nested in it (a Bidirectional's two
    recurrent layers and their cells), each with the fields of :data:`SIZE_FIELDS` it has.
    """
    layers = config.get("config", {}).get("layers")
    if not isinstance(layers, list):
        return []
    out = []
    for layer in layers:
        if not isinstance(layer, dict) or not isinstance(layer.get("config"), dict):
            continue
        name = layer["config"].get("name")
        parts = []
        for item in _nested(layer):
            if item.get("class_name") in ("DTypePolicy", "__keras_tensor__") or item is not layer and \
                    item.get("module", "").startswith("keras.initializers"):
                continue
            sizes = {k: item["config"][k] for k in SIZE_FIELDS if item["config"].get(k) is not None}
            parts.append((item["class_name"], sizes))
        out.append((str(name), parts))
    return out
