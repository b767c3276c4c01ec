"""What each task offers over HTTP (``nlp-tasks serve``): its operations and their request bodies.

Each ``*_spec(pipeline)`` returns a :class:`nlp_tasks.serve.spec.ServeSpec` (registered as
``TaskEntry.serve`` in :mod:`tasks`). The operations call the same pipeline methods as the CLI,
with the same option checks, so a mistake gets the same one-line message::

    ner        POST .../entities   {"text": "..."} | {"texts": [...]} | {"tokens": [...]}
    sentiment  POST .../sentiment  {"text": "..."} | {"texts": [...]}
    charlm     POST .../sample     {"prime", "length", "temperature", "top_k", "top_p", "beam", "seed", ...}
               POST .../score      {"text" | "texts", "per_token"}
    music      POST .../generate   {"primer", "steps", "temperature", "seed", "tempo", "format": midi|wav|json}

The text operations are batched across concurrent requests (:mod:`nlp_tasks.serve.worker`);
generation runs one request per call. Request bodies are pydantic models with strict types and
no unknown fields, so ``{"text": 3}`` or ``{"temprature": 1}`` is refused, not guessed at.
"""

from __future__ import annotations

import base64
import secrets
from typing import Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_core import PydanticCustomError

from nlp_tasks.config import MAX_SAMPLES, MAX_SEED
from nlp_tasks.errors import UserError
from nlp_tasks.serve.spec import Operation, OverLimit, ServeSpec, check_range, check_tokens, one_or_many, texts_of
from tasks.music_data import MAX_TEMPO_BPM, MIN_TEMPO_BPM


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    @field_validator("*")
    @classmethod
    def _valid_unicode(cls, value):
        """Every text of every body is valid Unicode: JSON can escape a lone surrogate ("\\ud800"),
        which is half of a UTF-16 pair and no character, so it is refused here (422) rather than
        failing wherever the text is encoded later."""
        texts = [value] if isinstance(value, str) else value if isinstance(value, list) else []
        for i, text in enumerate(texts, start=1):
            if isinstance(text, str):
                try:
                    text.encode("utf-8")
                except UnicodeEncodeError as err:
                    item = f"item {i} " if not isinstance(value, str) else ""
                    raise PydanticCustomError(
                        "lone_surrogate", "{item}has a lone surrogate ({code}) at character {at}, which is not a "
                        "character: send valid Unicode", {"item": item, "code": f"\\u{ord(text[err.start]):04x}",
                                                         "at": err.start + 1}) from None
        return value


class TextsBody(Body):
    text: Optional[str] = Field(None, description="One text.")
    texts: Optional[list[str]] = Field(None, description="Several texts (one result each, in order).")


class EntitiesBody(TextsBody):
    tokens: Optional[list[str]] = Field(None, description="One pre-tokenised sentence; offsets are into the tokens "
                                                          "joined by single spaces.")


class ScoreBody(TextsBody):
    per_token: bool = Field(False, description="Also give every token's probability.")


class SampleBody(Body):
    prime: str = Field("", description="Text to continue (none: a<0> = 0 and x<1> = 0).")
    length: int = Field(200, description="Tokens to generate.")
    temperature: float = Field(1.0, description="Below 1: safer; above 1: more surprising; 0: greedy.")
    top_k: Optional[int] = Field(None, description="Sample only among the k most likely tokens.")
    top_p: Optional[float] = Field(None, description="Sample only among the most likely tokens whose mass reaches p.")
    beam: Optional[int] = Field(None, description="Beam search with this many hypotheses instead of sampling.")
    seed: Optional[int] = Field(None, description="The same seed gives the same text (default: a fresh one).")
    stop_at_eos: bool = Field(False, description="Stop at the end-of-sequence token.")
    no_unk: bool = Field(False, description="Never emit <unk>.")
    samples: int = Field(1, description="Independent samples, drawn together.")


class GenerateBody(Body):
    primer: Optional[list[list[int]]] = Field(None, description="Time steps of MIDI pitches to continue.")
    steps: int = Field(64, description="Time steps to generate.")
    temperature: float = Field(1.0, description="Below 1: safer; above 1: wilder; 0: every key above 0.5.")
    seed: Optional[int] = Field(None, description="The same seed gives the same music (default: a fresh one).")
    tempo: float = Field(100.0, description=f"Beats per minute of the MIDI file and the audio, {MIN_TEMPO_BPM} to "
                                            f"{MAX_TEMPO_BPM}.")
    format: Literal["midi", "wav", "json"] = Field("midi", description="A MIDI file, a WAV file, or JSON with the "
                                                                      "piano roll and both files in base64.")


WARMUP = (["Warm up ."], ["A second , longer warm-up text .", "Two ."])  # two shapes (spec.Operation.warmup)


def _text_operation(name: str, doc: str, body: type, count_tokens, run, respond=one_or_many, warmup=()) -> Operation:
    return Operation(name, doc, body, lambda b, limits: texts_of(b.text, b.texts, limits, count_tokens), run, respond,
                     warmup=warmup)


def _seed(seed):
    check_range("seed", seed, 0, MAX_SEED)
    return secrets.randbelow(2**31) if seed is None else seed


# ---------------------------------------------------------------------- ner
def ner_spec(pipe) -> ServeSpec:
    from nlp_tasks.vocab import tokenize_words_with_offsets

    def count_tokens(text):
        return len(tokenize_words_with_offsets(text))

    def items(body, limits):
        if body.tokens is None:
            return [(text, None) for text in texts_of(body.text, body.texts, limits, count_tokens)]
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


# ---------------------------------------------------------------------- sentiment
def sentiment_spec(pipe) -> ServeSpec:
    vocab = pipe.vocabs["words"]
    doc = "Label, rating (1-5 for SST-5 labels) and the probability of every label, for a text or several."
    return ServeSpec([_text_operation("sentiment", doc, TextsBody, lambda t: len(vocab.tokenize(t)), pipe.predict,
                                      warmup=WARMUP)],
                     {"labels": list(pipe.labels), "ratings": pipe.rating(pipe.labels[0]) is not None})


# ---------------------------------------------------------------------- charlm
def charlm_spec(pipe) -> ServeSpec:
    from nlp_tasks.sampling import check_options, check_work

    vocab = pipe.vocab

    def sample_items(body, limits):
        check_options(body.temperature, body.top_k, body.top_p, body.beam)  # the CLI's checks
        check_range("length", body.length, 1, limits.max_length, "--max-length")
        check_range("samples", body.samples, 1, MAX_SAMPLES)
        prime = len(vocab.tokenize(body.prime))
        check_tokens(prime, limits)
        try:  # samples x (prime + length): the work of the request, before the model allocates any of it
            check_work(body.samples, body.length, prime, body.beam, limits.max_sample_tokens, "--max-sample-tokens")
        except UserError as err:
            raise OverLimit(err.message) from None
        return [body.model_copy(update={"seed": _seed(body.seed)})]

    def sample(bodies):
        b = bodies[0]
        texts = pipe.sample_many(b.samples, b.prime, b.length, b.temperature, b.top_k, b.top_p, b.beam, b.seed,
                                 b.stop_at_eos, b.no_unk)
        return [{"seed": b.seed, "prime": b.prime, "samples": texts}]

    def score_respond(body, results):
        order = sorted(range(len(results)), key=lambda i: -results[i]["log_prob"])
        ranks = {i: r for r, i in enumerate(order, start=1)}  # 1 = most probable, as `charlm score` ranks
        results = [{"rank": ranks[i], **{k: v for k, v in r.items() if body.per_token or k != "probabilities"}}
                   for i, r in enumerate(results)]
        return one_or_many(body, results)

    return ServeSpec([
        Operation("sample", "Novel text continuing a prime, with the CLI's sampling options; the seed used is "
                            "returned.", SampleBody, sample_items, sample, lambda body, results: results[0],
                  batched=False),
        _text_operation("score", "Log-probability (nats and bits), perplexity and rank (1 = most probable) of each "
                                 "text, in the order given.", ScoreBody, lambda t: len(vocab.tokenize(t)),
                        lambda texts: pipe.score(list(texts)), score_respond),
    ], {"level": pipe.config.level, "mode": pipe.config.mode})


# ---------------------------------------------------------------------- music
def music_spec(pipe) -> ServeSpec:
    import numpy as np

    from nlp_tasks.sampling import check_temperature
    from tasks import music_data as md
    from tasks.music_audio import render_wav

    spq = pipe.config.steps_per_quarter

    def items(body, limits):
        check_range("steps", body.steps, 1, limits.max_length, "--max-length")
        check_range("tempo", body.tempo, MIN_TEMPO_BPM, MAX_TEMPO_BPM)
        check_temperature(body.temperature)  # the CLI's range
        if body.primer is not None:
            check_range("primer steps", len(body.primer), 1, limits.max_length, "--max-length")
        if body.format != "midi":
            check_audio(len(body.primer or ()) + body.steps, body.tempo, limits)
        return [body.model_copy(update={"seed": _seed(body.seed)})]

    def check_audio(steps: int, tempo: float, limits) -> None:
        """The WAV (also inside the JSON answer) of ``steps`` (primer and generated) at ``tempo`` within
        --max-audio-seconds: its length, hence the synthesiser's work and the answer's bytes, grows
        as the tempo falls."""
        seconds = steps / spq * 60 / tempo
        if seconds > limits.max_audio_seconds:
            raise OverLimit(f"{steps:,} time steps at {tempo:g} bpm ({spq} per quarter note) are {seconds:,.0f} s of "
                            f"audio, more than the limit of {limits.max_audio_seconds:,} s (--max-audio-seconds): ask for "
                            "fewer steps, a faster tempo or format 'midi'")

    def generate(bodies):
        b = bodies[0]
        result = pipe.generate(steps=b.steps, primer=b.primer, seed=b.seed, temperature=b.temperature)
        roll, primer_steps = result["roll"], result["primer_steps"]
        made = np.asarray(roll)[primer_steps:]
        out = {"seed": b.seed, "steps": b.steps, "primer_steps": primer_steps, "tempo": b.tempo,
               "notes_per_step": float(made.sum(axis=1).mean()), "roll": roll,
               "midi": md.midi_bytes(roll, spq, b.tempo, primer_steps)}
        out["wav"] = render_wav(roll, spq, b.tempo) if b.format != "midi" else None
        return [out]

    def respond(body, results):
        from starlette.responses import Response

        out = results[0]
        headers = {"X-Seed": str(out["seed"])}
        if body.format == "midi":
            return Response(out["midi"], media_type="audio/midi",
                            headers={**headers, "Content-Disposition": 'attachment; filename="generated.mid"'})
        if body.format == "wav":
            return Response(out["wav"], media_type="audio/wav", headers=headers)
        return {**{k: v for k, v in out.items() if k not in ("midi", "wav")},
                "midi_base64": base64.b64encode(out["midi"]).decode("ascii"),
                "wav_base64": base64.b64encode(out["wav"]).decode("ascii"), "steps_per_quarter": spq}

    doc = ("Generate music from silence or continuing a primer (time steps of MIDI pitches): a MIDI file, "
           "a WAV file (our own small synthesiser), or JSON with the piano roll and both files in base64.")
    return ServeSpec([Operation("generate", doc, GenerateBody, items, generate, respond, batched=False)],
                     {"head": pipe.config.head, "steps_per_quarter": spq})
