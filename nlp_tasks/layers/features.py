"""``TokenFeatures``: token ids -> input vectors x<t>, by a learned embedding or by one-hot.

The course's language model starts from ``a<0> = 0`` and ``x<1> = 0``: its first input is the
zero vector. Here that input is the ``<bos>`` id (``zero_id``), whose vector is always exactly
zero, whichever way the other ids are turned into vectors:

- ``dim=None``: one-hot vectors of width ``vocab_size`` (the course's ``x<t>``);
- ``dim=d``: a learned embedding of width ``d`` (the row of ``zero_id`` is multiplied by 0, so
  it neither moves the model nor receives gradient).

Padding (id 0) is masked when ``mask_zero`` so the recurrent layers skip it.
"""

from __future__ import annotations

import keras
from keras import ops

from nlp_tasks.errors import UserError


@keras.saving.register_keras_serializable(package="nlp_tasks")
class TokenFeatures(keras.layers.Layer):
    """``(...,)`` int ids -> ``(..., dim or vocab_size)`` vectors, ``zero_id`` -> zero vector."""

    def __init__(self, vocab_size: int, dim: int | None = None, zero_id: int | None = 2, mask_zero: bool = True,
                 embeddings_initializer="uniform", **kwargs):
        super().__init__(**kwargs)
        if not isinstance(vocab_size, int) or vocab_size < 2:
            raise UserError(f"TokenFeatures: vocab_size must be an integer >= 2, got {vocab_size!r}")
        if dim is not None and (not isinstance(dim, int) or dim < 1):
            raise UserError(f"TokenFeatures: dim must be a positive integer or None (one-hot), got {dim!r}")
        self.vocab_size = vocab_size
        self.input_dim = vocab_size  # the name Pipeline.check_consistency reads, as on keras Embedding
        self.dim = dim
        self.zero_id = zero_id
        self.mask_zero = bool(mask_zero)
        self.embeddings_initializer = keras.initializers.get(embeddings_initializer)
        self.supports_masking = True

    @property
    def output_dim(self) -> int:
        return self.vocab_size if self.dim is None else self.dim

    def build(self, input_shape=None):
        if self.dim is not None:
            self.embeddings = self.add_weight(name="embeddings", shape=(self.vocab_size, self.dim),
                                              initializer=self.embeddings_initializer)
        self.built = True

    def call(self, ids):
        ids = ops.cast(ids, "int32")
        if self.dim is None:
            x = ops.one_hot(ids, self.vocab_size, dtype=self.compute_dtype)  # (..., V)
        else:
            x = ops.take(ops.cast(self.embeddings, self.compute_dtype), ids, axis=0)  # (..., d)
        if self.zero_id is not None:
            x = x * ops.cast(ops.not_equal(ids, self.zero_id), x.dtype)[..., None]  # x = 0 for <bos>
        if self.mask_zero:  # padding contributes nothing either
            x = x * ops.cast(ops.not_equal(ids, 0), x.dtype)[..., None]
        return x

    def compute_mask(self, ids, mask=None):
        return ops.not_equal(ids, 0) if self.mask_zero else None

    def compute_output_shape(self, input_shape):
        return (*input_shape, self.output_dim)

    def get_config(self):
        return {**super().get_config(), "vocab_size": self.vocab_size, "dim": self.dim, "zero_id": self.zero_id,
                "mask_zero": self.mask_zero,
                "embeddings_initializer": keras.initializers.serialize(self.embeddings_initializer)}
