"""The two output heads of the music model: what a frame's distribution is, given a<t>.

- ``sigmoid``: 88 independent Bernoulli outputs, ``P(key k | frames < t) = sigmoid(logit_k)``
  (a Dense layer of 88 logits). A frame's NLL is the binary cross-entropy summed over the keys.
- ``nade``: RNN-NADE (Boulanger-Lewandowski et al. 2012). a<t> sets the biases of a NADE over
  the 88 keys (:class:`nlp_tasks.layers.NADE`), which draws the keys of a frame jointly, from
  the lowest up: ``P(frame) = prod_k P(key k | keys below k, frames < t)``. A frame's NLL is the
  sum of those 88 conditionals' NLLs, so the figure compares with the sigmoid head's.

A head builds the output layer, gives the training loss, the NLL of each frame, the frame it
predicts given the true past (keys above probability 0.5; key by key for the NADE), the
probabilities :meth:`MusicPipeline.predict` returns, and the frame generation draws.
"""

from __future__ import annotations

import numpy as np

from nlp_tasks.saving.model_checks import OUTPUT_LAYER

from .data import KEYS

HEADS = ("sigmoid", "nade")


def summed_bce(y_true, logits):
    """Bernoulli NLL of every frame, summed over the 88 keys: ``(batch, T, 88) -> (batch, T)``."""
    import tensorflow as tf

    y_true = tf.cast(y_true, logits.dtype)
    return tf.reduce_sum(tf.nn.sigmoid_cross_entropy_with_logits(labels=y_true, logits=logits), axis=-1)


def _sigmoid(x):
    with np.errstate(over="ignore"):  # exp(-x) overflows to inf for x below -709: sigmoid 0, as it should be
        return 1.0 / (1.0 + np.exp(-np.asarray(x, dtype=np.float64)))


class SigmoidHead:
    """88 independent sigmoids; the model's output is their logits ``(..., 88)``."""

    def __init__(self, model=None):
        self.model = model  # the keras.Model whose output layer this head reads

    @staticmethod
    def parameters(units: int, nade_units: int) -> int:
        return (units + 1) * KEYS

    @staticmethod
    def layer(nade_units: int):
        import keras

        return keras.layers.Dense(KEYS, name=OUTPUT_LAYER,
                                  dtype="float32")  # float32 logits, also under mixed precision

    @staticmethod
    def layer_sizes(nade_units: int) -> dict:
        return {"units": KEYS}

    def values_per_step(self) -> int:
        """Values the head holds per time step of a piece while scoring (bounds a chunk's length)."""
        return KEYS

    def loss(self):
        return summed_bce

    def nll(self, frames, outputs):
        """``-log P(frame)`` of each frame: ``(batch, T)``."""
        return summed_bce(frames, outputs)

    def predicted(self, outputs):
        """The keys above probability 0.5: ``(batch, T, 88)`` zeros and ones."""
        import tensorflow as tf

        return tf.cast(outputs > 0, tf.float32)

    def probabilities(self, frames, outputs) -> np.ndarray:
        """``P(key k sounds at t | frames < t)`` as float64."""
        return _sigmoid(outputs)

    def draw(self, outputs, uniforms: np.ndarray, temperature: float) -> np.ndarray:
        """The next frames of generation; ``temperature`` 0 keeps every key above 0.5."""
        if temperature == 0:
            return (outputs > 0).astype(np.float32)
        return (uniforms < _sigmoid(outputs / temperature)).astype(np.float32)

    def graph_draw(self, outputs, uniforms, temperature: float):
        """:meth:`draw` as graph ops, for the compiled generation loop (``uniforms`` (n, 88))."""
        import tensorflow as tf

        if temperature == 0:
            return tf.cast(outputs > 0, tf.float32)
        probs = tf.sigmoid(tf.cast(outputs, tf.float64) / temperature)
        return tf.cast(tf.cast(uniforms, tf.float64) < probs, tf.float32)


class NadeHead(SigmoidHead):
    """A NADE over the 88 keys; the model's output is its conditional biases ``(..., 88 + units)``."""

    def __init__(self, model=None):
        super().__init__(model)
        self._sample = None

    @property
    def nade(self):
        return self.model.get_layer(OUTPUT_LAYER)

    @staticmethod
    def parameters(units: int, nade_units: int) -> int:
        return (units + 1) * (KEYS + nade_units) + 2 * KEYS * nade_units

    @staticmethod
    def layer(nade_units: int):
        from nlp_tasks.layers import NADE

        return NADE(KEYS, nade_units, name=OUTPUT_LAYER, dtype="float32")

    @staticmethod
    def layer_sizes(nade_units: int) -> dict:
        return {"n_visible": KEYS, "units": nade_units}

    def values_per_step(self) -> int:
        return KEYS * (self.nade.units + 1)  # the (88, units) hidden values of every key, and the logits

    def loss(self):
        from nlp_tasks.layers import nade_loss

        return nade_loss(self.nade)

    def nll(self, frames, outputs):
        return self.nade.negative_log_likelihood(frames, outputs)

    def predicted(self, outputs):
        """Key by key, each key on when its conditional given the keys chosen below it is above 0.5."""
        return self.nade.sample(outputs)

    def probabilities(self, frames, outputs) -> np.ndarray:
        """``P(key k sounds at t | the true keys below k at t, frames < t)``: the 88 factors whose
        log-sum is the frame's log-likelihood (a NADE's marginals are not a product of them)."""
        return np.asarray(self.nade.conditionals(frames, outputs), np.float64)

    def draw(self, outputs, uniforms: np.ndarray, temperature: float) -> np.ndarray:
        """Keys drawn in order in one compiled call, each from ``sigmoid(logit / temperature)``
        given the keys drawn below it; ``temperature`` 0 is greedy (each conditional > 0.5)."""
        import tensorflow as tf

        if uniforms is None or temperature == 0:  # greedy: u = 0.5 < sigmoid(logit) when logit > 0
            uniforms, temperature = np.full((len(outputs), KEYS), 0.5), 1.0
        if self._sample is None:
            self._sample = tf.function(self.nade.sample, jit_compile=True, reduce_retracing=True)
        frames = self._sample(tf.constant(outputs, tf.float32), tf.constant(uniforms, tf.float32),
                              tf.constant(temperature, tf.float32))
        return frames.numpy().astype(np.float32)

    def graph_draw(self, outputs, uniforms, temperature: float):
        if temperature == 0:  # greedy
            return self.nade.sample(outputs)
        return self.nade.sample(outputs, uniforms, temperature)


def head_class(name: str):
    return {"sigmoid": SigmoidHead, "nade": NadeHead}[name]
