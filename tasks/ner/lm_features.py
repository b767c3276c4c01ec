"""Contextual character-LM features for the tagger (``ner train --lm-features FWD[,BWD]``): the
states of a forward and a backward character language model at each word's boundaries (Akbik et
al. 2018, Flair's contextual string embeddings), beside the word, casing and character features.

A sentence's tokens are joined by spaces and read by each model as it was trained: the forward
model left to right, ``"\\n"`` (where its vocabulary has it), then ``tok1 tok2 ... `` with a space
after the last; the backward model (``charlm train --reverse``) the same text last character
first. A word's forward feature is the forward model's state after the space that follows the
word (it has read the sentence up to and including the word); its backward feature the backward
model's state after the space before the word (it has read the sentence from its end to the
word's first character). Characters a model never saw are read as ``<unk>``.

The models' weights are copied into the tagger (:class:`nlp_tasks.layers.LanguageModelStates`,
frozen unless ``--lm-fine-tune``) and their vocabularies saved beside its own (``lm_forward``,
``lm_backward``): the saved tagger carries what it needs and never reads the language models'
folders again; where they came from (path and the SHA-256 of their model file) is in its metrics.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from nlp_tasks.batching import pad
from nlp_tasks.errors import UserError
from nlp_tasks.text.vocab import BOS_ID, normalize_token

DIRECTIONS = ("forward", "backward")
START = "\n"  # read first, where the model knows it: a sentence starts a line


def vocab_name(direction: str) -> str:
    return f"lm_{direction}"


def directions(vocabs: dict) -> list[str]:
    """The directions whose language model a tagger with these vocabularies reads."""
    return [d for d in DIRECTIONS if vocab_name(d) in vocabs]


def read_language_models(spec: str) -> list[tuple[str, object, dict]]:
    """``[(direction, language model pipeline, provenance)]`` of ``FWD[,BWD]``: saved character
    language models, the first reading forwards, the second (if given) backwards."""
    from nlp_tasks.pipeline import Pipeline
    from nlp_tasks.saving.layout import MODEL_FILE

    paths = [p.strip() for p in str(spec).split(",")]
    if not 1 <= len(paths) <= 2 or not all(paths):
        raise UserError(f"--lm-features takes FWD_MODEL or FWD_MODEL,BWD_MODEL (saved charlm models), got {spec!r}")
    models = []
    for direction, path in zip(DIRECTIONS, paths):
        if not (Path(path) / MODEL_FILE).is_file():
            raise UserError(f"--lm-features: {path} is not a saved model folder (no {MODEL_FILE})")
        lm = Pipeline.load(path)
        if lm.task != "charlm" or lm.config.level != "char":
            raise UserError(f"--lm-features: {path} is not a character language model ('charlm train' makes one)")
        if lm.config.reverse != (direction == "backward"):
            raise UserError(f"--lm-features: {path} reads text {'backwards' if lm.config.reverse else 'forwards'}; "
                            f"the {direction} model must " + ("not " if direction == "forward" else "")
                            + "be trained with --reverse")
        digest = hashlib.sha256((Path(path) / MODEL_FILE).read_bytes()).hexdigest()
        models.append((direction, lm, {"path": str(path), "sha256": digest}))
    return models


def lm_layer(direction: str, lm, fine_tune: bool):
    """A :class:`LanguageModelStates` layer holding ``lm``'s weights (frozen unless ``fine_tune``)."""
    from nlp_tasks.layers import LanguageModelStates
    from nlp_tasks.saving.model_checks import embedding_layer_name

    cfg = lm.config
    layer = LanguageModelStates(len(lm.vocab), cfg.embedding_dim, cfg.cell, cfg.units, cfg.layers,
                                trainable=fine_tune, name=vocab_name(direction))
    layer.build([(None, None), (None, None)])
    layer.copy_language_model(lm.require_model(), embedding_layer_name(lm.vocab_name))
    return layer


def encode(vocab, token_lists, direction: str) -> tuple[np.ndarray, np.ndarray]:
    """``(ids (batch, C), positions (batch, T))`` for one direction's model: each sentence's
    character ids after ``<bos>``, and for each word the index of the state that is its feature."""
    start = vocab.encode(START) if START in vocab else []
    space = vocab.encode(" ")
    rows, places = [], []
    for tokens in token_lists:
        words = [normalize_token(t) for t in tokens]
        if direction == "backward":
            words = [w[::-1] for w in reversed(words)]
        ids = [BOS_ID, *start]
        where = []
        for word in words:
            ids += vocab.encode(word) + space
            where.append(len(ids) - 1)  # the space after the word: its state has read the word
        rows.append(ids)
        places.append(where[::-1] if direction == "backward" else where)
    return pad(rows), pad(places)
