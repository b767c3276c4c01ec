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

# Upper bounds every task config enforces (so a typo or a tampered pipeline.json cannot ask for
# terabytes): widths (units, embedding dimensions) up to MAX_WIDTH, stacked layers up to
# MAX_LAYERS, seeds up to MAX_SEED (what NumPy accepts), and models of at most MAX_PARAMETERS
# weights, estimated before anything is built (:func:`check_parameters`).
MAX_WIDTH = 65_536
MAX_LAYERS = 16
MAX_SEED = 2**32 - 1
MAX_EPOCHS = 1_000_000
MAX_BATCH_SIZE = 1_048_576
MAX_PARAMETERS = 1_000_000_000  # 4 GB of float32 weights, 16 GB with Adam's moments and gradients
# Generation: at most MAX_SAMPLES texts of MAX_SAMPLE_LENGTH tokens at once (charlm sample),
# MAX_STEPS time steps of music (about 14 hours at one step per quarter note, 120 bpm).
MAX_SAMPLES = 10_000
MAX_SAMPLE_LENGTH = 1_000_000
MAX_STEPS = 100_000


def check_upper_bounds(config, widths=(), layers=(), **others) -> None:
    """Refuse a config field above its bound: ``widths`` <= MAX_WIDTH, ``layers`` <= MAX_LAYERS,
    ``seed`` <= MAX_SEED, ``epochs`` <= MAX_EPOCHS, ``batch_size`` <= MAX_BATCH_SIZE, and each
    ``name=bound`` of ``others``. ``None`` values are not checked."""
    bounds = {**{n: MAX_WIDTH for n in widths}, **{n: MAX_LAYERS for n in layers},
              "seed": MAX_SEED, "epochs": MAX_EPOCHS, "batch_size": MAX_BATCH_SIZE, **others}
    for name, bound in bounds.items():
        value = getattr(config, name, None)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and value > bound:
            raise UserError(f"{name} must be <= {bound:,}, got {value!r}")
    seed = getattr(config, "seed", None)
    if isinstance(seed, int) and seed < 0:
        raise UserError(f"seed must be >= 0, got {seed!r}")


def recurrent_parameters(units: int, inputs: int, layers: int, directions: int = 1) -> int:
    """Upper estimate of a recurrent stack's weights (four gates, as an LSTM has)."""
    total = 0
    for layer in range(layers):
        width = inputs if layer == 0 else units * directions
        total += directions * 4 * units * (units + width + 2)
    return total


def check_parameters(count: int, what: str = "model") -> None:
    """Refuse to build a model of more than MAX_PARAMETERS weights, with the estimate."""
    if count > MAX_PARAMETERS:
        raise UserError(f"this {what} would have about {count:,} weights ({count * 4 / 2**30:,.1f} GiB as float32), "
                        f"more than the {MAX_PARAMETERS:,} allowed; use fewer units, layers or a smaller vocabulary")


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
