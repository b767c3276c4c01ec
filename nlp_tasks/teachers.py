"""Saved language models as another model's teachers: ``FWD[,BWD]`` folders read and checked once,
for every task that starts from them (NER's ``--lm-features``, sentiment's ``--init-from``).

A teacher is a model folder saved by the language-model task (``charlm train``); the first reads
text forwards, the second, if given, backwards (``charlm train --reverse``). Each comes back with
its provenance (the folder and the SHA-256 of its Keras file), which the student records in its
metrics: the student carries the weights it took and never reads the folders again.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from nlp_tasks.errors import UserError
from nlp_tasks.saving.layout import MODEL_FILE

DIRECTIONS = ("forward", "backward")
LANGUAGE_MODEL_TASK = "charlm"


def read_language_models(spec: str, option: str, level: str) -> list[tuple[str, object, dict]]:
    """``[(direction, pipeline, provenance)]`` of ``spec`` (``FWD[,BWD]``): saved ``level``
    (``char`` or ``word``) language models, the first reading forwards, the second backwards;
    ``option`` names the command-line option in the one-line refusals."""
    from nlp_tasks.pipeline import Pipeline

    paths = [p.strip() for p in str(spec).split(",")]
    if not 1 <= len(paths) <= 2 or not all(paths):
        raise UserError(f"{option} takes FWD_MODEL or FWD_MODEL,BWD_MODEL (saved language models), got {spec!r}")
    models = []
    for direction, path in zip(DIRECTIONS, paths):
        if not (Path(path) / MODEL_FILE).is_file():
            raise UserError(f"{option}: {path} is not a saved model folder (no {MODEL_FILE})")
        lm = Pipeline.load(path)
        if lm.task != LANGUAGE_MODEL_TASK or lm.config.level != level:
            raise UserError(f"{option}: {path} is not a {level}-level language model "
                            f"('{LANGUAGE_MODEL_TASK} train --level {level}' makes one)")
        if lm.config.reverse != (direction == "backward"):
            raise UserError(f"{option}: {path} reads text {'backwards' if lm.config.reverse else 'forwards'}; "
                            f"the {direction} model must " + ("not " if direction == "forward" else "")
                            + "be trained with --reverse")
        digest = hashlib.sha256((Path(path) / MODEL_FILE).read_bytes()).hexdigest()
        models.append((direction, lm, {"path": str(path), "sha256": digest}))
    return models


def recurrent_weights(lm, layer: int) -> list:
    """The weights of the language model's recurrent layer ``layer`` (1 = the lowest)."""
    return lm.require_model().get_layer(f"rnn_{layer}").get_weights()
