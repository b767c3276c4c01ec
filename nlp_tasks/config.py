"""Configs are dataclasses, saved as JSON beside the weights; defaults are never mutated.

Subclass :class:`Config` with typed fields and defaults; :meth:`Config.from_dict` rebuilds one
from JSON, refusing unknown keys and values of the wrong type with a :class:`UserError`, and
:meth:`Config.replace` returns a changed copy.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any

from nlp_tasks.errors import UserError


@dataclasses.dataclass(frozen=True)
class Config:
    """Base class for task configs: frozen, JSON-friendly fields only."""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def replace(self, **changes) -> Config:
        """A copy with some fields changed (checked like :meth:`from_dict`)."""
        return type(self).from_dict({**self.to_dict(), **changes})

    @classmethod
    def from_dict(cls, data: object, source: str = "config") -> Config:
        if not isinstance(data, dict):
            raise UserError(f"{source}: expected a JSON object for {cls.__name__}")
        fields = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - set(fields))
        if unknown:
            raise UserError(f"{source}: unknown {cls.__name__} field(s): {', '.join(unknown)}")
        hints = typing.get_type_hints(cls)
        values = {}
        for name, value in data.items():
            values[name] = _coerce(value, hints[name], f"{source}: {name}")
        try:
            return cls(**values)
        except (TypeError, ValueError) as err:
            raise UserError(f"{source}: {err}") from None


def _coerce(value, hint, where):
    """Check ``value`` against a simple type hint; JSON lists become tuples for tuple fields."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        for option in typing.get_args(hint):
            try:
                return _coerce(value, option, where)
            except UserError:
                continue
        raise UserError(f"{where} has the wrong type ({value!r})")
    if hint is type(None):
        if value is None:
            return None
        raise UserError(f"{where} must be null")
    if origin in (tuple, list):
        if not isinstance(value, (list, tuple)):
            raise UserError(f"{where} must be a list, got {value!r}")
        args = [a for a in typing.get_args(hint) if a is not Ellipsis]
        item = args[0] if args else Any
        items = [_coerce(v, item, where) for v in value]
        return tuple(items) if origin is tuple else items
    if origin is dict or hint is dict:
        if not isinstance(value, dict):
            raise UserError(f"{where} must be an object, got {value!r}")
        return dict(value)
    if hint is Any:
        return value
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if hint in (int, float) and isinstance(value, bool):
        raise UserError(f"{where} must be a number, got {value!r}")
    if isinstance(hint, type) and not isinstance(value, hint):
        raise UserError(f"{where} must be {hint.__name__}, got {value!r}")
    return value
