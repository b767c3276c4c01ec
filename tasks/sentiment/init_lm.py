"""The classifier started from word-level language models (``sentiment train --init-from
FWD[,BWD]``): Dai and Le 2015's LM-LSTM, the first step of ULMFiT (Howard and Ruder 2018).

The classifier's vocabulary is the forward model's (its word ids are the language model's),
extended by the training data's words the model does not know (``--max-vocab``/``--min-freq``
choose them as without a language model; the language model's casing applies): a pretraining
corpus from another domain lacks the task's own words (SST's "movies", "thriller",
"predictable"), and a test word known to the language model keeps its row although the labels
never showed it. The embedding table is the forward model's, each added word's row the mean of
its rows (as fastai's ULMFiT does for words new to the language model), and its first
bidirectional layer takes the forward model's lowest recurrent layer as its forward half and the
backward model's (``charlm train --level word --reverse``) as its backward half: a
``Bidirectional`` layer's backward half reads each text last word first, as the backward model
was trained to. Then everything is trained on the labels (fine-tuned). Layers
above the first read both halves' outputs, a width no language-model layer has: they start
random. The cell, the units and the embedding width must be the language models'; the command
line takes them from the forward model unless given.
"""

from __future__ import annotations

from nlp_tasks import teachers
from nlp_tasks.errors import UserError
from nlp_tasks.saving.model_checks import embedding_layer_name

SHAPE = ("cell", "units", "embedding_dim")  # settings the classifier must share with its language models


def read(spec: str, cfg) -> list[tuple[str, object, dict]]:
    """The language models of ``--init-from``, checked against the classifier's settings ``cfg``."""
    lms = teachers.read_language_models(spec, "--init-from", "word")
    forward = lms[0][1]
    for _, lm, seen in lms:
        if lm.config.embedding_dim is None:
            raise UserError(f"--init-from: {seen['path']} reads one-hot words (no embedding table to start from)")
        differ = [f"{name} {getattr(lm.config, name)} (here {getattr(cfg, name)})" for name in SHAPE
                  if getattr(lm.config, name) != getattr(cfg, name)]
        if differ:
            raise UserError(f"--init-from: {seen['path']} has {', '.join(differ)}; the classifier must have the same")
        if lm.vocab != forward.vocab:
            raise UserError(f"--init-from: {seen['path']} has another vocabulary than {lms[0][2]['path']}; "
                            "train both language models on the same corpus with the same settings")
    return lms


def configure(spec: str, config, given: set):
    """``config`` with :data:`SHAPE` taken from the forward language model's saved config where the
    command line did not give them."""
    return teachers.saved_shape(spec.split(",")[0].strip(), config, given, SHAPE, "--init-from")


def vocabulary(lms, texts, cfg):
    """The forward language model's vocabulary, and after it the words of ``texts`` (the training
    data) it lacks, chosen by ``cfg.max_vocab`` and ``cfg.min_freq``, cased as the model is."""
    return teachers.extended_vocabulary(lms[0][1].vocab, texts, cfg.max_vocab, cfg.min_freq)


def copy_weights(model, lms) -> None:
    """Put the language models' embedding table (each added word's row: the mean of its rows) and
    lowest recurrent layers into ``model``."""
    forward = lms[0][1].require_model()
    table = forward.get_layer(embedding_layer_name("words")).get_weights()[0]
    embedding = model.get_layer(embedding_layer_name("words"))
    embedding.set_weights([teachers.extended_rows(table, embedding.input_dim)])
    encoder = model.get_layer("encoder_1")
    for direction, lm, _ in lms:
        half = encoder.forward_layer if direction == "forward" else encoder.backward_layer
        half.set_weights(teachers.recurrent_weights(lm, 1))
