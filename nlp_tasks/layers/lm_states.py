"""``LanguageModelStates``: a recurrent language model's hidden states at chosen places of a text,
as features for another model: the contextual string embeddings of Akbik et al. 2018 (Flair), in
our own cells.

The layer is the language model without its output layer: ``TokenFeatures`` (``<bos>`` -> the zero
vector) and the stacked recurrent layers. It reads a text's token ids, ``<bos>`` first, and for
each of ``T`` places returns the top layer's state after the token at that place's index:

    ids (batch, C), positions (batch, T) -> states (batch, T, units)
    a<j> = the top layer's output after reading ids[:, :j + 1];  out[b, t] = a<positions[b, t]>[b]

Position 0 (the state after ``<bos>`` alone) stands for "no place" (padding): the output is
masked there. :meth:`copy_language_model` takes the weights of a trained language model built as
:mod:`tasks.charlm` builds it (``TokenFeatures`` named by its vocabulary, ``rnn_1``, ``rnn_2``, ...).
The layer is frozen (``trainable=False``) by whoever uses it as a fixed feature extractor.
"""

from __future__ import annotations

import keras
from keras import ops

from nlp_tasks.errors import UserError
from nlp_tasks.layers.features import TokenFeatures
from nlp_tasks.layers.recurrent import CELL_TYPES, recurrent
from nlp_tasks.text.vocab import BOS_ID


@keras.saving.register_keras_serializable(package="nlp_tasks")
class LanguageModelStates(keras.layers.Layer):
    """``[ids (batch, C), positions (batch, T)] -> (batch, T, units)``; see the module docstring."""

    def __init__(self, vocab_size: int, embedding_dim: int | None, cell: str = "gru", units: int = 512,
                 layers: int = 1, **kwargs):
        super().__init__(**kwargs)
        if cell not in CELL_TYPES:
            raise UserError(f"LanguageModelStates: cell must be one of {', '.join(CELL_TYPES)}, got {cell!r}")
        for name, value in (("units", units), ("layers", layers)):
            if not isinstance(value, int) or value < 1:
                raise UserError(f"LanguageModelStates: {name} must be a positive integer, got {value!r}")
        # the depth is not called `layers`: a `layers` attribute reads as a list of sublayers to Keras-walking code
        self.vocab_size, self.embedding_dim, self.cell, self.units, self.depth = (vocab_size, embedding_dim, cell,
                                                                                  units, layers)
        self.features = TokenFeatures(vocab_size, embedding_dim, zero_id=BOS_ID, mask_zero=True, name="features")
        self.rnns = [recurrent(cell, units, return_sequences=True, name=f"rnn_{i}") for i in range(1, layers + 1)]
        self.supports_masking = True
        for layer in (self.features, *self.rnns):  # trainable=False (frozen) given to __init__ reaches them too
            layer.trainable = self.trainable

    def build(self, input_shape):
        ids_shape = tuple(input_shape[0])
        self.features.build(ids_shape)
        width = self.features.output_dim
        for rnn in self.rnns:
            rnn.build((*ids_shape, width))
            width = self.units
        self.built = True

    def call(self, inputs, mask=None):
        ids, positions = inputs
        ids, positions = ops.cast(ids, "int32"), ops.cast(positions, "int32")
        real = ops.not_equal(ids, 0)  # (batch, C): padding is skipped, the state carried over it
        x = self.features(ids)  # (batch, C, dim)
        for rnn in self.rnns:
            x = rnn(x, mask=real)  # (batch, C, units)
        picked = ops.take_along_axis(x, positions[:, :, None], axis=1)  # (batch, T, units)
        return picked * ops.cast(ops.greater(positions, 0), picked.dtype)[:, :, None]

    def compute_mask(self, inputs, mask=None):
        return ops.greater(inputs[1], 0)

    def compute_output_shape(self, input_shape):
        return (*tuple(input_shape[1]), self.units)

    def copy_language_model(self, model, features_name: str) -> None:
        """Take the weights of a language model ``model`` (a keras Model with the ``TokenFeatures``
        layer ``features_name`` and recurrent layers ``rnn_1``..), refusing one of another shape."""
        sources = [model.get_layer(features_name)] + [model.get_layer(f"rnn_{i}") for i in range(1, self.depth + 1)]
        for target, source in zip([self.features, *self.rnns], sources):
            mine, theirs = target.get_weights(), source.get_weights()
            if [w.shape for w in mine] != [w.shape for w in theirs]:
                raise UserError(f"the language model's layer {source.name} has weights of shapes "
                                f"{[w.shape for w in theirs]}, not {[w.shape for w in mine]}")
            target.set_weights(theirs)

    def get_config(self):
        return {**super().get_config(), "vocab_size": self.vocab_size, "embedding_dim": self.embedding_dim,
                "cell": self.cell, "units": self.units, "layers": self.depth}
