"""What a task offers over HTTP: its operations, written once per task like its export spec.

A task's :meth:`nlp_tasks.pipeline.Pipeline.serve_spec` returns a :class:`ServeSpec`: a list of
:class:`Operation` s, each served at ``POST /v1/models/{name}/{operation}``. An operation says

- ``body``: the request body, a pydantic model (types checked, unknown fields refused, shown at ``/docs``);
- ``items(body, limits)``: the units of work one request asks for (texts, token lists, one
  generation), checked against the server's :class:`Limits`; mistakes raise ``UserError``;
- ``run(items)``: one result per item, in the model's own worker thread. For a ``batched``
  operation the items of concurrent requests go through one ``run`` call
  (:mod:`nlp_tasks.serve.worker`), so ``run`` must treat each item on its own;
- ``respond(body, results)``: the request's results as JSON-able Python, or a Starlette
  ``Response`` (a MIDI file, say);
- ``warmup``: lists of items the worker runs once when the server starts, before any request,
  so that the first requests do not wait for TensorFlow to trace and compile the model's function
  (two batches of different shapes: ``reduce_retracing`` then traces for any shape);
- ``aliases``: former names of the operation, still served (marked deprecated at ``/docs``, with a
  ``Deprecation`` header and a ``Link`` to the new path) but not listed at ``/v1/models``.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

from nlp_tasks.config import Config, setting
from nlp_tasks.errors import UserError


@dataclasses.dataclass(frozen=True)
class Limits(Config):
    """What one request may ask of the server and how requests are batched: settings declared
    once (:func:`nlp_tasks.config.setting`), the ``nlp-tasks serve --max-...`` options of the
    same names and defaults. ``batching=False`` runs every request's items in a call of their own.

    The work of one request, which the size limits allow one by one but not all together (10,000
    samples of 2,000 tokens; 2,000 steps at 4 bpm are 8 hours of audio), is bounded so that a
    laptop answers within seconds: tokens through the model, samples (or beam hypotheses) x
    (prime + length), 50 samples of 2,000 tokens in one compiled loop; words x beam width x the
    model's longest output for a pronunciation request (g2p); and seconds of WAV audio
    for music, (primer + steps) / steps per quarter x 60 / tempo: 5 minutes are 13 MB (22,050 Hz,
    16 bits) and render in about a second even with every key sounding."""

    max_body_bytes: int = setting(1_000_000, "Largest request body.", low=1)
    max_texts: int = setting(256, "Texts (or token lists, or words to pronounce) in one request.", low=1)
    max_tokens: int = setting(20_000, "Tokens in one request, all its texts together.", low=1)
    max_length: int = setting(2_000, "Generated tokens (language model) or time steps (music) in one request.",
                              low=1)
    max_sample_tokens: int = setting(100_000, "Tokens one language-model sample request runs through the model: "
                                     "samples (or beam width) x (prime + length).", low=1)
    max_decode_tokens: int = setting(100_000, "Output tokens one pronunciation (g2p) request may decode: words x beam "
                                     "width x the model's longest output (max_output).", low=1)
    max_audio_seconds: int = setting(300, "Seconds of WAV audio one music request renders.", low=1)
    max_header_bytes: int = setting(65_536, "Request line and headers of one request (431 beyond).", low=1)
    max_batch: int = setting(64, "Texts in one model call when concurrent requests are batched.", low=1)
    batch_wait_ms: float = setting(5.0, "How long a batch waits for more requests.", low=0)
    batching: bool = setting(True, "Batch concurrent requests ('--no-batching': every request in a model call of "
                             "its own).", flag="--no-batching")


class OverLimit(UserError):
    """A request that asks more of the server than one of its :class:`Limits` allows: answered
    413, with the ``nlp-tasks serve`` option that raises the limit in the message."""

    status = 413


@dataclasses.dataclass
class Operation:
    """One HTTP operation of a served model (see the module docstring)."""

    name: str
    doc: str
    body: type
    items: Callable[[Any, Limits], list]
    run: Callable[[list], list]
    respond: Callable[[Any, list], Any]
    batched: bool = True
    warmup: tuple = ()
    aliases: tuple = ()


@dataclasses.dataclass
class ServeSpec:
    """A task's operations; ``info``: facts a client needs (labels, level, ...), shown at ``/v1/models``."""

    operations: list
    info: dict = dataclasses.field(default_factory=dict)


def texts_of(text, texts, limits: Limits, count_tokens: Callable[[str], int], one: str = "text",
             many: str = "texts", allow_empty: bool = False) -> list[str]:
    """The texts of a ``{"text": ...}`` or ``{"texts": [...]}`` body, within the limits on texts
    and tokens; ``one`` and ``many`` name the fields (``"word"``, ``"words"``). An empty or blank
    text is refused unless ``allow_empty`` (the task's API has a documented result for it, as
    NER's no entities and sentiment's ``"empty": true``: the server answers as the API does)."""
    if (text is None) == (texts is None):
        raise UserError(f"give either '{one}' (a string) or '{many}' (a list of strings)")
    found = [text] if texts is None else list(texts)
    if not found:
        raise UserError(f"'{many}' is empty: give at least one {one}")
    if len(found) > limits.max_texts:
        raise OverLimit(f"{len(found):,} {many} in one request, more than the limit of {limits.max_texts:,} "
                        "(--max-texts)")
    for i, item in enumerate(found, start=1):
        if not allow_empty and not item.strip():
            raise UserError(f"{one} is empty" if texts is None else f"{one} {i} is empty")
    check_tokens(sum(count_tokens(item) for item in found), limits)
    return found


def check_tokens(count: int, limits: Limits) -> None:
    if count > limits.max_tokens:
        raise OverLimit(f"the request has {count:,} tokens, more than the limit of {limits.max_tokens:,} "
                        "(--max-tokens)")


def check_range(name: str, value, low, high, option: str = "") -> None:
    """``low <= value <= high``, or a one-line error naming the field (and the server option that
    sets ``high``: a value above it is :class:`OverLimit`)."""
    if value is not None and not low <= value <= high:
        limit = f" ({option})" if option else ""
        error = OverLimit if option and value > high else UserError
        raise error(f"{name} must be from {low:,} to {high:,}{limit}, got {value!r}")


def one_or_many(body, results: list, many: str = "texts") -> Any:
    """A single ``text`` (or ``tokens``) gets its result; ``texts`` (the field ``many``) gets
    ``{"results": [...]}``."""
    return {"results": results} if getattr(body, many, None) is not None else results[0]
