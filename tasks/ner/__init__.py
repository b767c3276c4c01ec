"""Named entity recognition (many-to-many): one IOB2 tag per token, entity spans out.

``pipeline``: the config and :class:`NERPipeline`; ``data``: the sentence readers; ``features``:
what the model reads of a word and how tags are decoded; ``layers``: the character encoder of words;
``export`` and ``serve``: what a model offers as an exported graph and over
HTTP; ``cli`` and ``demo``: ``nlp-tasks ner ...`` and its ``make demo`` step.
"""

from .data import read_sentences
from .features import CASES, MAX_WORD_CHARS, casing, decode_tags
from .pipeline import SCHEMES, NERConfig, NERPipeline

__all__ = ["CASES", "MAX_WORD_CHARS", "SCHEMES", "NERConfig", "NERPipeline", "casing", "decode_tags", "read_sentences"]
