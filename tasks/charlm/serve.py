"""What a language model offers over HTTP (``nlp-tasks serve``)::

    POST .../generate   {"prime", "length", "temperature", "top_k", "top_p", "beam", "seed", ...}
    POST .../score      {"text" | "texts", "per_token"}

Scoring is batched across concurrent requests (:mod:`nlp_tasks.serve.worker`); generation runs one
request per call, its work bounded before the model runs (``--max-sample-tokens``). ``.../sample``,
the operation's former name, is still served.
"""

from __future__ import annotations

from pydantic import Field

from nlp_tasks.config import SampleSettings
from nlp_tasks.errors import UserError
from nlp_tasks.serve.bodies import TextsBody, settings_body, settings_of, text_operation
from nlp_tasks.serve.spec import Operation, OverLimit, ServeSpec, check_range, check_tokens, one_or_many
from nlp_tasks.text.vocab import SPECIALS


class ScoreBody(TextsBody):
    per_token: bool = Field(False, description="Also give every token's probability.")


SampleBody = settings_body("SampleBody", SampleSettings, doc="Sampling options: those of `charlm generate`.",
                           prime=(str, Field("", description="Text to continue (none: a<0> = 0 and x<1> = 0).")))


def serve_spec(pipe) -> ServeSpec:
    from nlp_tasks.decoding.sampling import check_options, check_work

    vocab = pipe.vocab

    def generate_items(body, limits):
        check_options(body.temperature, body.top_k, body.top_p, body.beam)  # the CLI's messages first
        check_range("length", body.length, 1, limits.max_length, "--max-length")
        prime = len(vocab.tokenize(body.prime))
        check_tokens(prime, limits)
        try:  # samples x (prime + length): the work of the request, before the model allocates any of it
            check_work(body.samples, body.length, prime, body.beam, limits.max_sample_tokens, "--max-sample-tokens")
        except UserError as err:
            raise OverLimit(err.message) from None
        return [(body.prime, settings_of(SampleSettings, body).resolved())]

    def generate(items):
        prime, settings = items[0]
        return [{"seed": settings.seed, "prime": prime, "samples": pipe.generate_texts(prime, settings)}]

    def score_respond(body, results):
        order = sorted(range(len(results)), key=lambda i: -results[i]["log_prob"])
        ranks = {i: r for r, i in enumerate(order, start=1)}  # 1 = most probable, as `charlm score` ranks
        results = [{"rank": ranks[i], **{k: v for k, v in r.items() if body.per_token or k != "probabilities"}}
                   for i, r in enumerate(results)]
        return one_or_many(body, results)

    return ServeSpec([
        Operation("generate", "Novel text continuing a prime, with the CLI's sampling options; the seed used is "
                              "returned.", SampleBody, generate_items, generate, lambda body, results: results[0],
                  batched=False, aliases=("sample",)),
        text_operation("score", "Log-probability (nats and bits), perplexity and rank (1 = most probable) of each "
                                 "text, in the order given.", ScoreBody, lambda t: len(vocab.tokenize(t)),
                        lambda texts: pipe.score(list(texts)), score_respond),
    ], {"level": pipe.config.level, "mode": pipe.config.mode,
        # a character model's symbols: the page scores only text the model can score
        **({"characters": vocab.tokens[len(SPECIALS):], "lower": vocab.lower} if pipe.config.level == "char" else {})})
