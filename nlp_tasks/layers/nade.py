"""NADE, the neural autoregressive distribution estimator (Larochelle & Murray 2011), as an
output layer whose biases a recurrent network sets at every time step (RNN-NADE;
Boulanger-Lewandowski, Bengio & Vincent 2012).

An output of independent sigmoids gives every key of a piano-roll frame its own coin; a NADE
gives the whole frame ``v in {0,1}^D`` one joint distribution, drawn key by key from the lowest
up. Key ``d`` sees the keys below it through ``units`` sigmoid hidden units whose weights all
keys share::

    h_d = sigmoid(b_h + W[:d]^T v[:d])                    # (units,)    W: (D, units)
    P(v_d = 1 | v_<d) = sigmoid(b_v[d] + V[d] . h_d)      #             V: (D, units)
    log P(v) = sum_d log P(v_d | v_<d)

so the probabilities of all ``2^D`` frames sum to 1, and notes that belong together in a chord
are drawn together. At every time step the layer's input a<t> (the recurrent state after the
frames before t) sets the two biases, ``[b_v<t>, b_h<t>] = a<t> U + c``; ``W`` and ``V`` are the
same at every step.

- ``call(a)`` returns those conditional biases, ``(..., D + units)``: the model's output.
- :meth:`NADE.log_likelihood` scores frames given them in one vectorised pass: the running
  sums ``W[:d]^T v[:d]`` for every ``d`` at once are an exclusive cumulative sum over the keys,
  so no loop over keys (``(..., D, units)`` values held at once).
- :meth:`NADE.conditionals` gives each factor ``P(v_d = 1 | v_<d)`` at the true lower keys.
- :meth:`NADE.sample` draws frames key by key, each key from its conditional (tempered), in
  one graph; with no random numbers it is greedy (each key on when its conditional is > 0.5).

:func:`nlp_tasks.reference.nade_forward` / ``nade_backward`` are the literal NumPy version
and the oracle of the tests. TensorFlow backend.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from nlp_tasks.errors import UserError


@keras.saving.register_keras_serializable(package="nlp_tasks")
class NADE(keras.layers.Layer):
    """A NADE over ``n_visible`` binary variables with ``units`` hidden units, conditioned on the
    input (batch, ..., features). Output: the conditional biases (batch, ..., n_visible + units)."""

    def __init__(self, n_visible: int, units: int, **kwargs):
        super().__init__(**kwargs)
        for name, value in (("n_visible", n_visible), ("units", units)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise UserError(f"NADE: {name} must be an integer >= 1, got {value!r}")
        self.n_visible, self.units = n_visible, units

    def build(self, input_shape):
        width = self.n_visible + self.units
        self.bias_kernel = self.add_weight(name="bias_kernel", shape=(input_shape[-1], width),
                                           initializer="glorot_uniform")  # U: a<t> -> [b_v<t>, b_h<t>]
        self.bias = self.add_weight(name="bias", shape=(width,), initializer="zeros")  # c
        self.input_kernel = self.add_weight(name="input_kernel", shape=(self.n_visible, self.units),
                                            initializer="glorot_uniform")  # W: v_k -> hidden units
        self.output_kernel = self.add_weight(name="output_kernel", shape=(self.n_visible, self.units),
                                             initializer="glorot_uniform")  # V: hidden units -> v_d

    def call(self, inputs):
        return tf.matmul(inputs, tf.cast(self.bias_kernel, inputs.dtype)) + tf.cast(self.bias, inputs.dtype)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.n_visible + self.units)

    def get_config(self):
        return {**super().get_config(), "n_visible": self.n_visible, "units": self.units}

    # ------------------------------------------------------------------ the distribution
    def split(self, params):
        """``(b_v, b_h)``: ``(..., n_visible)`` and ``(..., units)`` of the conditional biases."""
        return params[..., :self.n_visible], params[..., self.n_visible:]

    def logits(self, frames, params):
        """``logit P(v_d = 1 | v_<d)`` for every key at the given frames: ``(..., n_visible)``."""
        b_v, b_h = self.split(params)
        v = tf.cast(frames, params.dtype)
        w = tf.cast(self.input_kernel, params.dtype)  # (D, units)
        below = tf.cumsum(v[..., :, None] * w, axis=-2, exclusive=True)  # W[:d]^T v[:d]: (..., D, units)
        h = tf.sigmoid(b_h[..., None, :] + below)  # h_d: (..., D, units)
        return b_v + tf.reduce_sum(h * tf.cast(self.output_kernel, params.dtype), axis=-1)

    def log_likelihood(self, frames, params):
        """``log P(v)`` of each frame, summed over its keys: ``(...)``."""
        return -self.negative_log_likelihood(frames, params)

    def negative_log_likelihood(self, frames, params):
        """``-log P(v)`` of each frame (the loss): ``(...)``."""
        v = tf.cast(frames, params.dtype)
        return tf.reduce_sum(tf.nn.sigmoid_cross_entropy_with_logits(labels=v, logits=self.logits(v, params)), -1)

    def conditionals(self, frames, params):
        """``P(v_d = 1 | v_<d)`` at the given frames (the factors of :meth:`log_likelihood`)."""
        return tf.sigmoid(self.logits(frames, params))

    def sample(self, params, uniforms=None, temperature=1.0):
        """Frames drawn key by key: key ``d`` is on when ``u_d < sigmoid(logit_d / temperature)``,
        its logit computed from the keys drawn below it. ``uniforms`` (..., n_visible) in [0, 1)
        come from the caller's seeded generator; None draws greedily (``u = 0.5``: each key on
        when its conditional is above 0.5). Returns ``(..., n_visible)`` zeros and ones."""
        b_v, b_h = self.split(params)
        if uniforms is None:
            uniforms = tf.fill(tf.shape(b_v), tf.constant(0.5, params.dtype))
        uniforms = tf.cast(uniforms, params.dtype)
        temperature = tf.cast(temperature, params.dtype)
        w = tf.cast(self.input_kernel, params.dtype)
        v_out = tf.cast(self.output_kernel, params.dtype)
        # A loop over the keys, not 88 unrolled copies: XLA compiles the generation loop that
        # holds this in seconds rather than a minute, and draws the same keys.
        rank = len(b_v.shape)
        keys_first, keys_last = [rank - 1, *range(rank - 1)], [*range(1, rank), 0]  # moves the key axis
        b_v, uniforms = (tf.transpose(x, keys_first) for x in (b_v, uniforms))

        def draw(d, hidden, keys):  # hidden: b_h + W[:d]^T v[:d], one key added at a time
            logit = b_v[d] + tf.reduce_sum(tf.sigmoid(hidden) * v_out[d], axis=-1)  # (...)
            key = tf.cast(uniforms[d] < tf.sigmoid(logit / temperature), params.dtype)
            return d + 1, hidden + key[..., None] * w[d], keys.write(d, key)

        keys = tf.TensorArray(params.dtype, size=self.n_visible, element_shape=b_h.shape[:-1])
        _, _, keys = tf.while_loop(lambda d, *_: d < self.n_visible, draw, (tf.constant(0), b_h, keys),
                                   maximum_iterations=self.n_visible)
        return tf.transpose(keys.stack(), keys_last)


def nade_loss(nade: NADE):
    """A Keras loss ``(frames, conditional biases) -> -log P(frame)`` per time step, training the
    NADE's shared weights too (they are read inside the loss)."""

    def loss(y_true, y_pred):
        return nade.negative_log_likelihood(y_true, y_pred)

    return loss
