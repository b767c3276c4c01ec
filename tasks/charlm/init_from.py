"""A language model trained further on new text (``charlm train --init-from MODEL``): the
second step of ULMFiT (Howard and Ruder 2018), fine-tuning a language model pretrained on a
general corpus on the target task's own text, and the way to continue any saved model's training
on more text.

The new model has the saved model's architecture (``SHAPE``: taken from it unless given, and
refused if given otherwise) and its vocabulary, extended by the new text's tokens it lacks
(``--max-vocab``/``--min-freq`` choose them among the new text's own, tokenised and cased as the
saved model does), so a word the pretraining corpus never showed ("movies" in a corpus of
dictionaries and manuals) gets a row of its own to learn. It starts from every weight of the
saved model; an added token's embedding row, output-layer column and bias are the means of the
saved model's (fastai does so for words new to its language model), so it starts as an average
token. The saved model's direction (``--reverse``) is kept: a backward model fine-tuned stays a
backward model, ready to be ``sentiment train --init-from``'s second model, whose vocabulary then
equals the forward one's when both were fine-tuned on the same text with the same settings.
"""

from __future__ import annotations

from nlp_tasks import teachers
from nlp_tasks.errors import UserError
from nlp_tasks.saving.model_checks import OUTPUT_LAYER, embedding_layer_name

OPTION = "--init-from"
# The settings that shape the weights (or the tokens) and must be the saved model's.
SHAPE = ("level", "cell", "units", "layers", "embedding_dim", "lower", "reverse")


def configure(path: str, config, given: set):
    """``config`` with :data:`SHAPE` taken from the saved model's config where the command line
    did not give them (a given one that differs is refused when the model is read)."""
    return teachers.saved_shape(path, config, given, SHAPE, OPTION)


def read(path: str, cfg) -> tuple[object, dict]:
    """``(language model, provenance)`` of ``path``, checked against the settings ``cfg``."""
    lm, seen = teachers.read_language_model(path, OPTION)
    differ = [f"{name} {getattr(lm.config, name)} (here {getattr(cfg, name)})" for name in SHAPE
              if getattr(lm.config, name) != getattr(cfg, name)]
    if differ:
        raise UserError(f"{OPTION}: {path} has {', '.join(differ)}; a model trained further keeps its shape")
    return lm, seen


def vocabulary(lm, texts, cfg):
    """The saved model's vocabulary, then the tokens of ``texts`` (the new training text) it lacks."""
    return teachers.extended_vocabulary(lm.vocab, texts, cfg.max_vocab, cfg.min_freq)


def copy_weights(model, lm) -> None:
    """Every weight of ``lm`` into ``model`` (built for the extended vocabulary): the rows, columns
    and biases of added tokens are the means of the saved model's."""
    import numpy as np

    saved = lm.require_model()
    size = model.get_layer(OUTPUT_LAYER).units
    name = embedding_layer_name(lm.vocab_name)
    if lm.config.embedding_dim is not None:
        (table,) = saved.get_layer(name).get_weights()
        model.get_layer(name).set_weights([teachers.extended_rows(table, size)])
    for layer in range(1, lm.config.layers + 1):
        weights = teachers.recurrent_weights(lm, layer)
        if layer == 1 and lm.config.embedding_dim is None:  # one-hot inputs: the kernel's columns after a<t-1>
            kernel, units = weights[0], lm.config.units
            weights = [np.concatenate([kernel[:, :units], teachers.extended_rows(kernel[:, units:].T, size).T], 1),
                       *weights[1:]]
        model.get_layer(f"rnn_{layer}").set_weights(weights)
    kernel, bias = saved.get_layer(OUTPUT_LAYER).get_weights()
    model.get_layer(OUTPUT_LAYER).set_weights([teachers.extended_rows(kernel.T, size).T,
                                               teachers.extended_rows(bias, size)])
