"""What a saved model folder is made of: the one module that spells its names.

::

    model-dir/
      pipeline.json        META_FILE: format, task, nlp-tasks version, config, labels, vocabularies, metrics
      model.keras          MODEL_FILE: the Keras model, loaded with safe_mode=True
      vocab-<name>.json    vocab_file(name): one file per vocabulary (words, chars, ...)
      README.md            CARD: the model card (nlp_tasks.saving.card), unless the user has a README.md there
      .nlp-tasks           the marker of a folder nlp-tasks wrote (nlp_tasks.saving.outdir)

A training folder (``train --out``) is the same folder before its model is saved: it may hold a
checkpoint (:mod:`nlp_tasks.saving.checkpoint`), the training log and plots. :data:`MODEL` tells
:mod:`nlp_tasks.saving.outdir` what marks such a folder as ours, which of its entries a new save
replaces (:func:`model_files`) and which file completes one (``pipeline.json``, written last).
Nothing here imports TensorFlow.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from nlp_tasks.saving import checkpoint, outdir

META_FILE = "pipeline.json"
MODEL_FILE = "model.keras"
CARD = "README.md"
CARD_MARK = "<!-- model card written by nlp-tasks; it is rewritten on every save -->"
FORMAT = "nlp_tasks.pipeline"
FORMAT_VERSION = 1
MAX_META_BYTES = 64 * 2**20  # pipeline.json holds a config, labels and metrics: kilobytes
VOCAB_NAME = re.compile(r"[A-Za-z0-9_]{1,64}")  # vocabulary names stay inside the folder
_VOCAB_FILE = re.compile(r"vocab-[^/\\]+\.json")


def vocab_file(name: str) -> str:
    """The file name of vocabulary ``name`` (in a model folder and an export folder alike)."""
    return f"vocab-{name}.json"


def is_vocab_file(name: str) -> bool:
    """True for a name of the form :func:`vocab_file` writes (one file inside the folder)."""
    return _VOCAB_FILE.fullmatch(name) is not None


def is_our_card(path) -> bool:
    """True when the file at ``path`` is a model card nlp-tasks wrote (a link never is)."""
    if os.path.islink(path):
        return False
    try:
        with open(path, encoding="utf-8") as handle:
            return CARD_MARK in handle.read(4096)
    except (OSError, UnicodeDecodeError):
        return False


def is_model_folder(folder: Path) -> bool:
    """True for a folder holding a model description nlp-tasks wrote."""
    return outdir.json_format(Path(folder) / META_FILE) == FORMAT


def is_training_folder(folder: Path) -> bool:
    """True for a model folder, or one holding a training checkpoint nlp-tasks wrote."""
    return is_model_folder(folder) or checkpoint.is_checkpoint(Path(folder) / checkpoint.CHECKPOINT_DIR)


def model_files(folder: Path) -> set[str]:
    """The names in a model folder that nlp-tasks wrote as the model itself: the description,
    the weights, the marker, the card if it is still ours, and each vocabulary the description
    lists. A new save replaces exactly these; everything else in the folder is kept."""
    names = {outdir.MARKER}
    if not is_model_folder(folder):
        return names  # without our description, a model.keras here is not ours
    names |= {META_FILE, MODEL_FILE}
    if is_our_card(folder / CARD):
        names.add(CARD)
    try:
        meta = json.loads((folder / META_FILE).read_text(encoding="utf-8"))
        vocabs = meta.get("vocabularies", []) if isinstance(meta, dict) else []
    except (OSError, UnicodeDecodeError, ValueError, RecursionError):
        vocabs = []
    if isinstance(vocabs, list):
        names |= {vocab_file(v) for v in vocabs if isinstance(v, str) and "/" not in v and "\\" not in v}
    return names


def writes(name: str) -> bool:
    """True for a name a save writes into its temporary folder."""
    return name in (META_FILE, MODEL_FILE, CARD) or is_vocab_file(name)


# The model (and training) folder, as nlp_tasks.saving.outdir claims, swaps and recovers it.
MODEL = outdir.FolderKind(complete=META_FILE, own=model_files, writes=writes, marks=is_training_folder)
