"""What an NER model offers over HTTP (``nlp-tasks serve``)::

    POST .../entities   {"text": "..."} | {"texts": [...]} | {"tokens": [...]}

Texts are batched across concurrent requests (:mod:`nlp_tasks.serve.worker`); a mistake gets the
CLI's one-line message.
"""

from __future__ import annotations

from typing import Optional

from pydantic import Field

from nlp_tasks.errors import UserError
from nlp_tasks.serve.bodies import WARMUP, TextsBody
from nlp_tasks.serve.spec import Operation, ServeSpec, check_tokens, one_or_many, texts_of


class EntitiesBody(TextsBody):
    tokens: Optional[list[str]] = Field(None, description="One pre-tokenised sentence; offsets are into the tokens "
                                                          "joined by single spaces.")


def serve_spec(pipe) -> ServeSpec:
    from nlp_tasks.text.vocab import tokenize_words_with_offsets

    def count_tokens(text):
        return len(tokenize_words_with_offsets(text))

    def items(body, limits):
        if body.tokens is None:
            texts = texts_of(body.text, body.texts, limits, count_tokens, allow_empty=True)  # as the API: no entities
            return [(text, None) for text in texts]
        if body.text is not None or body.texts is not None:
            raise UserError("give one of 'text', 'texts' or 'tokens'")
        if not body.tokens:
            raise UserError("'tokens' is empty: give at least one token")
        for i, token in enumerate(body.tokens, start=1):
            if not token.strip() or token != token.strip():
                raise UserError(f"token {i} ({token!r}) is empty or has spaces around it")
        check_tokens(len(body.tokens), limits)
        spans, start = [], 0
        for token in body.tokens:
            spans.append((token, start, start + len(token)))
            start += len(token) + 1
        return [(" ".join(body.tokens), spans)]

    def run(found):
        return pipe.analyse([text for text, _ in found], [spans for _, spans in found])

    doc = ("Entities of a text (tokenised by the server), of several texts, or of one pre-tokenised sentence: "
           "each {text, type, start, end (character offsets, end exclusive), score}, with the tokens and tags.")
    warmup = tuple([(text, None) for text in texts] for texts in WARMUP)
    return ServeSpec([Operation("entities", doc, EntitiesBody, items, run, one_or_many, warmup=warmup)],
                     {"labels": list(pipe.labels), "scheme": "IOB2"})
