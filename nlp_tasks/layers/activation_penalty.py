"""Activation regularisation (AR) and temporal activation regularisation (TAR) of a recurrent
layer's outputs, as AWD-LSTM trains its language models (Merity et al. 2017, "Regularizing and
Optimizing LSTM Language Models", section 4.6) and ULMFiT's teachers inherit.

Called on ``[outputs, dropped]`` -- a recurrent layer's sequence of outputs ``(batch, T, units)``
and the same after dropout -- it returns ``dropped`` unchanged and, while training only, adds to
the model's loss

    AR  = alpha * mean(dropped ** 2)                     (keeps activations small: unsaturated)
    TAR = beta  * mean((outputs[:, t] - outputs[:, t-1]) ** 2)   (keeps them slowly changing)

each mean over the real (unmasked) steps and the units; TAR over pairs of steps both real. At
inference it is the identity and adds nothing, so a model saved without it computes the same.
"""

from __future__ import annotations

import keras
from keras import ops

from nlp_tasks.errors import UserError


@keras.saving.register_keras_serializable(package="nlp_tasks")
class ActivationPenalty(keras.layers.Layer):
    """``[outputs, dropped] -> dropped``; adds ``alpha`` AR + ``beta`` TAR to the loss while training."""

    def __init__(self, alpha: float = 0.0, beta: float = 0.0, **kwargs):
        super().__init__(**kwargs)
        for name, value in (("alpha", alpha), ("beta", beta)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
                raise UserError(f"ActivationPenalty: {name} must be a number >= 0, got {value!r}")
        self.alpha, self.beta = float(alpha), float(beta)
        self.supports_masking = True
        self.built = True

    def penalty(self, outputs, dropped, mask=None):
        """The AR + TAR term (a float32 scalar) for these sequences; ``mask`` (batch, T) or None."""
        outputs, dropped = ops.cast(outputs, "float32"), ops.cast(dropped, "float32")
        steps = ops.ones(ops.shape(outputs)[:2], "float32") if mask is None else ops.cast(mask, "float32")
        units = ops.cast(ops.shape(outputs)[-1], "float32")
        total = ops.zeros((), "float32")
        if self.alpha:
            squares = ops.sum(ops.square(dropped), axis=-1) * steps
            total += self.alpha * ops.sum(squares) / ops.maximum(ops.sum(steps) * units, 1.0)
        if self.beta:
            pairs = steps[:, 1:] * steps[:, :-1]
            change = ops.sum(ops.square(outputs[:, 1:] - outputs[:, :-1]), axis=-1) * pairs
            total += self.beta * ops.sum(change) / ops.maximum(ops.sum(pairs) * units, 1.0)
        return total

    def call(self, inputs, training=False, mask=None):
        outputs, dropped = inputs
        if training and (self.alpha or self.beta):
            self.add_loss(self.penalty(outputs, dropped, mask[0] if isinstance(mask, (list, tuple)) else mask))
        return dropped

    def compute_mask(self, inputs, mask=None):
        return mask[1] if isinstance(mask, (list, tuple)) else mask

    def compute_output_shape(self, input_shape):
        return input_shape[1]

    def get_config(self):
        return {**super().get_config(), "alpha": self.alpha, "beta": self.beta}
