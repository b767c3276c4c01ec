"""Grapheme-to-phoneme conversion (issue 33): a word's letters in, its pronunciation out, with an
encoder-decoder, attention and beam search; trained on CMUdict or on any source/target pairs.

The package is being built. So far: ``arpabet`` (the phoneme set and stress), ``data`` (the
CMUdict reader, ``builtin:cmudict``, source/target pairs from tables and hub data sets, and the
benchmark's train/dev/test split), ``config`` (the settings), ``model`` (the encoder-decoder,
with its step-by-step decoding) and ``pipeline`` (:class:`G2PPipeline`: train, evaluate, predict
the n best pronunciations by beam search, save and load). The scores are the core's
:mod:`nlp_tasks.metrics.sequence`. The task is not registered yet: the CLI, export and serving
come next.
"""
