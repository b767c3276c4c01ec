"""A linear-chain conditional random field (Lafferty et al. 2001), as a Keras layer.

Keras has no CRF. Given per-token emission scores ``e[t, k]`` (from a Dense layer) and learned
transition scores ``A[i, j]`` (tag i followed by tag j), plus start and end scores, a tag path
``y`` scores::

    s(y) = start[y_1] + Σ_t e[t, y_t] + Σ_{t>1} A[y_{t-1}, y_t] + end[y_T]

and ``p(y | x) = exp(s(y)) / Z`` with ``Z`` summed over all K^T paths by the forward algorithm
(log-space, so it never overflows). Training minimises ``-log p(gold | x)``
(:meth:`CRF.negative_log_likelihood`); prediction takes the best path by Viterbi
(:meth:`CRF.decode`); :meth:`CRF.marginals` gives each token's tag probabilities by
forward-backward. Padded steps (mask 0, right padding) are skipped: the state is carried over.

``decode`` and ``marginals`` take ``allowed``: which transitions the tag scheme permits
(:func:`nlp_tasks.text.chunking.allowed_transitions`, AllenNLP's ``allowed_transitions``
layout: a (K+2, K+2) 0/1 matrix, row = from, column = to, index K the start and K+1 the end).
A forbidden transition scores ``FORBIDDEN``, so no path through one is chosen and its
probability is exp(-10,000) = 0: ``I-PER`` never follows ``O``. Training's likelihood is left
unconstrained, as in AllenNLP: the constraint is a property of the decoding, and a model saved
before it existed is decoded under it unchanged.

``call`` passes the emissions through unchanged, so the layer sits at the end of a model and its
weights are trained by a loss that calls :meth:`negative_log_likelihood` (see :func:`crf_loss`).
TensorFlow backend.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from nlp_tasks.errors import UserError

FORBIDDEN = -10_000.0  # the score of a transition the scheme forbids (AllenNLP's value)


@keras.saving.register_keras_serializable(package="nlp_tasks")
class CRF(keras.layers.Layer):
    """Linear-chain CRF over ``n_tags`` tags. Input: emissions (batch, T, n_tags)."""

    def __init__(self, n_tags: int, **kwargs):
        super().__init__(**kwargs)
        if isinstance(n_tags, bool) or not isinstance(n_tags, int) or n_tags < 2:
            raise UserError(f"CRF: n_tags must be an integer >= 2, got {n_tags!r}")
        self.n_tags = n_tags
        self.supports_masking = True

    def build(self, input_shape):
        if input_shape[-1] != self.n_tags:
            raise UserError(f"CRF: emissions have {input_shape[-1]} scores per token, expected {self.n_tags}")
        init = keras.initializers.RandomUniform(-0.1, 0.1)
        self.transitions = self.add_weight(name="transitions", shape=(self.n_tags, self.n_tags), initializer=init)
        self.start_scores = self.add_weight(name="start_scores", shape=(self.n_tags,), initializer="zeros")
        self.end_scores = self.add_weight(name="end_scores", shape=(self.n_tags,), initializer="zeros")

    def call(self, inputs, mask=None):
        return tf.identity(inputs)  # a new tensor, so the incoming mask is not attached to it

    def compute_mask(self, inputs, mask=None):
        # Not passed on: Keras would turn it into per-token sample weights, while the CRF loss
        # is one number per sequence and reads padding from y_true (-1) instead.
        return None

    def get_config(self):
        return {**super().get_config(), "n_tags": self.n_tags}

    # ------------------------------------------------------------------ helpers
    @staticmethod
    def _mask(emissions, mask):
        if mask is None:
            return tf.ones(tf.shape(emissions)[:2], dtype=tf.bool)
        return tf.cast(mask, tf.bool)

    @staticmethod
    def _pad_one_step(emissions, mask):
        """Append one masked step, so the scans over steps 2..T never run over nothing.

        (``tf.scan`` in a graph cannot stack an empty result of unknown shape: a batch of
        one-token sentences would fail.) Masked steps leave every recursion unchanged.
        """
        emissions = tf.concat([emissions, tf.zeros_like(emissions[:, :1])], axis=1)
        mask = tf.concat([mask, tf.zeros_like(mask[:, :1])], axis=1)
        return emissions, mask

    def scores(self, dtype, allowed=None):
        """``(transitions, start, end)`` as ``dtype``, with ``FORBIDDEN`` where ``allowed`` is 0."""
        trans, start, end = (tf.cast(w, dtype) for w in (self.transitions, self.start_scores, self.end_scores))
        if allowed is None:
            return trans, start, end
        allowed = tf.convert_to_tensor(allowed)
        if allowed.shape.rank != 2 or tuple(allowed.shape) != (self.n_tags + 2, self.n_tags + 2):
            raise UserError(f"CRF: allowed must be a ({self.n_tags + 2}, {self.n_tags + 2}) matrix "
                            f"(the tags, start and end), got shape {tuple(allowed.shape)}")
        ok = tf.cast(allowed, tf.bool)
        k = self.n_tags
        forbid = tf.constant(FORBIDDEN, dtype)
        return (tf.where(ok[:k, :k], trans, forbid), tf.where(ok[k, :k], start, forbid),
                tf.where(ok[:k, k + 1], end, forbid))

    def _forward(self, emissions, mask, scores=None):
        """log α_t for every t, shape (T, batch, K); α carried unchanged over padding."""
        e = tf.transpose(emissions, [1, 0, 2])  # (T, batch, K)
        m = tf.transpose(mask, [1, 0])  # (T, batch)
        trans, start, _ = scores if scores is not None else self.scores(e.dtype)
        alpha0 = start[None, :] + e[0]

        def step(alpha, inputs):
            e_t, m_t = inputs
            new = tf.reduce_logsumexp(alpha[:, :, None] + trans[None], axis=1) + e_t  # (batch, K)
            return tf.where(m_t[:, None], new, alpha)

        rest = tf.scan(step, (e[1:], m[1:]), initializer=alpha0)
        return tf.concat([alpha0[None], rest], axis=0)

    # ------------------------------------------------------------------ training
    def log_partition(self, emissions, mask=None):
        """log Z for each sequence, shape (batch,)."""
        mask = self._mask(emissions, mask)
        alphas = self._forward(*self._pad_one_step(emissions, mask))
        return tf.reduce_logsumexp(alphas[-1] + tf.cast(self.end_scores, emissions.dtype)[None], axis=1)

    def path_score(self, emissions, tags, mask=None):
        """s(y) of the given tag paths (batch, T) -> (batch,)."""
        mask = self._mask(emissions, mask)
        dtype = emissions.dtype
        tags = tf.cast(tags, tf.int32)
        m = tf.cast(mask, dtype)
        emit = tf.reduce_sum(tf.gather(emissions, tags, batch_dims=2) * m, axis=1)
        pairs = tf.stack([tags[:, :-1], tags[:, 1:]], axis=-1)  # (batch, T-1, 2)
        trans = tf.reduce_sum(tf.gather_nd(tf.cast(self.transitions, dtype), pairs) * m[:, 1:], axis=1)
        lengths = tf.reduce_sum(tf.cast(mask, tf.int32), axis=1)
        last = tf.gather(tags, tf.maximum(lengths - 1, 0), batch_dims=1)
        start = tf.gather(tf.cast(self.start_scores, dtype), tags[:, 0])
        end = tf.gather(tf.cast(self.end_scores, dtype), last)
        return emit + trans + start + end

    def negative_log_likelihood(self, emissions, tags, mask=None):
        """-log p(tags | x) = log Z - s(tags), per sequence (batch,)."""
        return self.log_partition(emissions, mask) - self.path_score(emissions, tags, mask)

    # ------------------------------------------------------------------ prediction
    def decode(self, emissions, mask=None, allowed=None):
        """Viterbi: the best tag path (batch, T) int32 (0 on padding) and its score (batch,);
        with ``allowed``, the best path the tag scheme permits."""
        mask = self._mask(emissions, mask)
        length = tf.shape(emissions)[1]
        emissions, padded_mask = self._pad_one_step(emissions, mask)
        e = tf.transpose(emissions, [1, 0, 2])
        m = tf.transpose(padded_mask, [1, 0])
        trans, start, end = self.scores(e.dtype, allowed)
        delta0 = start[None, :] + e[0]
        batch = tf.shape(e)[1]
        identity = tf.tile(tf.range(self.n_tags)[None, :], [batch, 1])

        def step(carry, inputs):
            delta, _ = carry
            e_t, m_t = inputs
            scores = delta[:, :, None] + trans[None]  # (batch, from K, to K)
            best_prev = tf.argmax(scores, axis=1, output_type=tf.int32)
            new = tf.reduce_max(scores, axis=1) + e_t
            # On padding keep delta and point every tag to itself, so backtracking passes through.
            return tf.where(m_t[:, None], new, delta), tf.where(m_t[:, None], best_prev, identity)

        deltas, pointers = tf.scan(step, (e[1:], m[1:]), initializer=(delta0, identity))
        final = tf.concat([delta0[None], deltas], axis=0)[-1] + end[None]
        best_last = tf.argmax(final, axis=1, output_type=tf.int32)
        score = tf.reduce_max(final, axis=1)

        def back(tag, pointer):
            return tf.gather(pointer, tag, batch_dims=1)

        # tags for steps 0..T-2: a scan over the reversed pointers, flipped back (see marginals)
        earlier = tf.reverse(tf.scan(back, tf.reverse(pointers, [0]), initializer=best_last), [0])
        path = tf.concat([earlier, best_last[None]], axis=0)  # (T, batch)
        path = tf.transpose(path, [1, 0])[:, :length] * tf.cast(mask, tf.int32)
        return path, score

    def marginals(self, emissions, mask=None, allowed=None):
        """p(y_t = k | x) for every token, shape (batch, T, K), by forward-backward; with
        ``allowed``, over the paths the tag scheme permits."""
        mask = self._mask(emissions, mask)
        length = tf.shape(emissions)[1]
        dtype = emissions.dtype
        emissions, padded_mask = self._pad_one_step(emissions, mask)
        scores = self.scores(dtype, allowed)
        alphas = self._forward(emissions, padded_mask, scores)  # (T + 1, batch, K)
        e = tf.transpose(emissions, [1, 0, 2])
        m = tf.transpose(padded_mask, [1, 0])
        trans, _, end = scores
        end = end[None]
        beta_last = tf.zeros_like(e[0]) + end

        def step(beta, inputs):
            e_next, m_next = inputs  # emissions and mask of step t+1
            new = tf.reduce_logsumexp(trans[None] + (e_next + beta)[:, None, :], axis=2)
            return tf.where(m_next[:, None], new, beta)

        # The scan runs over the reversed steps and its result is flipped back: the same as
        # tf.scan(reverse=True), whose outputs tf2onnx 1.17 leaves in reversed order (the ONNX
        # export of NER, tests/nlp_tasks/export/test_export.py, gave wrong paths and marginals).
        betas = tf.reverse(tf.scan(step, (tf.reverse(e[1:], [0]), tf.reverse(m[1:], [0])), initializer=beta_last), [0])
        betas = tf.concat([betas, beta_last[None]], axis=0)  # (T, batch, K)
        log_z = tf.reduce_logsumexp(alphas[-1] + end, axis=1)
        probs = tf.exp(alphas + betas - log_z[None, :, None])
        return tf.transpose(probs, [1, 0, 2])[:, :length] * tf.cast(mask, dtype)[:, :, None]


def crf_loss(crf: CRF):
    """A Keras loss for a model whose output passes through ``crf``.

    ``y_true`` holds tag ids with ``-1`` on padding; the loss is the mean negative
    log-likelihood per sequence.
    """

    def loss(y_true, y_pred):
        y_true = tf.cast(y_true, tf.int32)
        mask = y_true >= 0
        return crf.negative_log_likelihood(y_pred, tf.maximum(y_true, 0), mask)

    return loss
