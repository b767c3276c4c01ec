"""Request bodies and helpers that every task's HTTP operations share (``nlp-tasks serve``).

A task's ``serve.py`` builds its :class:`nlp_tasks.serve.spec.ServeSpec` from these: request
bodies are pydantic models with strict types and no unknown fields (``{"text": 3}`` or
``{"temprature": 1}`` is refused, not guessed at), every text of which is valid Unicode
(:class:`Body`); :func:`text_operation` is the batched operation over ``{"text"}`` or
``{"texts"}``; :func:`draw_seed` the "no seed given: draw one and return it" of every generation.
"""

from __future__ import annotations

import secrets
from typing import Optional

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_core import PydanticCustomError

from nlp_tasks.config import MAX_SEED
from nlp_tasks.serve.spec import Operation, check_range, one_or_many, texts_of


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


WARMUP = (["Warm up ."], ["A second , longer warm-up text .", "Two ."])  # two shapes (spec.Operation.warmup)


def text_operation(name: str, doc: str, body: type, count_tokens, run, respond=one_or_many, warmup=()) -> Operation:
    return Operation(name, doc, body, lambda b, limits: texts_of(b.text, b.texts, limits, count_tokens), run, respond,
                     warmup=warmup)


def draw_seed(seed):
    """``seed``, checked, or a fresh one when it is None (returned to the client with the result)."""
    check_range("seed", seed, 0, MAX_SEED)
    return secrets.randbelow(2**31) if seed is None else seed
