"""Attention of a decoder over its encoder's outputs (Bahdanau et al. 2015; Luong et al. 2015).

For a decoder query ``s`` (its state) and the encoder outputs ``h<1..T_x>`` of one source, each
source position j gets a score, the scores a softmax over the real (unmasked) positions, and
the decoder a context, the weighted sum of the encoder outputs::

    additive:        e<j> = v . tanh(s W_q + h<j> W_h + b)     W_q (n_s, units), W_h (n_h, units)
    multiplicative:  e<j> = s . (h<j> W)                       W (n_h, n_s): Luong's "general" s^T W h
    α<j> = softmax_j(e<j>) over the real positions;  context = Σ_j α<j> h<j>

Padding never counts: its α is exactly 0, and what the encoder outputs hold there (even inf or
NaN) changes nothing. A source with no real position gets all α = 0 and a zero context. The
multiplicative score has no bias: a bias on either side adds the same number to every e<j>,
and the softmax cancels it.

One layer, two ways to use it, the same weights:

- Teacher forcing: ``context, alpha = attention(queries, values, values_mask)`` with queries
  (batch, T_y, n_s) gives (batch, T_y, n_h) and (batch, T_y, T_x): every target step at once.
- Decoding, one step at a time (inside a ``tf.while_loop``): compute the keys once per source,
  ``keys = attention.keys(values, values_mask)`` (``h W_h + b`` or ``h W``: the part of every
  score that depends on the source only), then at each step
  ``context, alpha = attention.attend(query, keys, values, values_mask)`` with query
  (batch, n_s) gives (batch, n_h) and (batch, T_x). ``call`` is exactly ``keys`` then
  ``attend``, so both give the same rows.

The layer must be built before ``keys``/``attend`` are used directly: call it once, or
``attention.build(query_shape, values_shape)`` from the decoder's own ``build``. The weights are
cast to the inputs' dtype (mixed precision). :func:`nlp_tasks.reference.attention_forward` /
``attention_backward`` are the literal NumPy version and the oracle of the tests.
"""

from __future__ import annotations

import keras
from keras import ops

from nlp_tasks.errors import UserError

ATTENTION_KINDS = ("additive", "multiplicative")


def _real(values, values_mask):
    """The mask as booleans (batch, T_x): every position is real when there is no mask."""
    if values_mask is None:
        return ops.ones(ops.shape(values)[:2], dtype="bool")
    return ops.cast(values_mask, "bool")


def _masked_softmax(scores, real):
    """Softmax of ``scores`` (batch, T_y, T_x) over the real positions ``real`` (batch, 1, T_x):
    0 at padding, and all 0 (no NaN) on a row without a real position.

    No infinity appears, not even as a stand-in for padding: ``tf2onnx`` writes a ``where`` as
    ``c * x + (1 - c) * y`` (unless a branch is a constant infinity), and 0 * inf is NaN, which
    made every exported ONNX attention step NaN."""
    zero = ops.zeros_like(scores)
    low = ops.min(ops.where(real, scores, zero), axis=-1, keepdims=True)  # at most every real score
    top = ops.stop_gradient(ops.max(ops.where(real, scores, low), axis=-1, keepdims=True))  # max of the real
    e = ops.where(real, ops.exp(ops.where(real, scores - top, zero)), zero)
    total = ops.sum(e, axis=-1, keepdims=True)
    return e / ops.where(total > 0, total, ops.ones_like(total))


@keras.saving.register_keras_serializable(package="nlp_tasks")
class Attention(keras.layers.Layer):
    """Additive (Bahdanau) or multiplicative (Luong "general") attention over encoder outputs.

    ``Attention(kind="additive", units=None)``: ``units`` is the width of the additive score's
    hidden layer (None: the query's width); the multiplicative score has none, so its ``units``
    must stay None. Call: ``(query, values, values_mask=None) -> (context, weights)`` with query
    (batch, n_s) or (batch, T_y, n_s), values (batch, T_x, n_h), values_mask (batch, T_x) (true
    or 1 at real positions; taken from ``values``' Keras mask when not given); context
    (batch[, T_y], n_h), weights (batch[, T_y], T_x). A query sequence's Keras mask passes on to
    both outputs.
    """

    def __init__(self, kind: str = "additive", units: int | None = None, **kwargs):
        super().__init__(**kwargs)
        if kind not in ATTENTION_KINDS:
            raise UserError(f"Attention: kind must be one of {', '.join(ATTENTION_KINDS)}, got {kind!r}")
        if units is not None and (isinstance(units, bool) or not isinstance(units, int) or units < 1):
            raise UserError(f"Attention: units must be a positive integer (or None), got {units!r}")
        if kind == "multiplicative" and units is not None:
            raise UserError(f"Attention: units is for additive attention only (the multiplicative score "
                            f"s W h has no hidden layer), got units={units!r}")
        self.kind, self.units = kind, units
        self.supports_masking = True

    def build(self, query_shape, values_shape):
        n_s, n_h = query_shape[-1], values_shape[-1]
        if self.kind == "additive":
            units = self.units or n_s
            self.query_kernel = self.add_weight(name="query_kernel", shape=(n_s, units),
                                                initializer="glorot_uniform")  # W_q
            self.key_kernel = self.add_weight(name="key_kernel", shape=(n_h, units),
                                              initializer="glorot_uniform")  # W_h
            self.bias = self.add_weight(name="bias", shape=(units,), initializer="zeros")  # b
            self.score_kernel = self.add_weight(name="score_kernel", shape=(units,),
                                                initializer="glorot_uniform")  # v
        else:
            self.key_kernel = self.add_weight(name="key_kernel", shape=(n_h, n_s),
                                              initializer="glorot_uniform")  # W

    def keys(self, values, values_mask=None):
        """The source's part of every score, once per source: (batch, T_x, units) ``h W_h + b``
        (additive) or (batch, T_x, n_s) ``h W`` (multiplicative)."""
        real = _real(values, values_mask)[:, :, None]
        values = ops.where(real, values, ops.zeros_like(values))  # padding may hold anything
        keys = ops.matmul(values, ops.cast(self.key_kernel, values.dtype))
        if self.kind == "additive":
            keys = keys + ops.cast(self.bias, values.dtype)
        return keys

    def attend(self, query, keys, values, values_mask=None):
        """``(context, weights)`` for one query (batch, n_s) or a sequence of them (batch, T_y, n_s),
        given :meth:`keys` of the same ``values`` (batch, T_x, n_h) and ``values_mask``."""
        single = len(query.shape) == 2
        q = query[:, None, :] if single else query  # (batch, T_y, n_s)
        keys = ops.cast(keys, q.dtype)
        if self.kind == "additive":
            q = ops.matmul(q, ops.cast(self.query_kernel, q.dtype))  # s W_q: (batch, T_y, units)
            hidden = ops.tanh(q[:, :, None, :] + keys[:, None, :, :])  # (batch, T_y, T_x, units)
            scores = ops.tensordot(hidden, ops.cast(self.score_kernel, q.dtype), axes=1)  # (batch, T_y, T_x)
        else:
            scores = ops.matmul(q, ops.transpose(keys, (0, 2, 1)))  # s . (h<j> W): (batch, T_y, T_x)
        real = _real(values, values_mask)[:, None, :]  # (batch, 1, T_x)
        weights = _masked_softmax(scores, real)
        values = ops.cast(values, weights.dtype)
        values = ops.where(ops.transpose(real, (0, 2, 1)), values, ops.zeros_like(values))
        context = ops.matmul(weights, values)  # Σ_j α<j> h<j>: (batch, T_y, n_h)
        if single:
            return context[:, 0], weights[:, 0]
        return context, weights

    def call(self, query, values, values_mask=None):
        return self.attend(query, self.keys(values, values_mask), values, values_mask)

    def compute_output_shape(self, query_shape, values_shape):
        lead = tuple(query_shape[:-1])
        return (*lead, values_shape[-1]), (*lead, values_shape[1])

    def compute_mask(self, inputs, previous_mask):
        return previous_mask, previous_mask  # a query sequence's padding, for both outputs

    def get_config(self):
        return {**super().get_config(), "kind": self.kind, "units": self.units}
