"""Word dropout: while training, replace input word ids by ``<unk>`` at random.

``(batch, T)`` integer ids in, the same shape and dtype out. Each real word (id not 0, the
padding) becomes ``unk_id`` with probability ``rate`` while training, so a classifier cannot
lean on any single word and learns what unknown words look like (Iyyer et al. 2015 drop words;
Dai and Le 2015 and Gal and Ghahramani 2016 replace them). At inference the layer is the
identity. Its draws come from a ``keras.random.SeedGenerator`` whose state is one of the
model's variables, as Keras' ``Dropout`` keeps it, so a checkpoint resumes them.
"""

from __future__ import annotations

import keras
from keras import ops

from nlp_tasks.errors import UserError


@keras.saving.register_keras_serializable(package="nlp_tasks")
class WordDropout(keras.layers.Layer):
    """Each non-padding id becomes ``unk_id`` with probability ``rate`` while training; identity
    at inference. Put it before the ``Embedding`` (padding, id 0, stays 0, so masks are kept)."""

    def __init__(self, rate: float, unk_id: int = 1, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0 <= rate < 1:
            raise UserError(f"WordDropout: rate must be in [0, 1), got {rate!r}")
        if isinstance(unk_id, bool) or not isinstance(unk_id, int) or unk_id < 1:
            raise UserError(f"WordDropout: unk_id must be a positive integer (0 is padding), got {unk_id!r}")
        self.rate, self.unk_id, self.seed = float(rate), unk_id, seed
        if self.rate > 0:
            self.seed_generator = keras.random.SeedGenerator(seed)
        self.built = True

    def call(self, inputs, training=False):
        if not training or self.rate == 0:
            return inputs
        keep = keras.random.uniform(ops.shape(inputs), seed=self.seed_generator) >= self.rate
        keep = ops.logical_or(keep, ops.equal(inputs, 0))
        return ops.where(keep, inputs, ops.cast(self.unk_id, inputs.dtype))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "unk_id": self.unk_id, "seed": self.seed}
