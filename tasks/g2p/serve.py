"""What a grapheme-to-phoneme model offers over HTTP (``nlp-tasks serve``)::

    POST .../pronounce  {"word": "..."} | {"words": [...]}, "nbest" (1), "beam" (the model's)

The answer is :meth:`G2PPipeline.predict`'s: a word gets ``{"word", "pronunciations": [{"phonemes",
"log_prob", "probability", "finished"}, ...]}`` (the ``nbest`` best first), ``words`` get
``{"results": [...]}``. Words are batched across concurrent requests (:mod:`nlp_tasks.serve.worker`):
those asking for the same beam width are decoded in one call. A request's work is bounded before
the model runs: words x beam width x the model's longest output (``--max-decode-tokens``), and
the beam width by the model's own (each width is a search compiled of its own, so a client
cannot make the server compile a thousand of them).
"""

from __future__ import annotations

from typing import NamedTuple, Optional

from pydantic import Field

from nlp_tasks.errors import UserError
from nlp_tasks.serve.bodies import Body
from nlp_tasks.serve.spec import Operation, OverLimit, ServeSpec, one_or_many, texts_of
from nlp_tasks.text.vocab import SPECIALS

from .model import SOURCE_VOCAB, TARGET_VOCAB

FIRST_SYMBOL = len(SPECIALS)  # the first id after the vocabulary's specials (<pad>, <unk>, <bos>, <eos>)


class PronounceBody(Body):
    word: Optional[str] = Field(None, description="One word.")
    words: Optional[list[str]] = Field(None, description="Several words (one result each, in order).")
    nbest: int = Field(1, description="Pronunciations per word, best first (at most the beam width).")
    beam: Optional[int] = Field(None, description="Beam width, 1 (greedy) to the model's own (none: the model's).")


class Word(NamedTuple):
    """One unit of work: a word, its letter ids, and the search it asks for."""

    word: str
    ids: list
    beam: int
    nbest: int


def serve_spec(pipe) -> ServeSpec:
    cfg = pipe.config

    def items(body, limits) -> list[Word]:
        beam = cfg.beam if body.beam is None else body.beam
        if not 1 <= beam <= cfg.beam:
            raise UserError(f"beam must be from 1 to {cfg.beam:,} (the model's beam width), got {beam!r}")
        if not 1 <= body.nbest <= beam:
            raise UserError(f"nbest must be from 1 to the beam width ({beam:,}), got {body.nbest!r}")
        words = texts_of(body.word, body.words, limits, lambda w: len(pipe.symbols(w)), one="word", many="words")
        work = len(words) * beam * cfg.max_output
        if work > limits.max_decode_tokens:
            raise OverLimit(f"{len(words):,} word{'s' if len(words) != 1 else ''} x a beam of {beam:,} x up to "
                            f"{cfg.max_output:,} phonemes is {work:,} tokens in one request, more than the limit "
                            f"of {limits.max_decode_tokens:,} (--max-decode-tokens): ask for fewer words or a "
                            "narrower beam")
        return [Word(w, pipe.encode_word(w, n), beam, body.nbest) for n, w in enumerate(words, start=1)]

    def run(found: list[Word]) -> list[dict]:
        """Each beam width's words in one search, every word's ``nbest`` cut from the beam's best
        (the search ranks the whole beam, so the first ``nbest`` are the ``nbest`` best), so that one
        compiled search per width serves every ``nbest``."""
        out: list = [None] * len(found)
        for beam in sorted({w.beam for w in found}):
            rows = [i for i, w in enumerate(found) if w.beam == beam]
            decoded = pipe.decode([found[i].ids for i in rows], beam, nbest=beam)
            for i, hypotheses in zip(rows, decoded):
                out[i] = {"word": found[i].word, "pronunciations": pipe.pronunciations(hypotheses[:found[i].nbest])}
        return out

    symbols = len(pipe.vocab(SOURCE_VOCAB)) - FIRST_SYMBOL
    warmup = ()
    if symbols > 0:  # two shapes (spec.Operation.warmup), with the model's own beam
        letter = FIRST_SYMBOL + symbols - 1
        warmup = ([Word("warm-up", [letter] * 3, cfg.beam, 1)],
                  [Word("warm-up", [letter] * 2, cfg.beam, 1), Word("warm-up", [letter] * 6, cfg.beam, 1)])
    doc = ("The n best pronunciations of a word or of several, each with its phonemes, log-probability and "
           "probability, best first, by beam search.")
    return ServeSpec([Operation("pronounce", doc, PronounceBody, items, run,
                                lambda body, results: one_or_many(body, results, many="words"), warmup=warmup)],
                     {"beam": cfg.beam, "max_output": cfg.max_output, "stress": cfg.stress,
                      "phonemes": pipe.vocab(TARGET_VOCAB).tokens[FIRST_SYMBOL:]})
