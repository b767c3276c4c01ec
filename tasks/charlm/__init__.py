"""Language models over characters or words: train, sample novel text, score texts.

``config``: :class:`LanguageModelConfig`; ``data``: corpora and their batches (streams for
truncated BPTT, or one sequence per line); ``pipeline``: :class:`LanguageModelPipeline`;
``sampling``: generation in one compiled loop and beam search; ``export`` and ``serve``: what a
model offers as an exported graph and over HTTP; ``cli`` and ``demo``: ``nlp-tasks charlm ...``
and its ``make demo`` step.
"""

from .config import LanguageModelConfig
from .pipeline import LanguageModelPipeline

__all__ = ["LanguageModelConfig", "LanguageModelPipeline"]
