"""Choosing the next token from a model's scores: temperature, top-k, top-p (nucleus), beam search.

Nothing here knows about a model. Sampling functions take ``logits`` of shape ``(batch, V)``
(NumPy) and an explicit ``numpy.random.Generator``, so the same seed gives the same text.
Beam search takes a ``step(ids, states) -> (log_probs, states)`` function and a ``reorder``
function for the states; the language model supplies both from its compiled one-step function.

- ``temperature`` T divides the logits: T < 1 sharpens the distribution, T > 1 flattens it,
  T = 0 always takes the most likely token (greedy). T is 0 or from :data:`~nlp_tasks.config.MIN_TEMPERATURE`
  to :data:`MAX_TEMPERATURE` (:func:`check_temperature`, for every task): far beyond any use
  (at 0.001 a score gap of 0.01 is a factor e^10; at 1000 a gap of 10 is 1%), and a range in
  which the division never overflows. Dividing by 1e-308 or 1e308 did (TensorFlow also flushes
  subnormal numbers to zero): every score became NaN and the draw fell on id 0, ``<pad>``.
- ``top_k`` keeps the k most likely tokens; ``top_p`` keeps the smallest set of most likely
  tokens whose probability reaches p (Holtzman et al. 2020). Both renormalise what they keep.
- ``banned`` ids are never produced (their probability is set to zero and the rest
  renormalised, which is the same as drawing again until another token comes up). They are
  masked after the division by T, and a score that is not finite (NaN, infinity: a model
  that overflowed) counts as the least likely allowed one (:func:`tempered_logits`), so no
  temperature and no score can make a banned token drawn.

The same draw also runs inside a compiled graph (:func:`graph_sample`, used by
:mod:`nlp_tasks.decoding.generator`, which keeps the whole generation loop in one graph). There the
random numbers come from :func:`stream_uniforms`, a counter-based generator: the uniform for
stream key ``s``, step ``t`` and position ``j`` is a hash of ``(s, t, j)``, so a stream's draws
depend on its own key only, never on the batch it is generated in or on a generator's state.
:func:`stream_uniforms_numpy` is the same function in NumPy, for tests.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from nlp_tasks.config import (  # noqa: F401 - the checks and bounds of sampling settings, also reachable here
    MAX_BEAM,
    MAX_TEMPERATURE,
    MIN_TEMPERATURE,
    check_options,
    check_temperature,
    check_work,
)
from nlp_tasks.errors import UserError

_LARGEST_LOGIT = 1e300  # non-finite scores are clipped here: finite after division by any allowed T


def log_softmax(logits: np.ndarray) -> np.ndarray:
    logits = np.asarray(logits, dtype=np.float64)
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def distribution(logits: np.ndarray, temperature: float = 1.0, top_k: int | None = None,
                 top_p: float | None = None, banned: Sequence[int] = ()) -> np.ndarray:
    """The probabilities ``(batch, V)`` that :func:`sample` draws from (float64, rows sum to 1)."""
    check_options(temperature, top_k, top_p)
    logits = tempered_logits(logits, temperature, banned)
    if not np.isfinite(logits).any(axis=-1).all():
        raise UserError("no token left to sample (every token is banned)")
    if temperature == 0:  # greedy: all the mass on the arg-max
        probs = np.zeros_like(logits)
        probs[np.arange(len(logits)), logits.argmax(axis=-1)] = 1.0
        return probs
    probs = np.exp(log_softmax(logits))
    if top_k is not None and top_k < probs.shape[-1]:
        kth = -np.sort(-probs, axis=-1)[:, top_k - 1:top_k]  # the k-th largest probability per row
        probs = np.where(probs >= kth, probs, 0.0)
    if top_p is not None and top_p < 1:
        order = np.argsort(-probs, axis=-1, kind="stable")
        sorted_probs = np.take_along_axis(probs, order, axis=-1)
        before = np.cumsum(sorted_probs, axis=-1) - sorted_probs  # mass of the tokens ranked above
        keep_sorted = before < top_p * sorted_probs.sum(axis=-1, keepdims=True)  # the first always stays
        keep = np.zeros_like(keep_sorted)
        np.put_along_axis(keep, order, keep_sorted, axis=-1)
        probs = np.where(keep, probs, 0.0)
    return probs / probs.sum(axis=-1, keepdims=True)


def tempered_logits(logits, temperature: float, banned: Sequence[int] = ()) -> np.ndarray:
    """``logits / temperature`` as float64 ``(batch, V)`` with the ``banned`` ids at -inf, masked
    after the division; NaN counts as the lowest score and every score is clipped to
    +-1e300 first, so that no division by an allowed temperature overflows. Temperature 0
    (greedy) leaves the scores undivided."""
    logits = np.clip(np.nan_to_num(np.array(logits, dtype=np.float64, ndmin=2), nan=-_LARGEST_LOGIT),
                     -_LARGEST_LOGIT, _LARGEST_LOGIT)
    if temperature:
        logits = logits / temperature
    if banned:
        logits[:, list(banned)] = -np.inf
    return logits


def graph_tempered_logits(logits, temperature: float, banned: Sequence[int] = ()):
    """:func:`tempered_logits` as graph ops (float64)."""
    import tensorflow as tf

    logits = tf.cast(logits, tf.float64)
    logits = tf.clip_by_value(tf.where(tf.math.is_nan(logits), tf.constant(-_LARGEST_LOGIT, tf.float64), logits),
                              -_LARGEST_LOGIT, _LARGEST_LOGIT)
    if temperature:
        logits = logits / temperature
    if banned:
        mask = np.zeros(logits.shape[-1], bool)
        mask[list(banned)] = True
        logits = tf.where(tf.constant(mask)[None, :], tf.constant(-np.inf, tf.float64), logits)
    return logits


def sample(logits: np.ndarray, rng: np.random.Generator, temperature: float = 1.0, top_k: int | None = None,
           top_p: float | None = None, banned: Sequence[int] = ()) -> np.ndarray:
    """One token id per row of ``logits``, drawn with ``rng``: ``(batch,)`` int64."""
    probs = distribution(logits, temperature, top_k, top_p, banned)
    return inverse_cdf(probs, rng.random(len(probs)))


def inverse_cdf(probs: np.ndarray, u: np.ndarray) -> np.ndarray:
    """The token of each row of ``probs`` that the uniform ``u`` (one per row, in [0, 1)) falls on:
    the first index whose cumulative probability exceeds ``u``."""
    cumulative = np.cumsum(probs, axis=-1)
    ids = (cumulative <= np.asarray(u)[:, None] * cumulative[:, -1:]).sum(axis=-1)
    return np.minimum(ids, probs.shape[-1] - 1)


# ---------------------------------------------------------------------- inside a graph
# lowbias32 (C. Wellons, "Prospecting for hash functions", 2018): a bijection of 32-bit words
# whose output bits each flip with probability close to 1/2 when any input bit flips.
_MIX = (16, 0x7FEB352D, 15, 0x846CA68B, 16)
_KEY_OFFSET = 0x9E3779B9  # so that key 0 does not start from the hash's fixed point 0


def stream_keys(seed: int | None, n: int) -> np.ndarray:
    """The keys of ``n`` streams: stream ``i`` of seed ``s`` has key ``s + i`` (mod 2**32), so a
    stream generated alone with seed ``s + i`` gets the same random numbers. ``None``: a fresh seed."""
    if seed is None:
        import secrets

        seed = secrets.randbits(32)
    return ((np.uint64(seed) + np.arange(n, dtype=np.uint64)) % np.uint64(2**32)).astype(np.uint32)


def _mix_numpy(x):
    shift1, mul1, shift2, mul2, shift3 = _MIX
    x = x ^ (x >> np.uint32(shift1))
    x = x * np.uint32(mul1)
    x = x ^ (x >> np.uint32(shift2))
    x = x * np.uint32(mul2)
    return x ^ (x >> np.uint32(shift3))


def stream_uniforms_numpy(keys, t: int, width: int) -> np.ndarray:
    """:func:`stream_uniforms` in NumPy: ``(n, width)`` float64 in [0, 1)."""
    keys = np.asarray(keys, np.uint32)
    with np.errstate(over="ignore"):
        h = _mix_numpy(keys ^ np.uint32(_KEY_OFFSET))
        h = _mix_numpy(h ^ np.uint32(t))
        h = _mix_numpy(h[:, None] ^ np.arange(width, dtype=np.uint32)[None, :])
    return h.astype(np.float64) / 2.0**32


def _mix_graph(x):
    import tensorflow as tf

    shift1, mul1, shift2, mul2, shift3 = _MIX
    x = tf.bitwise.bitwise_xor(x, tf.bitwise.right_shift(x, tf.constant(shift1, tf.uint32)))
    x = x * tf.constant(mul1, tf.uint32)
    x = tf.bitwise.bitwise_xor(x, tf.bitwise.right_shift(x, tf.constant(shift2, tf.uint32)))
    x = x * tf.constant(mul2, tf.uint32)
    return tf.bitwise.bitwise_xor(x, tf.bitwise.right_shift(x, tf.constant(shift3, tf.uint32)))


def stream_uniforms(keys, t, width: int):
    """Uniforms in [0, 1) for step ``t`` of each stream: ``keys (n,) uint32 -> (n, width)`` float64,
    32 random bits each, a hash of (key, t, position)."""
    import tensorflow as tf

    xor = tf.bitwise.bitwise_xor
    h = _mix_graph(xor(keys, tf.constant(_KEY_OFFSET, tf.uint32)))
    h = _mix_graph(xor(h, tf.cast(t, tf.uint32)))
    h = _mix_graph(xor(h[:, None], tf.constant(np.arange(width, dtype=np.uint32))[None, :]))
    return tf.cast(h, tf.float64) / 2.0**32


def graph_sample(logits, u, temperature: float = 1.0, top_k: int | None = None, top_p: float | None = None,
                 banned: Sequence[int] = ()):
    """:func:`sample` as graph ops: one token id per row of ``logits (n, V)``, drawn with the
    uniforms ``u (n,)`` by inverse CDF from the same distribution as :func:`distribution`
    (float64). The options are Python values, fixed when the graph is traced. ``(n,)`` int32."""
    import tensorflow as tf

    check_options(temperature, top_k, top_p)
    logits = graph_tempered_logits(logits, temperature, banned)
    vocab_size = logits.shape[-1]
    if temperature == 0:  # greedy
        return tf.argmax(logits, axis=-1, output_type=tf.int32)
    probs = tf.nn.softmax(logits, axis=-1)
    if top_k is not None and top_k < vocab_size:
        kth = tf.math.top_k(probs, k=top_k, sorted=True).values[:, -1:]  # the k-th largest per row
        probs = tf.where(probs >= kth, probs, 0.0)
    if top_p is not None and top_p < 1:
        order = tf.argsort(probs, axis=-1, direction="DESCENDING", stable=True)
        sorted_probs = tf.gather(probs, order, batch_dims=1)
        before = tf.cumsum(sorted_probs, axis=-1, exclusive=True)  # mass of the tokens ranked above
        keep_sorted = before < top_p * tf.reduce_sum(sorted_probs, axis=-1, keepdims=True)
        keep = tf.gather(keep_sorted, tf.argsort(order, axis=-1, stable=True), batch_dims=1)
        probs = tf.where(keep, probs, 0.0)
    cumulative = tf.cumsum(probs, axis=-1)
    below = tf.cast(cumulative <= tf.cast(u, tf.float64)[:, None] * cumulative[:, -1:], tf.int32)
    return tf.minimum(tf.reduce_sum(below, axis=-1), vocab_size - 1)


def beam_search(step: Callable, states, start: int, beam: int, length: int, vocab_size: int,
                reorder: Callable, eos_id: int | None = None, banned: Sequence[int] = ()) -> tuple[list[int], float]:
    """The most likely continuation of ``length`` tokens found with ``beam`` hypotheses.

    ``step(ids (n,), states) -> (log_probs (n, V), states)``; ``states`` start as one
    hypothesis (batch 1) that has already read the primer; ``start`` is the next input id.
    ``reorder(states, indices)`` gathers states along the batch axis. A hypothesis that emits
    ``eos_id`` is finished (the ``eos`` is included). Returns ``(ids, total log-probability)``.
    """
    check_options(beam=beam)
    hyps = [[]]  # token lists of the live hypotheses
    scores = np.zeros(1)
    inputs = np.array([start])
    finished: list[tuple[float, list[int]]] = []
    for _ in range(length):
        log_probs, states = step(inputs, states)
        log_probs = np.array(log_probs, dtype=np.float64)
        if banned:
            log_probs[:, list(banned)] = -np.inf
        total = (scores[:, None] + log_probs).reshape(-1)  # (n * V,)
        width = min(beam, int(np.isfinite(total).sum()))
        if width == 0:
            break
        best = np.argsort(-total, kind="stable")[:width]
        rows, tokens = best // vocab_size, best % vocab_size
        live = []
        for row, token, score in zip(rows, tokens, total[best]):
            if eos_id is not None and token == eos_id:
                finished.append((float(score), hyps[row] + [int(token)]))
            else:
                live.append((row, token, score))
        # Log-probabilities only fall as a hypothesis grows: once a finished one scores at least
        # as high as the best live one, nothing can overtake it.
        if not live or (finished and max(f[0] for f in finished) >= live[0][2]):
            break
        rows = np.array([r for r, _, _ in live])
        hyps = [hyps[r] + [int(t)] for r, t, _ in live]
        scores = np.array([s for _, _, s in live])
        inputs = np.array([t for _, t, _ in live])
        states = reorder(states, rows)
    candidates = finished + [(float(s), h) for s, h in zip(scores, hyps) if h]
    score, ids = max(candidates, key=lambda c: c[0]) if candidates else (0.0, [])
    return ids, score
