"""Named entity recognition (many-to-many): one IOB2 tag per token, entity spans out.

``pipeline``: the config, the data reader and :class:`NERPipeline`; ``layers``: the character
encoder of words; ``export`` and ``serve``: what a model offers as an exported graph and over
HTTP; ``cli`` and ``demo``: ``nlp-tasks ner ...`` and its ``make demo`` step.
"""

from .pipeline import CASES, MAX_WORD_CHARS, SCHEMES, NERConfig, NERPipeline, casing, decode_tags, read_sentences

__all__ = ["CASES", "MAX_WORD_CHARS", "SCHEMES", "NERConfig", "NERPipeline", "casing", "decode_tags", "read_sentences"]
