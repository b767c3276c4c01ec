"""Layers specific to the NER model: character-level word features."""

from __future__ import annotations

import keras
from keras import ops

from nlp_tasks import _keras_compat
from nlp_tasks.layers import recurrent


@keras.saving.register_keras_serializable(package="nlp_tasks")
class CharEncoder(keras.layers.Layer):
    """Encode each word from its characters with a bidirectional recurrent layer.

    Input: character embeddings (batch, words, chars, dim) with their mask (batch, words,
    chars); output (batch, words, 2 * units): the final forward and backward states, which
    see a word's prefix and suffix (Lample et al. 2016).
    """

    def __init__(self, cell: str = "gru", units: int = 50, **kwargs):
        super().__init__(**kwargs)
        self.cell, self.units = cell, units
        with _keras_compat.outside_object_sharing():  # Bidirectional copies its layer: no sharing by id() (a load)
            self.encoder = keras.layers.Bidirectional(recurrent(cell, units), name="chars_birnn")

    def build(self, input_shape):
        self.encoder.build((None, input_shape[2], input_shape[3]))

    def call(self, inputs, mask=None):
        shape = ops.shape(inputs)  # (batch, words, chars, dim)
        # batch * words, spelled out when both are known when tracing, so the loop's shapes are
        # static where they can be (LiteRT's converter needs that: nlp_tasks.export.fixed_batch)
        batch, words = inputs.shape[0], inputs.shape[1]
        rows = batch * words if batch is not None and words is not None else -1
        flat = ops.reshape(inputs, (rows, shape[2], shape[3]))  # (batch * words, chars, dim)
        flat_mask = None if mask is None else ops.reshape(mask, (rows, shape[2]))
        encoded = self.encoder(flat, mask=flat_mask)  # (batch * words, 2 * units)
        return ops.reshape(encoded, (shape[0], shape[1], 2 * self.units))

    def compute_mask(self, inputs, mask=None):
        # A word is real when it has a character. Every input of the model's Concatenate must carry
        # the word mask: Keras' Concatenate keeps a step when *any* input's mask does, and counts
        # an input without a mask as all ones, which would run the encoder over the padding.
        return None if mask is None else ops.any(mask, axis=-1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[1], 2 * self.units)

    def get_config(self):
        return {**super().get_config(), "cell": self.cell, "units": self.units}
