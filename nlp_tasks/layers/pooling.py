"""Masked pooling over time: many-to-one summaries of a sequence of activations.

``(batch, T, d)`` with a ``(batch, T)`` mask -> ``(batch, d)``; padded steps never count.
"""

from __future__ import annotations

import keras
from keras import ops

from nlp_tasks.errors import UserError


def _float_mask(inputs, mask):
    if mask is None:
        return ops.ones(ops.shape(inputs)[:2], dtype=inputs.dtype)
    return ops.cast(mask, inputs.dtype)


@keras.saving.register_keras_serializable(package="nlp_tasks")
class MaskedMaxPooling(keras.layers.Layer):
    """Element-wise maximum over the real (unmasked) time steps."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True

    def call(self, inputs, mask=None):
        m = _float_mask(inputs, mask)[:, :, None]  # (batch, T, 1)
        lowest = ops.cast(-1e9, inputs.dtype)
        return ops.max(ops.where(m > 0, inputs, lowest), axis=1)

    def compute_mask(self, inputs, mask=None):
        return None


@keras.saving.register_keras_serializable(package="nlp_tasks")
class MaskedMeanPooling(keras.layers.Layer):
    """Mean over the real (unmasked) time steps."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True

    def call(self, inputs, mask=None):
        m = _float_mask(inputs, mask)[:, :, None]
        return ops.sum(inputs * m, axis=1) / ops.maximum(ops.sum(m, axis=1), 1.0)

    def compute_mask(self, inputs, mask=None):
        return None


@keras.saving.register_keras_serializable(package="nlp_tasks")
class AttentionPooling(keras.layers.Layer):
    """Additive attention pooling: ``e<t> = v . tanh(W a<t> + b)``, ``α = softmax(e)`` over the
    real steps, output ``Σ_t α<t> a<t>`` (Bahdanau et al. 2015; Yang et al. 2016)."""

    def __init__(self, units: int = 64, **kwargs):
        super().__init__(**kwargs)
        if isinstance(units, bool) or not isinstance(units, int) or units < 1:
            raise UserError(f"AttentionPooling: units must be a positive integer, got {units!r}")
        self.units = units
        self.supports_masking = True

    def build(self, input_shape):
        d = input_shape[-1]
        self.w = self.add_weight(name="w", shape=(d, self.units), initializer="glorot_uniform")
        self.b = self.add_weight(name="b", shape=(self.units,), initializer="zeros")
        self.v = self.add_weight(name="v", shape=(self.units,), initializer="glorot_uniform")

    def attention(self, inputs, mask=None):
        """The weights α, shape (batch, T), zero on padding."""
        scores = ops.tensordot(ops.tanh(ops.tensordot(inputs, self.w, axes=1) + self.b), self.v, axes=1)
        m = _float_mask(inputs, mask)
        scores = ops.where(m > 0, scores, ops.cast(-1e9, scores.dtype))
        e = ops.exp(scores - ops.max(scores, axis=1, keepdims=True)) * m  # softmax over real steps
        return e / ops.maximum(ops.sum(e, axis=1, keepdims=True), 1e-9)

    def call(self, inputs, mask=None):
        alpha = self.attention(inputs, mask)  # (batch, T)
        return ops.sum(inputs * alpha[:, :, None], axis=1)

    def compute_mask(self, inputs, mask=None):
        return None

    def get_config(self):
        return {**super().get_config(), "units": self.units}
