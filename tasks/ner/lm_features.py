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

import numpy as np

from nlp_tasks import teachers
from nlp_tasks.batching import pad
from nlp_tasks.teachers import DIRECTIONS
from nlp_tasks.text.vocab import BOS_ID, normalize_token

START = "\n"  # read first, where the model knows it: a sentence starts a line


def vocab_name(direction: str) -> str:
    return f"lm_{direction}"


def directions(vocabs: dict) -> list[str]:
    """The directions whose language model a tagger with these vocabularies reads."""
    return [d for d in DIRECTIONS if vocab_name(d) in vocabs]


def read_language_models(spec: str) -> list[tuple[str, object, dict]]:
    """``[(direction, language model pipeline, provenance)]`` of ``FWD[,BWD]``: saved character
    language models, the first reading forwards, the second (if given) backwards."""
    return teachers.read_language_models(spec, "--lm-features", "char")


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


def graph_inputs(table, vocab, tokens, direction: str):
    """:func:`encode` as graph ops, for the exported ``serve`` endpoint: ``tokens (batch, T)``
    strings (format characters stripped, real tokens first, ``""`` after them) -> ``(ids (batch,
    C), positions (batch, T))``; ``table``: the vocabulary's lookup (:func:`nlp_tasks.export.text.lookup_table`)."""
    import tensorflow as tf

    real = tf.not_equal(tokens, "")
    if vocab.lower:
        tokens = tf.strings.lower(tokens, encoding="utf-8")
    lengths = tf.strings.length(tokens, unit="UTF8_CHAR")  # (batch, T)
    chars = tf.strings.unicode_split(tokens, "UTF-8").to_tensor(default_value="")  # (batch, T, W)
    count = tf.reduce_sum(tf.cast(real, tf.int32), axis=1)[:, None]  # real tokens per row
    steps = tf.range(tf.shape(tokens)[1])[None, :]
    order = tf.where(steps < count, count - 1 - steps, steps)  # the real tokens last first (its own inverse)
    if direction == "backward":  # each word spelled backwards, the words in reverse order
        j = tf.range(tf.shape(chars)[2])[None, None, :]
        spelled = tf.gather(chars, tf.maximum(lengths[:, :, None] - 1 - j, 0), batch_dims=2)
        chars = tf.gather(tf.where(j < lengths[:, :, None], spelled, ""), order, batch_dims=1)
        lengths = tf.gather(lengths, order, batch_dims=1)
    pieces = tf.concat([chars, tf.where(real, " ", "")[:, :, None]], axis=2)  # each word and its space
    flat = tf.reshape(pieces, [tf.shape(tokens)[0], -1])
    text = tf.ragged.boolean_mask(flat, tf.not_equal(flat, ""))
    prefix = [BOS_ID] + (vocab.encode(START) if START in vocab else [])
    ids = tf.concat([tf.tile(tf.constant([prefix], tf.int32), [tf.shape(tokens)[0], 1]),
                     tf.ragged.map_flat_values(table.lookup, text).to_tensor(default_value=0)], axis=1)
    spaces = tf.cumsum(lengths + 1, axis=1) + len(prefix) - 1  # the index of each word's space
    positions = tf.where(real, spaces, 0)
    if direction == "backward":
        positions = tf.gather(positions, order, batch_dims=1)
    return ids, positions
