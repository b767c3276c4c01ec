"""Writing a saved model folder and reading it back: what ``Pipeline.save``, ``read_meta`` and
``load`` do (:mod:`nlp_tasks.saving.layout` says what the folder holds).

Saving writes a temporary folder beside the target and renames it into place
(:mod:`nlp_tasks.saving.outdir`), so an existing model is never left half-overwritten; everything else
already in the folder (the training log, plots, the checkpoint, files of the user's) is carried
over untouched. ``pipeline.json`` is written last: a temporary folder holding it is complete.
Reading checks the description first (:func:`read_meta`), then the vocabularies, the Keras
model's config before Keras builds it, and the model safely (:func:`read`); nothing in the folder
is ever run as code.
"""

from __future__ import annotations

import contextlib
import json
import shutil
from pathlib import Path

from nlp_tasks.errors import UserError
from nlp_tasks.saving import outdir
from nlp_tasks.saving.checkpoint import CHECKPOINT_DIR
from nlp_tasks.saving.layout import (
    CARD,
    FORMAT,
    FORMAT_VERSION,
    MAX_META_BYTES,
    META_FILE,
    MODEL,
    MODEL_FILE,
    VOCAB_NAME,
    is_our_card,
    vocab_file,
)

WHAT = "model folder"


def held(path: str | Path, what: str = "output folder"):
    """``with held(path) as folder:`` the model (or training) folder ``path`` claimed and locked
    for the block (:func:`nlp_tasks.saving.outdir.held`), released at its end if the block took it."""
    return outdir.held(path, what, MODEL)


def kept(path: str | Path):
    """``with kept(path):`` one scope across the steps that write the folder at ``path``
    (``Pipeline.train``: fit, test, save): the lock the first of them takes is kept until the
    scope ends (:func:`nlp_tasks.saving.folder_lock.kept`), so nothing is written before that step."""
    try:
        folder = outdir.resolve(path)
    except UserError:  # a dangling link: the first step's claim says so, in its turn
        return contextlib.nullcontext()
    return outdir.kept(folder)


def meta(pipe) -> dict:
    """``pipeline.json`` for ``pipe``."""
    from nlp_tasks import __version__

    return {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "task": pipe.task,
        "nlp_tasks_version": __version__,
        "config": pipe.config.to_dict(),
        "labels": list(pipe.labels),
        "vocabularies": sorted(pipe.vocabs),
        "metrics": pipe.metrics,
    }


def write(pipe, path: str | Path) -> Path:
    """Write ``pipe``'s model folder at ``path`` atomically (see ``Pipeline.save``); returns the
    resolved folder. Its lock is held while it writes, and released after unless an enclosing
    scope holds it (``Pipeline.train``)."""
    from nlp_tasks.saving.card import model_card

    model = pipe.require_model()
    with held(path, WHAT) as folder:
        tmp = outdir.make_temporary(folder)
        try:
            model.save(tmp / MODEL_FILE)
            for name, vocab in pipe.vocabs.items():
                vocab.save(tmp / vocab_file(name))
            existing = folder / CARD
            if not (existing.exists() or existing.is_symlink()) or is_our_card(existing):
                (tmp / CARD).write_text(model_card(pipe), encoding="utf-8")  # a user's README.md stays
            outdir.write_marker(tmp)
            # Written last: a temporary folder holding it is a complete model (outdir.recover).
            (tmp / META_FILE).write_text(json.dumps(meta(pipe), indent=2, ensure_ascii=False) + "\n",
                                         encoding="utf-8")
            outdir.replace_directory(tmp, folder, MODEL)
        except OSError as err:
            shutil.rmtree(tmp, ignore_errors=True)
            kept = " (the training checkpoint in it is kept: run the same command again to save)" if (
                folder / CHECKPOINT_DIR).is_dir() else ""
            raise UserError(f"could not save the model to {folder}: {err.strerror or err}; the folder is as it "
                            f"was{kept}") from None
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return folder


def read_meta(path: str | Path) -> dict:
    """``pipeline.json`` of a model folder, checked; a clear error when it is not one."""
    from nlp_tasks.io.safe_files import parse_json

    path = Path(path)
    if not path.exists():
        raise UserError(f"{path}: model folder not found")
    if not path.is_dir():
        raise UserError(f"{path}: not a model folder (it is a file)")
    meta_path = path / META_FILE
    if not meta_path.is_file():
        raise UserError(f"{path}: not a model folder ({META_FILE} is missing)")
    if meta_path.stat().st_size > MAX_META_BYTES:
        raise UserError(f"{meta_path}: model description larger than {MAX_META_BYTES} bytes")
    try:
        meta = parse_json(meta_path.read_bytes().decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise UserError(f"{meta_path}: corrupt model description (not valid UTF-8 JSON)") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise UserError(f"{meta_path}: not an nlp-tasks model description")
    if meta.get("version") != FORMAT_VERSION:
        raise UserError(f"{meta_path}: model format version {meta.get('version')!r} is not supported")
    if not isinstance(meta.get("task"), str):
        raise UserError(f"{meta_path}: 'task' must be a task name, got {meta.get('task')!r}"[:300])
    if not isinstance(meta.get("metrics", {}), (dict, type(None))):
        raise UserError(f"{meta_path}: 'metrics' must be an object")
    return meta


def read(cls, path: str | Path):
    """Load the folder at ``path`` as ``cls`` (a Pipeline class; the base class finds the task's
    own through the registry, a task's class refuses another task's folder): see ``Pipeline.load``."""
    from nlp_tasks.io.safe_files import inspect_keras_archive
    from nlp_tasks.saving.model_checks import load_keras_model
    from nlp_tasks.text.vocab import Vocabulary

    path = Path(path)
    outdir.recover_before_reading(path, MODEL)  # a save that a kill interrupted is finished or undone first
    meta = cls.read_meta(path)
    task = meta.get("task")
    target = cls
    if not cls.task:
        from nlp_tasks.registry import pipeline_class

        target = pipeline_class(task)
    elif task != cls.task:
        raise UserError(f"{path} holds a {task!r} model, not a {cls.task!r} model")
    config = target.config_class.from_dict(meta.get("config", {}), source=f"{path / META_FILE}: config")
    pipe = target(config)
    labels = meta.get("labels", [])
    if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
        raise UserError(f"{path / META_FILE}: 'labels' must be a list of strings")
    pipe.labels = labels
    pipe.metrics = meta.get("metrics", {}) or {}
    names = meta.get("vocabularies", [])
    if not isinstance(names, list):
        raise UserError(f"{path / META_FILE}: 'vocabularies' must be a list of names")
    for name in names:
        if not isinstance(name, str) or not VOCAB_NAME.fullmatch(name):
            raise UserError(f"{path / META_FILE}: vocabulary name {name!r} is not a plain name "
                            "(letters, digits, _): a model folder's files never lie outside it")
    pipe.vocabs = {name: Vocabulary.load(path / vocab_file(name)) for name in names}
    target.register_layers()
    keras_config, stored = inspect_keras_archive(path / MODEL_FILE)
    pipe.check_model_config(keras_config, stored, source=str(path))
    pipe.model = load_keras_model(path / MODEL_FILE)
    pipe.check_consistency(source=str(path))
    return pipe
