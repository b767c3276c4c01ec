"""Request bodies and helpers that every task's HTTP operations share (``nlp-tasks serve``).

A task's ``serve.py`` builds its :class:`nlp_tasks.serve.spec.ServeSpec` from these: request
bodies are pydantic models with strict types and no unknown fields (``{"text": 3}`` or
``{"temprature": 1}`` is refused, not guessed at), every text of which is valid Unicode
(:class:`Body`); :func:`text_operation` is the batched operation over ``{"text"}`` or
``{"texts"}``; :func:`settings_body` a body made from a settings class
(:func:`nlp_tasks.config.setting`: the same names, defaults and help as the CLI's options), and
:func:`settings_of` the settings of such a body (a generation's seed is drawn by their
``resolved()``).
"""

from __future__ import annotations

import dataclasses
import typing
from typing import Optional

from pydantic import BaseModel, ConfigDict, Field, create_model, field_validator
from pydantic_core import PydanticCustomError

from nlp_tasks.serve.spec import Operation, one_or_many, texts_of


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


def text_operation(name: str, doc: str, body: type, count_tokens, run, respond=one_or_many, warmup=(),
                   allow_empty: bool = False) -> Operation:
    return Operation(name, doc, body,
                     lambda b, limits: texts_of(b.text, b.texts, limits, count_tokens, allow_empty=allow_empty),
                     run, respond, warmup=warmup)


def settings_body(name: str, settings_class, base: type = Body, doc: str = "", exclude=(), **extra) -> type:
    """A request body (pydantic, strict, no unknown fields) with one field per setting of
    ``settings_class`` but those in ``exclude``, its default and help as declared once
    (:func:`nlp_tasks.config.setting`), and the ``extra`` fields (``prime=(str, Field(...))``).
    The values' ranges are the settings' own: build the settings from the body (:func:`settings_of`)."""
    hints = typing.get_type_hints(settings_class)
    fields = {f.name: (hints[f.name], Field(f.default, description=_describe(f)))
              for f in settings_class.settings() if f.name not in exclude}
    return create_model(name, __base__=base, __doc__=doc or settings_class.__doc__, **extra, **fields)


def _describe(field) -> str:
    meta = field.metadata
    return meta["help"] + (f" (none: {meta['none']})" if meta.get("none") else "")


def settings_of(settings_class, body):
    """The ``settings_class`` of a body made by :func:`settings_body` (checked: a ``UserError``)."""
    names = {f.name for f in dataclasses.fields(settings_class)}
    return settings_class(**{k: v for k, v in body.model_dump().items() if k in names})
