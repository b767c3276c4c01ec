"""Language-model scores from a cross-entropy in nats (natural-log units): bits, perplexity, the
evaluation report, and the summary of one text's log-probability.

A model's loss per token is ``-1/N sum_t log P(y<t> | y<1..t-1>)`` nats; in bits it is that over
``ln 2``, and the perplexity is ``e`` to it (the number of equally likely tokens the model is,
on average, choosing among). The sums themselves come from the model (the language-model task
sums the masked cross-entropy over its batches); everything here is plain-float arithmetic.

    >>> loss_report(math.log(4), "word")["perplexity"]
    4.0
    >>> nats_to_bits(math.log(8))
    3.0
"""

from __future__ import annotations

import math

MAX_PERPLEXITY_NATS = 700
"""Perplexity is reported as at most ``e**700`` (about 1e304): ``e**710`` overflows a float."""


def nats_to_bits(nats: float) -> float:
    """Nats (natural-log units) as bits: ``nats / ln 2``."""
    return nats / math.log(2)


def perplexity(nats_per_token: float) -> float:
    """``e ** nats_per_token``, capped at ``e ** 700`` (see :data:`MAX_PERPLEXITY_NATS`)."""
    return math.exp(min(nats_per_token, MAX_PERPLEXITY_NATS))


def loss_report(nats_per_token: float, level: str) -> dict:
    """Nats, bits and perplexity per token; at character level (``level == "char"``) the same
    figures are also named per character (``nats_per_char``, ``bits_per_char``)."""
    report = {"nats_per_token": nats_per_token, "bits_per_token": nats_to_bits(nats_per_token),
              "perplexity": perplexity(nats_per_token)}
    if level == "char":
        report.update(nats_per_char=nats_per_token, bits_per_char=nats_to_bits(nats_per_token))
    return report


def text_score(log_prob: float, tokens: int) -> dict:
    """One text's ``log P`` (nats) summarised: the same in bits, its token count, nats per token
    and perplexity. ``tokens`` must be at least 1."""
    return {"log_prob": log_prob, "log2_prob": nats_to_bits(log_prob), "tokens": tokens,
            "nats_per_token": -log_prob / tokens, "perplexity": perplexity(-log_prob / tokens)}
