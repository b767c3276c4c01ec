"""Greedy and beam-search decoding of an encoder-decoder, the whole search in one compiled graph.

The decoder is a ``step`` the caller supplies, written in TensorFlow ops::

    step(tokens (n,) int32, states, context) -> (scores (n, V), new states)

``states`` is any nested structure (tf.nest) of ``(n, ...)`` tensors that the step advances (an
LSTM's a<t> and c<t>); ``context`` is a nested structure of ``(n, ...)`` tensors that never
change (the encoder's outputs ``(n, T_x, H)`` and their mask ``(n, T_x)`` for attention).
``scores`` are logits (``step_returns="logits"``: a log-softmax is taken here) or
log-probabilities (``"log_probs"``). The first input of every source is ``start_id`` (``<bos>``).

**Greedy** takes the most likely token at every step: y<t> = argmax P(y | x, y<1..t-1>), fed
back as the next input. It can miss a better sequence whose first token looked worse.

**Beam search** keeps the ``beam`` most likely partial outputs (hypotheses) of every source.
At each step every hypothesis is extended by each of the V tokens, and the ``beam`` best of the
``beam x V`` candidates survive, each with a backpointer to the hypothesis it extends::

    source b, hypotheses k = 0..beam-1 (row b*beam + k of the flattened batch of n = B*beam rows)
    for t = 1 .. max_length (while some hypothesis of some source has not ended):
        log p = step(y<t-1>, a<t-1>, context)                    # (n, V)
        candidate (k, v): log P(y<1..t-1>) + log p(v)            # (B, beam*V)
        keep the beam best candidates per source; a<t> = gather(a<t>, backpointers)

Greedy is beam search with ``beam=1``. With ``beam >= V**max_length`` nothing is ever pruned
and beam search is exact; in between it trades time for a better chance of the best sequence.

**Finished hypotheses stay in the beam, frozen.** A hypothesis that emitted ``eos_id`` has one
candidate only: itself, at no cost, with the same length, so its score never changes while the
others still compete with it for the ``beam`` places; a hypothesis that cannot outscore it falls
out. The search ends when every hypothesis of every source has ended (or has become impossible:
score -inf) or after ``max_length`` steps; the hypotheses still running then are returned as
*capped* (``finished=False``), cut at ``max_length`` tokens.

**Length normalisation.** log P(y) = sum_t log p(y<t> | ...) only falls as y grows, so the plain
product of probabilities favours short outputs. Hypotheses are ranked (in the beam and in the
n-best list) by the course's normalised score::

    score = log P(y) / length ** alpha        (alpha = ``length_penalty``)

where ``length`` counts the tokens emitted, the ``<eos>`` included when there is one (the number
of terms in the sum). ``alpha = 0`` ranks by probability alone; ``alpha = 1`` by the mean
log-probability per token; the course's heuristic is 0.7, our default.

**Safety.** Scores are float64. ``banned_ids`` (``<pad>``, ``<unk>``, ``<bos>``) get -inf after the
log-softmax, so the reported log-probabilities stay the model's own (not renormalised). A score
that is NaN (a model that overflowed) counts as -inf, an impossible token, so it can never win
(:func:`nlp_tasks.decoding.sampling.graph_tempered_logits` learned the same lesson); a +inf
logit counts as 1e300 as in sampling, a +inf log-probability as -inf. A source whose every
continuation is impossible gets fewer hypotheses than ``nbest``, possibly none.

:func:`greedy_decode` and :func:`beam_decode` are graph code (call them inside a ``tf.function``);
:class:`Searcher` compiles them once per shape and answers plain Python :class:`Hypothesis` lists.
"""

from __future__ import annotations

import math
import numbers
from typing import Callable, NamedTuple

import numpy as np

from nlp_tasks.config import MAX_BEAM, MAX_SAMPLE_LENGTH, check_options, check_work  # noqa: F401 - bounds
from nlp_tasks.decoding.generator import bucket
from nlp_tasks.errors import UserError

DEFAULT_LENGTH_PENALTY = 0.7  # the course's alpha
MAX_LENGTH_PENALTY = 10.0
STEP_RETURNS = ("logits", "log_probs")
_LARGEST_LOGIT = 1e300  # a +inf logit counts as this (as in sampling)


class Hypothesis(NamedTuple):
    """One decoded output: plain Python values (a tuple, so it is also JSON)."""

    ids: list[int]  # the tokens, without start_id and without the closing eos_id
    log_prob: float  # log P(ids + [eos]) (log P(ids) when capped): the sum of the step log-probabilities
    score: float  # log_prob / length ** alpha, length = len(ids) + finished
    finished: bool  # True: ended with eos_id; False: cut at max_length


class SearchResult(NamedTuple):
    """Graph outputs of :func:`greedy_decode` and :func:`beam_decode`, best first per source.
    ``ids (B, nbest, capacity)`` int32 (the first ``lengths - finished`` of each row count),
    ``lengths (B, nbest)`` int32 tokens emitted (eos included), ``log_probs`` and ``scores``
    ``(B, nbest)`` float64 (-inf: no such hypothesis), ``finished (B, nbest)`` bool."""

    ids: object
    lengths: object
    log_probs: object
    scores: object
    finished: object


# ---------------------------------------------------------------------- checks (plain Python)
def _check_int(value, name: str, low: int, high: int) -> int:
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or not low <= value <= high:
        raise UserError(f"{name} must be an integer from {low:,} to {high:,}, got {value!r}")
    return int(value)


def check_search(max_length, beam: int = 1, nbest: int = 1, length_penalty: float = DEFAULT_LENGTH_PENALTY,
                 sources: int = 1) -> None:
    """One-line errors for a search that has no meaning or would run too much: ``beam`` from 1 to
    :data:`MAX_BEAM`, ``nbest`` from 1 to ``beam``, ``max_length`` from 1 to
    :data:`MAX_SAMPLE_LENGTH`, ``length_penalty`` from 0 to :data:`MAX_LENGTH_PENALTY`, and
    sources x beam x max_length tokens at most :data:`nlp_tasks.config.MAX_SAMPLE_TOKENS`."""
    check_options(beam=beam)
    _check_int(max_length, "max_length", 1, MAX_SAMPLE_LENGTH)
    _check_int(nbest, "nbest", 1, beam)
    number = isinstance(length_penalty, numbers.Real) and not isinstance(length_penalty, bool)
    if not number or not 0 <= length_penalty <= MAX_LENGTH_PENALTY:
        raise UserError(f"length_penalty must be from 0 to {MAX_LENGTH_PENALTY:g}, got {length_penalty!r}")
    check_work(sources, max_length, beam=sources * beam)


def _check_ids(start_id, eos_id, banned_ids, step_returns) -> tuple[int, ...]:
    for name, value in (("start_id", start_id), ("eos_id", eos_id)):
        _check_int(value, name, 0, 2**31 - 1)
    banned = tuple(_check_int(i, "a banned id", 0, 2**31 - 1) for i in banned_ids)
    if eos_id in banned:
        raise UserError(f"eos_id {eos_id} is banned: no hypothesis could end")
    if step_returns not in STEP_RETURNS:
        raise UserError(f"step_returns must be one of {', '.join(STEP_RETURNS)}, got {step_returns!r}")
    return banned


# ---------------------------------------------------------------------- graph code
def step_log_probs(scores, step_returns: str = "logits", banned_ids=(), eos_id: int | None = None):
    """A step's ``scores (n, V)`` as float64 log-probabilities: log-softmax of logits, NaN -> -inf
    (impossible), +inf logits -> 1e300, +inf log-probabilities -> -inf, banned ids -> -inf (after
    the softmax)."""
    import tensorflow as tf

    x = tf.cast(scores, tf.float64)
    vocab = x.shape[-1]
    for name, value in (("eos_id", eos_id), *(("a banned id", i) for i in banned_ids)):
        if value is not None and vocab is not None and value >= vocab:
            raise UserError(f"{name} {value} is outside the step's vocabulary of {vocab}")
    minus_inf = tf.constant(-np.inf, tf.float64)
    if step_returns == "logits":
        x = tf.minimum(tf.where(tf.math.is_nan(x), minus_inf, x), _LARGEST_LOGIT)
        x = tf.nn.log_softmax(x, axis=-1)
    x = tf.where(tf.math.is_nan(x) | (x == np.inf), minus_inf, x)  # an all -inf row gives NaN above
    if banned_ids:
        mask = np.zeros(vocab, bool)
        mask[list(banned_ids)] = True
        x = tf.where(tf.constant(mask)[None, :], minus_inf, x)
    return x


def _sources(states, context):
    import tensorflow as tf

    leaves = tf.nest.flatten(states) + tf.nest.flatten(context)
    if not leaves:
        raise UserError("states or context must hold at least one tensor of shape (sources, ...)")
    leaf = tf.convert_to_tensor(leaves[0])
    return leaf.shape[0] if leaf.shape[0] is not None else tf.shape(leaf)[0]  # static where known


def _penalty(lengths, alpha):
    import tensorflow as tf

    return tf.pow(tf.cast(lengths, tf.float64), tf.cast(alpha, tf.float64))


def greedy_decode(step: Callable, states, context, start_id: int, eos_id: int, max_length, *,
                  capacity: int | None = None, length_penalty=DEFAULT_LENGTH_PENALTY,
                  step_returns: str = "logits", banned_ids=()) -> SearchResult:
    """The most likely token at every step, for every source (graph code; nbest = 1).

    ``states`` and ``context`` are ``(B, ...)``; ``max_length`` a Python int or scalar tensor;
    ``capacity`` (Python int >= max_length, default max_length) is the static width of ``ids``.
    ``length_penalty`` only sets the reported scores: it never changes a greedy choice."""
    import tensorflow as tf

    banned = _check_ids(start_id, eos_id, banned_ids, step_returns)
    capacity = int(max_length) if capacity is None else capacity
    n = _sources(states, context)
    columns = tf.range(capacity)[None, :]

    def more(t, tokens, states, total, lengths, finished, history):
        done = finished | tf.math.is_inf(total)
        return tf.logical_and(t < max_length, tf.logical_not(tf.reduce_all(done)))

    def body(t, tokens, states, total, lengths, finished, history):
        scores, states = step(tokens, states, context)
        log_probs = step_log_probs(scores, step_returns, banned, eos_id)
        best = tf.argmax(log_probs, axis=-1, output_type=tf.int32)  # (n,) the lowest id among ties
        gain = tf.gather(log_probs, best, batch_dims=1)
        live = tf.logical_not(finished)
        total = tf.where(live, total + gain, total)
        lengths = lengths + tf.cast(live, tf.int32)
        history = tf.where(live[:, None] & (columns == t), best[:, None], history)
        finished = finished | (best == eos_id)
        tokens = tf.where(live, best, eos_id)
        return t + 1, tokens, states, total, lengths, finished, history

    start = (tf.constant(0), tf.fill([n], tf.constant(start_id, tf.int32)), states,
             tf.zeros([n], tf.float64), tf.zeros([n], tf.int32), tf.zeros([n], tf.bool),
             tf.zeros([n, capacity], tf.int32))
    _, _, _, total, lengths, finished, history = tf.while_loop(more, body, start, maximum_iterations=capacity)
    scores = total / _penalty(tf.maximum(lengths, 1), length_penalty)
    return SearchResult(history[:, None], lengths[:, None], total[:, None], scores[:, None], finished[:, None])


def beam_decode(step: Callable, states, context, start_id: int, eos_id: int, beam: int, max_length,
                nbest: int = 1, *, capacity: int | None = None, length_penalty=DEFAULT_LENGTH_PENALTY,
                step_returns: str = "logits", banned_ids=()) -> SearchResult:
    """The ``nbest`` best of ``beam`` hypotheses per source, best first (graph code; see the module).

    ``beam`` and ``nbest`` are Python ints (shapes); ``max_length`` a Python int or scalar tensor;
    ``capacity`` (Python int >= max_length, default max_length) is the static width of ``ids``;
    ``length_penalty`` a float or scalar tensor (alpha)."""
    import tensorflow as tf

    banned = _check_ids(start_id, eos_id, banned_ids, step_returns)
    capacity = int(max_length) if capacity is None else capacity
    b = _sources(states, context)
    rows = b * beam
    tile = lambda x: tf.repeat(x, beam, axis=0)  # noqa: E731 - source b -> rows b*beam .. b*beam+beam-1
    states, context = tf.nest.map_structure(tile, states), tf.nest.map_structure(tile, context)
    first_row = tf.range(b)[:, None] * beam  # (B, 1)
    columns = tf.range(capacity)[None, :]
    minus_inf = tf.constant(-np.inf, tf.float64)

    def more(t, tokens, states, total, lengths, finished, history):
        done = finished | tf.math.is_inf(total)
        return tf.logical_and(t < max_length, tf.logical_not(tf.reduce_all(done)))

    def body(t, tokens, states, total, lengths, finished, history):
        scores, states = step(tokens, states, context)
        log_probs = tf.reshape(step_log_probs(scores, step_returns, banned, eos_id), [b, beam, -1])  # (B, K, V)
        vocab = tf.shape(log_probs)[-1]
        eos = tf.equal(tf.range(vocab), eos_id)[None, None, :]
        frozen = tf.where(eos, total[..., None], minus_inf)  # a finished hypothesis: itself at no cost
        candidates = tf.where(finished[..., None], frozen, total[..., None] + log_probs)
        grown = lengths + tf.cast(tf.logical_not(finished), tf.int32)  # (B, K)
        ranked = candidates / _penalty(tf.maximum(grown, 1), length_penalty)[..., None]
        best = tf.math.top_k(tf.reshape(ranked, [b, -1]), k=beam, sorted=True).indices  # (B, K) in K*V
        parents, tokens = best // vocab, best % vocab
        total = tf.gather(tf.reshape(candidates, [b, -1]), best, batch_dims=1)
        lengths = tf.gather(grown, parents, batch_dims=1)
        was_finished = tf.gather(finished, parents, batch_dims=1)
        finished = was_finished | (tokens == eos_id)
        flat = tf.reshape(first_row + parents, [-1])  # (n,) backpointers into the flattened rows
        states = tf.nest.map_structure(lambda s: tf.gather(s, flat), states)
        write = tf.reshape(tf.logical_not(was_finished), [-1, 1]) & (columns == t)
        tokens = tf.reshape(tf.where(was_finished, eos_id, tokens), [-1])
        history = tf.where(write, tokens[:, None], tf.gather(history, flat))
        return t + 1, tokens, states, total, lengths, finished, history

    alive = tf.tile(tf.concat([[0.0], tf.fill([beam - 1], -np.inf)], 0)[None, :], [b, 1])  # one copy at first
    start = (tf.constant(0), tf.fill([rows], tf.constant(start_id, tf.int32)), states, tf.cast(alive, tf.float64),
             tf.zeros([b, beam], tf.int32), tf.zeros([b, beam], tf.bool), tf.zeros([rows, capacity], tf.int32))
    _, _, _, total, lengths, finished, history = tf.while_loop(more, body, start, maximum_iterations=capacity)
    scores = total / _penalty(tf.maximum(lengths, 1), length_penalty)
    order = tf.math.top_k(scores, k=nbest, sorted=True).indices  # the beam is ranked already; made sure
    history = tf.gather(tf.reshape(history, [b, beam, capacity]), order, batch_dims=1)
    pick = lambda x: tf.gather(x, order, batch_dims=1)  # noqa: E731
    return SearchResult(history, pick(lengths), pick(total), pick(scores), pick(finished))


# ---------------------------------------------------------------------- the compiled wrapper
def hypotheses(result: SearchResult) -> list[list[Hypothesis]]:
    """A :class:`SearchResult` (tensors or NumPy) as plain Python: per source, its hypotheses best
    first, those with score -inf (impossible) left out."""
    ids, lengths, log_probs, scores, finished = (np.asarray(x) for x in result)
    out = []
    for b in range(len(scores)):
        out.append([Hypothesis(ids[b, k, :lengths[b, k] - int(finished[b, k])].tolist(), float(log_probs[b, k]),
                               float(scores[b, k]), bool(finished[b, k]))
                    for k in range(scores.shape[1]) if scores[b, k] > -math.inf])
    return out


class Searcher:
    """Greedy and beam search over one ``step`` (see the module), compiled once per shape.

    Args:
        step: ``step(tokens (n,), states, context) -> (scores (n, V), states)``, TensorFlow ops.
        start_id: the first input of every source (``<bos>``).
        eos_id: the token that ends a hypothesis (never in ``ids``).
        step_returns: ``"logits"`` or ``"log_probs"``.
        banned_ids: ids never produced (``<pad>``, ``<unk>``, ``<bos>``).
        jit_compile: compile the search with XLA. Off by default: XLA compiles it and gives the same
            hypotheses (tests), but on CPU it sorts float64 for ``top_k`` (no fast path as for
            float32): 256 sources, beam 5, 20 steps of a small attention LSTM took 0.40 s against
            0.15 s without XLA (2 CPU cores). XLA may also reorder a float32 step's arithmetic, which
            can swap hypotheses whose scores tie to float32 precision.
    """

    def __init__(self, step: Callable, start_id: int, eos_id: int, *, step_returns: str = "logits",
                 banned_ids=(), jit_compile: bool = False):
        import tensorflow as tf

        self.banned_ids = _check_ids(start_id, eos_id, banned_ids, step_returns)
        options = dict(step_returns=step_returns, banned_ids=self.banned_ids)

        def greedy(states, context, max_length, length_penalty, capacity):
            return greedy_decode(step, states, context, start_id, eos_id, max_length, capacity=capacity,
                                 length_penalty=length_penalty, **options)

        def beam(states, context, max_length, length_penalty, beam, nbest, capacity):
            return beam_decode(step, states, context, start_id, eos_id, beam, max_length, nbest, capacity=capacity,
                               length_penalty=length_penalty, **options)

        # autograph=False: the loops are explicit, and a UserError raised while tracing (an id
        # outside the step's vocabulary) reaches the caller as itself.
        compile = lambda f: tf.function(f, jit_compile=jit_compile, reduce_retracing=True, autograph=False)  # noqa: E731
        self._greedy, self._beam = compile(greedy), compile(beam)

    @staticmethod
    def _inputs(states, context, max_length, length_penalty):
        import tensorflow as tf

        states, context = (tf.nest.map_structure(tf.convert_to_tensor, x) for x in (states, context))
        sources = int(_sources(states, context))
        return states, context, sources, tf.constant(max_length), tf.constant(float(length_penalty), tf.float64)

    def greedy(self, states, context, max_length: int,
               length_penalty: float = DEFAULT_LENGTH_PENALTY) -> list[Hypothesis]:
        """One :class:`Hypothesis` per source (None where every continuation was impossible)."""
        check_search(max_length, length_penalty=length_penalty)
        states, context, sources, length, alpha = self._inputs(states, context, max_length, length_penalty)
        check_search(max_length, length_penalty=length_penalty, sources=sources)
        found = hypotheses(self._greedy(states, context, length, alpha, bucket(max_length)))
        return [h[0] if h else None for h in found]

    def beam(self, states, context, max_length: int, beam: int, nbest: int = 1,
             length_penalty: float = DEFAULT_LENGTH_PENALTY) -> list[list[Hypothesis]]:
        """Per source, up to ``nbest`` :class:`Hypothesis`, best (highest score) first."""
        check_search(max_length, beam, nbest, length_penalty)
        states, context, sources, length, alpha = self._inputs(states, context, max_length, length_penalty)
        check_search(max_length, beam, nbest, length_penalty, sources)
        return hypotheses(self._beam(states, context, length, alpha, beam, nbest, bucket(max_length)))
