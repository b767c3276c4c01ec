"""Choosing the next token from a model's scores: temperature, top-k, top-p (nucleus), beam search.

Nothing here knows about a model. Sampling functions take ``logits`` of shape ``(batch, V)``
(NumPy) and an explicit ``numpy.random.Generator``, so the same seed gives the same text.
Beam search takes a ``step(ids, states) -> (log_probs, states)`` function and a ``reorder``
function for the states; the language model supplies both from its compiled one-step function.

- ``temperature`` T divides the logits: T < 1 sharpens the distribution, T > 1 flattens it,
  T = 0 always takes the most likely token (greedy).
- ``top_k`` keeps the k most likely tokens; ``top_p`` keeps the smallest set of most likely
  tokens whose probability reaches p (Holtzman et al. 2020). Both renormalise what they keep.
- ``banned`` ids are never produced (their probability is set to zero and the rest
  renormalised, which is the same as drawing again until another token comes up).
"""

from __future__ import annotations

import math
from typing import Callable, Sequence

import numpy as np

from nlp_tasks.errors import UserError

MAX_BEAM = 1_000


def check_options(temperature: float = 1.0, top_k: int | None = None, top_p: float | None = None,
                  beam: int | None = None) -> None:
    """One-line errors for values that have no meaning (top-k or top-p with beam search, which
    keeps the most likely continuations and samples nothing, is refused rather than ignored)."""
    if temperature is None or not math.isfinite(temperature) or temperature < 0:
        raise UserError(f"temperature must be >= 0 (0 means greedy), got {temperature!r}")
    if top_k is not None and (not isinstance(top_k, int) or top_k < 1):
        raise UserError(f"top-k must be a positive integer, got {top_k!r}")
    if top_p is not None and not (isinstance(top_p, (int, float)) and 0 < top_p <= 1):
        raise UserError(f"top-p must be in (0, 1], got {top_p!r}")
    if beam is not None and (not isinstance(beam, int) or beam < 1):
        raise UserError(f"beam width must be a positive integer, got {beam!r}")
    if beam is not None and beam > MAX_BEAM:
        raise UserError(f"beam width must be <= {MAX_BEAM:,} (each hypothesis keeps its own state), got {beam!r}")
    if beam is not None and (top_k is not None or top_p is not None):
        raise UserError("top-k and top-p choose among sampled tokens; beam search samples nothing: "
                        "give --beam or --top-k/--top-p, not both")


def log_softmax(logits: np.ndarray) -> np.ndarray:
    logits = np.asarray(logits, dtype=np.float64)
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def distribution(logits: np.ndarray, temperature: float = 1.0, top_k: int | None = None,
                 top_p: float | None = None, banned: Sequence[int] = ()) -> np.ndarray:
    """The probabilities ``(batch, V)`` that :func:`sample` draws from (float64, rows sum to 1)."""
    check_options(temperature, top_k, top_p)
    logits = np.array(logits, dtype=np.float64, ndmin=2)
    if banned:
        logits[:, list(banned)] = -np.inf
    if not np.isfinite(logits).any(axis=-1).all():
        raise UserError("no token left to sample (every token is banned)")
    if temperature == 0:  # greedy: all the mass on the arg-max
        probs = np.zeros_like(logits)
        probs[np.arange(len(logits)), logits.argmax(axis=-1)] = 1.0
        return probs
    probs = np.exp(log_softmax(logits / temperature))
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


def sample(logits: np.ndarray, rng: np.random.Generator, temperature: float = 1.0, top_k: int | None = None,
           top_p: float | None = None, banned: Sequence[int] = ()) -> np.ndarray:
    """One token id per row of ``logits``, drawn with ``rng``: ``(batch,)`` int64."""
    probs = distribution(logits, temperature, top_k, top_p, banned)
    cumulative = np.cumsum(probs, axis=-1)
    u = rng.random((len(probs), 1)) * cumulative[:, -1:]
    ids = (cumulative <= u).sum(axis=-1)  # inverse-CDF: first index whose cumulative mass exceeds u
    return np.minimum(ids, probs.shape[-1] - 1)


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
