"""Configs are dataclasses, saved as JSON beside the weights; defaults are never mutated.

Subclass :class:`Config` with typed fields and defaults; :meth:`Config.from_dict` rebuilds one
from JSON, refusing unknown keys and values of the wrong type with a :class:`UserError`, and
:meth:`Config.replace` returns a changed copy.

Each setting is declared once, with :func:`setting`: its default, a line of help, its range and
choices. That one declaration is checked when a config is made (:meth:`Config.check_settings`),
becomes the command-line option of the same name with the same default (:mod:`nlp_tasks.cli`)
and documents the field. The training settings every task shares are :class:`TrainSettings`;
a task config inherits them and may change a default with :func:`train_default`::

    @dataclasses.dataclass(frozen=True)
    class MusicConfig(TrainSettings):
        units: int = setting(256, "Recurrent units.", low=1, high=MAX_WIDTH)
        epochs: int = train_default("epochs", 200)
"""

from __future__ import annotations

import dataclasses
import math
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
# Generation: at most MAX_SAMPLES texts of MAX_SAMPLE_LENGTH tokens at once (charlm sample), and
# at most MAX_SAMPLE_TOKENS tokens in all (samples x length: each limit alone allows 10^10, 40 GB
# of token ids; 10^7 is 40 MB, e.g. 10,000 samples of 1,000 tokens), MAX_STEPS time steps of
# music (about 14 hours at one step per quarter note, 120 bpm).
MAX_SAMPLES = 10_000
MAX_SAMPLE_LENGTH = 1_000_000
MAX_SAMPLE_TOKENS = 10_000_000
MAX_STEPS = 100_000


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


CELLS = ("gru", "lstm", "rnn", "mingru")  # the recurrent cells of nlp_tasks.layers.recurrent


def setting(default, help: str, *, low=None, high=None, low_open: bool = False, high_open: bool = False,
            choices: tuple | None = None, none: str | None = None):
    """A config field: ``default``, one line of ``help``, the range ``low``..``high`` (open at
    either end with ``low_open``/``high_open``), the allowed ``choices``, and for a field that
    may be ``None`` what ``None`` means (``none="never stop early"``)."""
    meta = {"help": help, "low": low, "high": high, "low_open": low_open, "high_open": high_open,
            "choices": tuple(choices) if choices is not None else None, "none": none}
    return dataclasses.field(default=default, metadata=meta)


def train_default(name: str, default):
    """A task's own default for the :class:`TrainSettings` field ``name`` (same help and range)."""
    field = {f.name: f for f in dataclasses.fields(TrainSettings)}[name]
    return dataclasses.field(default=default, metadata=field.metadata)


def _number(value) -> str:
    return f"{value:,}" if isinstance(value, int) else f"{value:g}"


@dataclasses.dataclass(frozen=True)
class Config:
    """Base class for task configs: frozen, JSON-friendly fields only."""

    def __post_init__(self):
        self.check_settings()

    def check_settings(self) -> None:
        """Refuse a value outside its :func:`setting`'s choices or range, naming the field."""
        for field in dataclasses.fields(self):
            meta, value = field.metadata, getattr(self, field.name)
            if not meta or value is None or isinstance(value, bool):
                continue
            choices = meta.get("choices")
            if choices and value not in choices:
                raise UserError(f"{field.name} must be one of {', '.join(map(str, choices))}, got {value!r}")
            if not isinstance(value, (int, float)):
                continue
            low, high = meta.get("low"), meta.get("high")
            if not math.isfinite(value):
                raise UserError(f"{field.name} must be a finite number, got {value!r}")
            low_open, high_open = meta.get("low_open"), meta.get("high_open")
            too_low = low is not None and (value <= low if low_open else value < low)
            too_high = high is not None and (value >= high if high_open else value > high)
            if (too_low or too_high) and low is not None and high is not None and (low_open or high_open):
                interval = f"{'(' if low_open else '['}{_number(low)}, {_number(high)}{')' if high_open else ']'}"
                raise UserError(f"{field.name} must be in {interval}, got {value!r}")
            if too_low:
                raise UserError(f"{field.name} must be {'>' if low_open else '>='} {_number(low)}, got {value!r}")
            if too_high:
                raise UserError(f"{field.name} must be {'<' if high_open else '<='} {_number(high)}, got {value!r}")

    @classmethod
    def settings(cls) -> list[dataclasses.Field]:
        """The fields declared with :func:`setting` (every field of a task config)."""
        return [f for f in dataclasses.fields(cls) if f.metadata.get("help")]

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
        except UserError:
            raise  # a setting's own check already names the field
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


@dataclasses.dataclass(frozen=True)
class TrainSettings(Config):
    """What training does, for every task: a task config inherits these fields
    (:class:`nlp_tasks.training.TrainConfig` adds how progress is shown)."""

    epochs: int = setting(10, "Maximum number of passes over the training data.", low=1, high=MAX_EPOCHS)
    batch_size: int = setting(32, "Examples per training step (the global batch, split across replicas).",
                              low=1, high=MAX_BATCH_SIZE)
    learning_rate: float = setting(1e-3, "Adam's step size.", low=0, low_open=True)
    clipnorm: float | None = setting(5.0, "Clip the gradients to this global norm (exploding gradients).",
                                     low=0, low_open=True, none="no clipping")
    patience: int | None = setting(3, "Stop after this many epochs without a better validation figure.",
                                   low=0, none="never stop early")
    lr_decay: float | None = setting(None, "Multiply the learning rate by this when the validation figure stalls.",
                                     low=0, high=1, low_open=True, high_open=True, none="no decay")
    lr_patience: int = setting(1, "Epochs without a better validation figure before the learning rate decays.",
                               low=0)
    seed: int = setting(0, "Seeds Python, NumPy and TensorFlow.", low=0, high=MAX_SEED)
    deterministic: bool = setting(True, "TensorFlow op determinism: the same command gives the same weights.")

    def training(self, **output):
        """The :class:`nlp_tasks.training.TrainConfig` of these settings (``output``: ``verbose``)."""
        from nlp_tasks.training import TrainConfig

        names = [f.name for f in dataclasses.fields(TrainSettings)]
        return TrainConfig(**{name: getattr(self, name) for name in names}, **output)
