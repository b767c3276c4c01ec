"""Export a trained pipeline to SavedModel (TF Serving), LiteRT or ONNX, written once for every task.

Each task says what its exported model offers (:meth:`nlp_tasks.pipeline.Pipeline.export_spec`):
a list of :class:`Endpoint` s, graph functions with named tensor inputs and outputs. Endpoints
that take and give only numbers (``portable``: token ids, piano-roll frames, states) go into
every format; those that take strings (NER tokens, sentiment texts, with the vocabulary lookups
in the graph as ``tf.lookup`` tables) only into the SavedModel, since neither LiteRT's built-in
ops nor ONNX have TensorFlow's string ops. :func:`export` writes:

- ``savedmodel``: a TensorFlow SavedModel (Keras' ``ExportArchive``), one serving signature per
  endpoint; ``tf.saved_model.load(path).signatures["serve"]`` in any TensorFlow, TF Serving;
- ``litert``: ``model.tflite``, one LiteRT signature per portable endpoint, TensorFlow's
  converter with built-in ops only (no Flex / select TF ops); a model that needs any is refused
  in one line naming the op;
- ``onnx``: ``<endpoint>.onnx`` per portable endpoint, converted by ``tf2onnx``.

``quantize="int8"`` (LiteRT and ONNX) stores the weights of the matrix products as int8 with a
scale each and keeps the activations float (dynamic-range quantisation): TensorFlow's
converter's default optimisation for LiteRT, ONNX Runtime's ``quantize_dynamic`` for ONNX, inside
the recurrent loops too (:mod:`nlp_tasks.export.int8`). ``export.json``'s ``quantization`` counts
the int8 weight tensors and names those left float. A SavedModel keeps float weights.

Every export folder also holds ``export.json`` (what each endpoint takes and gives, the state
sizes, the special ids), the vocabularies as ``vocab-<name>.json`` and the model card
``README.md``. The folder is written atomically (:mod:`nlp_tasks.saving.outdir`: a temporary folder,
then a rename) and only into a new or empty folder or an earlier export of ours.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import re
import shutil
import tempfile
from pathlib import Path
from typing import Callable

from nlp_tasks.errors import UserError
from nlp_tasks.saving import outdir
from nlp_tasks.saving.layout import CARD, is_our_card, is_training_folder, is_vocab_file, vocab_file

from .litert import fixed_batch, length_buckets, litert_endpoints, write_litert  # noqa: F401
from .state import join_state, recurrent_cells, split_state, state_layout  # noqa: F401  (the tasks' export specs)

FORMATS = ("savedmodel", "litert", "onnx")
QUANTIZATIONS = ("int8",)
EXPORT_FILE = "export.json"
EXPORT_FORMAT = "nlp_tasks.export"
EXPORT_VERSION = 1
LITERT_FILE = "model.tflite"
ONNX_OPSET = 17
INSTALL = "pip install 'nlp-tasks[export]'"


@dataclasses.dataclass
class Endpoint:
    """One exported function: ``fn(*inputs) -> {output name: tensor}``.

    ``inputs``: ``tf.TensorSpec`` s with names (the names clients use); ``outputs``: a short
    description of each output, for ``export.json`` and the model card; ``portable``: numbers
    in and out only, so it is also written to LiteRT and ONNX; ``fixed_length``: its LiteRT form
    has a fixed time dimension as well as a fixed batch (:func:`fixed_batch`)."""

    name: str
    fn: Callable
    inputs: list
    outputs: dict
    doc: str
    portable: bool = True
    fixed_length: bool = False  # LiteRT needs the time dimension fixed too (a loop over batch x T)
    not_for_litert: str | None = None  # why LiteRT cannot take this endpoint: a LiteRT export is refused with it


@dataclasses.dataclass
class ExportSpec:
    """What a task exports: its endpoints, the ``tf.lookup`` tables they use (tracked into the
    SavedModel) and facts a client needs (``info``: state size, special ids, labels...)."""

    endpoints: list
    resources: list = dataclasses.field(default_factory=list)
    info: dict = dataclasses.field(default_factory=dict)


SAVED_MODEL_FILES = ("saved_model.pb", "fingerprint.pb", "variables", "assets")  # what ExportArchive writes


def export_files(folder: Path) -> set[str]:
    """The names in an export folder that the previous export wrote, which a new export replaces.

    Only what that export's ``export.json`` lists: its format's files (the SavedModel's, the
    LiteRT file, one ``.onnx`` per endpoint), its vocabularies, and the model card if it is still
    ours (:func:`nlp_tasks.saving.layout.is_our_card`). A ``vocab-mine.json``, a ``mymodel.onnx`` or a
    README the user wrote are not ours, so they are kept (or, if a new export needs the name,
    refused in one line)."""
    names = {outdir.MARKER}
    description = _description(folder / EXPORT_FILE)
    if description is None:
        return names
    names.add(EXPORT_FILE)
    if is_our_card(folder / CARD):
        names.add(CARD)
    kind = description.get("export_format")
    if kind == "savedmodel":
        names |= set(SAVED_MODEL_FILES)
    elif kind == "litert":
        names.add(LITERT_FILE)
    elif kind == "onnx":
        endpoints = description.get("endpoints")
        files = ([e.get("file") for e in endpoints.values() if isinstance(e, dict)]
                 if isinstance(endpoints, dict) else [])
        names |= {f for f in files if isinstance(f, str) and re.fullmatch(r"\w+\.onnx", f)}
    vocabularies = description.get("vocabularies")
    if isinstance(vocabularies, dict):
        names |= {f for f in vocabularies.values() if isinstance(f, str) and is_vocab_file(f)}
    return names


def planned_files(pipe, format: str, endpoints) -> set[str]:
    """The names an export of ``pipe`` in ``format`` writes (checked against the folder first)."""
    names = {EXPORT_FILE, CARD, *(vocab_file(name) for name in pipe.vocabs)}
    if format == "savedmodel":
        return names | {"saved_model.pb", "variables"}
    return names | ({LITERT_FILE} if format == "litert" else {_onnx_file(e.name) for e in endpoints})


def _onnx_file(endpoint: str) -> str:
    return f"{endpoint}.onnx"


def _writes(name: str) -> bool:
    """True for a name an export writes into its temporary folder."""
    return (name in (EXPORT_FILE, CARD, LITERT_FILE, *SAVED_MODEL_FILES) or is_vocab_file(name)
            or re.fullmatch(r"\w+\.onnx", name) is not None)


def _description(path: Path) -> dict | None:
    """An earlier export's ``export.json`` (ours: its ``format`` field), None otherwise."""
    from nlp_tasks.io.safe_files import parse_json

    try:
        if path.is_symlink() or not path.is_file() or path.stat().st_size > 16 * 2**20:
            return None
        value = parse_json(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    return value if isinstance(value, dict) and value.get("format") == EXPORT_FORMAT else None


def is_export(folder: Path) -> bool:
    return _description(Path(folder) / EXPORT_FILE) is not None


# The export folder, as nlp_tasks.saving.outdir claims, swaps and recovers it: export.json written last.
KIND = outdir.FolderKind(complete=EXPORT_FILE, own=export_files, writes=_writes, marks=is_export)


def export(pipe, path: str | Path, format: str = "savedmodel", batch_size: int = 1, length: int = 128,
           quantize: str | None = None) -> dict:
    """Write ``pipe``'s model to ``path`` in ``format``; returns the description (``export.json``).
    ``batch_size`` and ``length``: the fixed batch of a LiteRT model and the fixed time dimension
    of its endpoints that need one (:func:`fixed_batch`); other formats take any shape.
    ``quantize``: None (float weights) or ``"int8"`` (LiteRT and ONNX; see the module notes)."""
    if format not in FORMATS:
        raise UserError(f"unknown export format {format!r}; choose one of {', '.join(FORMATS)}")
    check_quantize(format, quantize)
    for name, value in (("batch size", batch_size), ("length", length)):
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65536:
            raise UserError(f"{name} must be an integer from 1 to 65536, got {value!r}")
    pipe.require_model()
    if format == "onnx":
        _require_module("tf2onnx", "ONNX export")
        if quantize:
            _require_module("onnxruntime.quantization", "int8 ONNX export")
    spec = pipe.export_spec()
    endpoints = spec.endpoints if format == "savedmodel" else [e for e in spec.endpoints if e.portable]
    if not endpoints:
        raise UserError(f"a {pipe.task} model has nothing to export as {format}")
    if format == "litert" and any(e.not_for_litert for e in endpoints):
        raise UserError(next(e.not_for_litert for e in endpoints if e.not_for_litert))
    target = outdir.resolve(path, "export folder")
    if target.is_dir() and not is_export(target) and is_training_folder(target):
        raise UserError(f"{target} is a model or training folder; export to a folder of its own")
    with outdir.held(path, "export folder", KIND) as folder:
        outdir.check_in_the_way(folder, planned_files(pipe, format, endpoints), export_files(folder))
        return _write(pipe, spec, endpoints, format, batch_size, length, folder, quantize)


def check_quantize(format: str, quantize: str | None) -> None:
    """Refuse a quantisation this format does not take (the CLI calls it before reading the model)."""
    if quantize is not None and quantize not in QUANTIZATIONS:
        raise UserError(f"unknown quantization {quantize!r}; choose one of {', '.join(QUANTIZATIONS)}")
    if quantize and format == "savedmodel":
        raise UserError("--quantize int8 is for --format litert or onnx: a SavedModel keeps float weights")


def _write(pipe, spec: ExportSpec, endpoints, format: str, batch_size: int, length: int, folder: Path,
           quantize: str | None = None) -> dict:
    """Write the export into a temporary folder beside ``folder`` and swap it into place."""
    tmp = outdir.make_temporary(folder)
    try:
        with scratch_folder(tmp / outdir.SCRATCH) as scratch:
            if format == "savedmodel":
                write_saved_model(pipe, spec, endpoints, tmp)
            else:
                if format == "litert":  # LiteRT's loops need a known batch size (see fixed_batch); its
                    endpoints = litert_endpoints(endpoints, batch_size, length)  # converter reads a SavedModel
                    write_saved_model(pipe, spec, endpoints, scratch / "savedmodel", tables=False)
                    quantization = write_litert(scratch / "savedmodel", endpoints, tmp / LITERT_FILE, quantize)
                else:
                    quantization = {"int8": 0, "float": []}
                    for endpoint in endpoints:
                        target = tmp / _onnx_file(endpoint.name)
                        if quantize:
                            write_onnx(endpoint, scratch / target.name)
                            from .int8 import quantize_onnx

                            done = quantize_onnx(scratch / target.name, target)
                            quantization["int8"] += done["int8"]
                            quantization["float"] += [f"{endpoint.name}: {name}" for name in done["float"]]
                        else:
                            write_onnx(endpoint, target)
        for name, vocab in pipe.vocabs.items():
            vocab.save(tmp / vocab_file(name))
        description = describe(pipe, spec, endpoints, format)
        if quantize:
            description["quantization"] = {"weights": quantize, "activations": "float32",
                                           "method": "dynamic range", **quantization}  # int8, float: counted
        if format == "litert":
            description["batch_size"] = batch_size
            if any(e.fixed_length for e in endpoints):
                description["length"] = length
                description["length_buckets"] = {e.name: e.inputs[0].shape[1] for e in endpoints if e.fixed_length}
        from nlp_tasks.saving.card import model_card

        (tmp / CARD).write_text(model_card(pipe, export=description), encoding="utf-8")
        outdir.write_marker(tmp)
        # Written last: a temporary folder holding it is a complete export (outdir.recover).
        (tmp / EXPORT_FILE).write_text(json.dumps(description, indent=2, ensure_ascii=False) + "\n",
                                       encoding="utf-8")
        outdir.replace_directory(tmp, folder, KIND)
    except OSError as err:
        shutil.rmtree(tmp, ignore_errors=True)
        raise UserError(f"could not export to {folder}: {err.strerror or err}; the folder is as it was") from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return description


@contextlib.contextmanager
def scratch_folder(path: Path):
    """A folder for the converters' intermediate files, inside the export's own temporary folder,
    and Python's temporary folder pointed at it meanwhile: TensorFlow's AutoGraph writes the
    functions it converts as ``__autograph_generated_file*.py`` there and only deletes them when
    the process exits normally. A kill mid-export so leaves nothing in the system's temporary
    folder; the next export to the same folder removes the whole temporary folder
    (:func:`nlp_tasks.saving.outdir.recover`). ``tempfile.tempdir`` is process-wide: exports are not
    meant to run in several threads of one process."""
    path.mkdir()
    before = tempfile.tempdir
    tempfile.tempdir = str(path)
    try:
        yield path
    finally:
        tempfile.tempdir = before
        shutil.rmtree(path, ignore_errors=True)


def describe(pipe, spec: ExportSpec, endpoints, format: str) -> dict:
    from nlp_tasks import __version__

    def tensor(s):
        return {"name": s.name, "dtype": s.dtype.name, "shape": [d for d in s.shape.as_list()]}

    files = {"savedmodel": "saved_model.pb", "litert": LITERT_FILE}
    return {
        "format": EXPORT_FORMAT,
        "version": EXPORT_VERSION,
        "export_format": format,
        "task": pipe.task,
        "nlp_tasks_version": __version__,
        "endpoints": {e.name: {"doc": e.doc, "inputs": [tensor(s) for s in e.inputs], "outputs": e.outputs,
                               "file": files.get(format, _onnx_file(e.name))} for e in endpoints},
        "labels": list(pipe.labels),
        "vocabularies": {name: vocab_file(name) for name in sorted(pipe.vocabs)},
        **spec.info,
    }


def _require_module(name: str, what: str):
    import importlib

    try:
        return importlib.import_module(name)
    except ImportError:
        raise UserError(f"{what} needs the {name} package: {INSTALL}") from None


# ---------------------------------------------------------------------- writers
def write_saved_model(pipe, spec: ExportSpec, endpoints, path: Path, tables: bool = True) -> None:
    """A SavedModel with one signature per endpoint (Keras' ``ExportArchive``); ``tables``: track
    the spec's lookup tables (the string endpoints' only; LiteRT and ONNX get none)."""
    import keras

    archive = keras.export.ExportArchive()
    archive.track(pipe.model)
    for resource in spec.resources if tables else ():
        archive.track(resource)
    for endpoint in endpoints:
        archive.add_endpoint(endpoint.name, endpoint.fn, input_signature=list(endpoint.inputs))
    _quietly(archive.write_out, str(path), verbose=False)


def write_onnx(endpoint: Endpoint, path: Path) -> None:
    """``<endpoint>.onnx`` by ``tf2onnx`` from the endpoint's graph function."""
    import tensorflow as tf

    from nlp_tasks import _keras_compat

    tf2onnx = _require_module("tf2onnx", "ONNX export")
    _keras_compat.patch_tf2onnx()
    function = tf.function(endpoint.fn, input_signature=list(endpoint.inputs))
    try:
        model, _ = _quietly(tf2onnx.convert.from_function, function, input_signature=list(endpoint.inputs),
                            opset=ONNX_OPSET)
    except Exception as err:
        raise UserError(
            f"cannot convert the {endpoint.name!r} endpoint to ONNX: "
            f"{str(err).strip().splitlines()[-1][:300] if str(err).strip() else type(err).__name__}") from None
    path.write_bytes(model.SerializeToString())


def _quietly(fn, *args, **kwargs):
    """Run a converter with its progress chatter (absl logging, prints) kept off stdout."""
    import contextlib
    import io
    import logging

    loggers = [logging.getLogger(n) for n in ("tf2onnx", "absl")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            return fn(*args, **kwargs)
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)
