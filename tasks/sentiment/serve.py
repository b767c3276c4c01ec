"""What a sentiment model offers over HTTP (``nlp-tasks serve``)::

    POST .../sentiment  {"text": "..."} | {"texts": [...]}

Texts are batched across concurrent requests (:mod:`nlp_tasks.serve.worker`).
"""

from __future__ import annotations

from nlp_tasks.serve.bodies import WARMUP, TextsBody, text_operation
from nlp_tasks.serve.spec import ServeSpec


def serve_spec(pipe) -> ServeSpec:
    vocab = pipe.vocabs["words"]
    doc = "Label, rating (1-5 for SST-5 labels) and the probability of every label, for a text or several."
    return ServeSpec([text_operation("sentiment", doc, TextsBody, lambda t: len(vocab.tokenize(t)), pipe.predict,
                                      warmup=WARMUP, allow_empty=True)],
                     {"labels": list(pipe.labels), "ratings": pipe.rating(pipe.labels[0]) is not None})
