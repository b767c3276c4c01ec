"""Grapheme-to-phoneme conversion (many-to-many, T_x != T_y): a word's letters in, its n best
pronunciations out, with an encoder-decoder, attention and beam search (issue 33).

``arpabet``: the phoneme set and stress; ``data``: the CMUdict reader, ``builtin:cmudict``,
source/target pairs from tables and hub data sets, and the benchmark's train/dev/test split;
``config`` and ``model``: the settings and the encoder-decoder with its step-by-step decoding;
``pipeline``: :class:`G2PPipeline` (train, evaluate, predict by beam search, save and load);
``cli`` and ``demo``: ``nlp-tasks g2p ...`` and its ``make demo`` step. The scores are the core's
:mod:`nlp_tasks.metrics.sequence`.
"""

from .config import G2PConfig
from .data import read_lexicon
from .pipeline import G2PPipeline

__all__ = ["G2PConfig", "G2PPipeline", "read_lexicon"]
