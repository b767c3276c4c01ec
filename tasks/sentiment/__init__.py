"""Sentence classification (many-to-one): text in, a label or a 1-5 rating out.

``pipeline``: the config and :class:`SentimentPipeline`; ``data``: the readers of every source
(``LABEL text`` lines, tables, data sets, Python pairs) and ``sst_trees`` the treebank's parse
trees; ``export`` and ``serve``: what a model offers as an exported graph and over HTTP; ``cli``
and ``demo``: ``nlp-tasks sentiment ...`` and its ``make demo`` step.
"""

from .data import read_examples
from .pipeline import SentimentConfig, SentimentPipeline

__all__ = ["SentimentConfig", "SentimentPipeline", "read_examples"]
