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
    paths = [p.strip() for p in str(spec).split(",")]
    if not 1 <= len(paths) <= 2 or not all(paths):
        raise UserError(f"{option} takes FWD_MODEL or FWD_MODEL,BWD_MODEL (saved language models), got {spec!r}")
    models = []
    for direction, path in zip(DIRECTIONS, paths):
        lm, seen = read_language_model(path, option, level)
        if lm.config.reverse != (direction == "backward"):
            raise UserError(f"{option}: {path} reads text {'backwards' if lm.config.reverse else 'forwards'}; "
                            f"the {direction} model must " + ("not " if direction == "forward" else "")
                            + "be trained with --reverse")
        models.append((direction, lm, seen))
    return models


def read_language_model(path: str, option: str, level: str | None = None) -> tuple[object, dict]:
    """``(pipeline, provenance)`` of the language model saved in ``path`` (of ``level``, where
    given); ``option`` names the command-line option in the one-line refusals."""
    from nlp_tasks.pipeline import Pipeline

    if not (Path(path) / MODEL_FILE).is_file():
        raise UserError(f"{option}: {path} is not a saved model folder (no {MODEL_FILE})")
    lm = Pipeline.load(path)
    if lm.task != LANGUAGE_MODEL_TASK or level not in (None, lm.config.level):
        kind = f"{level}-level language model" if level else "language model"
        raise UserError(f"{option}: {path} is not a {kind} ('{LANGUAGE_MODEL_TASK} train"
                        + (f" --level {level}" if level else "") + "' makes one)")
    return lm, {"path": str(path), "sha256": model_digest(path)}


def model_digest(path) -> str:
    """The SHA-256 of a saved model folder's Keras file: the provenance a student records."""
    return hashlib.sha256((Path(path) / MODEL_FILE).read_bytes()).hexdigest()


def saved_shape(path: str, config, given: set, names, option: str):
    """``config`` with the settings ``names`` taken from the model saved in ``path`` where the
    command line did not give them (``given``); a different one given is refused when the model is read."""
    from nlp_tasks.saving.folder import read_meta

    try:
        saved = read_meta(path).get("config", {})
    except UserError as error:
        raise UserError(f"{option}: {error}") from None
    return config.replace(**{name: saved[name] for name in names if name not in given and name in saved})


def extended_vocabulary(known, texts, max_vocab: int | None, min_freq: int):
    """``known`` (a :class:`~nlp_tasks.text.vocab.Vocabulary`), then the tokens of ``texts`` it
    lacks, chosen by ``max_vocab`` and ``min_freq`` among ``texts``' own, tokenised and cased as
    ``known`` is: a model's ids are kept and the new data's own tokens get ids after them."""
    from nlp_tasks.text.vocab import SPECIALS, Vocabulary

    own = Vocabulary.build(texts, level=known.level, max_size=max_vocab, min_freq=min_freq, lower=known.lower)
    added = [token for token in own.tokens[len(SPECIALS):] if token not in known]
    return Vocabulary(known.tokens[len(SPECIALS):] + added, level=known.level, lower=known.lower)


def extended_rows(table, rows: int):
    """``table`` (a token-indexed array: embedding rows, output columns transposed, biases) grown to
    ``rows`` rows, each new one the mean of the old (fastai's ULMFiT does so for tokens new to its
    language model)."""
    import numpy as np

    added = rows - len(table)
    return np.concatenate([table, np.repeat(table.mean(axis=0, keepdims=True), added, axis=0)])


def recurrent_weights(lm, layer: int) -> list:
    """The weights of the language model's recurrent layer ``layer`` (1 = the lowest)."""
    return lm.require_model().get_layer(f"rnn_{layer}").get_weights()
